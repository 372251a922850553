"""A trained model as the parts a stored version is made of (artifact, metadata, compact form, figures),
made in this process (`package`) or in a child process (`fit_in_child`).

The child is `python -m classifiers.fitting` (started, not forked): scikit-learn, SciPy and skops, and
the memory training takes, live and die there, and the process that asked never imports them. It
reads labelled examples from a file, trains, writes the artifact, loads it back with every check,
builds the compact form, and ends. It reports progress as JSON lines on stdout; a failure is one
line on stderr and exit status 1. It ends when its parent does: its stdin is a pipe only the parent
holds, and a thread exits the child when that pipe closes (the kernel closes it however the parent
ended, kill -9 included).

This module imports neither scikit-learn nor skops at import time: the parent imports it too."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import hashlib
import json
import os
import signal
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifiers.errors import TrainingFailed
from classifiers.progress import Progress

if TYPE_CHECKING:
    from classifiers.train import TrainedModel

MODEL_DIR = "model"
COMPACT_FILE = "compact.npz"
REQUEST_FILE = "request.json"
RESULT_FILE = "result.json"


@dataclass(frozen=True, slots=True)
class Fitted:
    """What a model version stores, and the figures it is registered with."""

    version: str
    artifact: bytes
    meta: dict[str, Any]
    compact: bytes | None
    metrics: dict[str, Any]
    classes: list[str]
    threshold: float
    n_examples: int
    fingerprint: str
    # The sha256 of the artifact when the process that made it loaded it back with every check
    # (checksum, library versions, the skops allow-list); None when nobody did.
    checked_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class ExampleFile:
    """Labelled examples in a file, read in the child with `classifiers.data.load_examples`."""

    path: str
    text_col: str | None = None
    subject_col: str | None = None
    body_col: str | None = None
    label_col: str = "label"


def package(model: TrainedModel, *, check: bool = False) -> Fitted:
    """The version's parts of a model trained in this process."""
    with tempfile.TemporaryDirectory() as scratch:
        _write(model, Path(scratch), check=check)
        return _read(Path(scratch))


async def fit_in_child(
    source: ExampleFile,
    *,
    params: dict[str, Any] | None = None,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> Fitted:
    """Train on `source` in a child process and return the checked parts. Raises TrainingFailed with
    the child's one-line reason. Cancelled, it kills the child and waits for it."""
    with tempfile.TemporaryDirectory(prefix="routedesk-training-") as scratch:
        folder = Path(scratch)
        request = {"source": asdict(source), "params": params, "n_jobs": n_jobs}
        (folder / REQUEST_FILE).write_text(json.dumps(request), encoding="utf-8")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "classifiers.fitting",
            str(folder),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _out, err = await asyncio.gather(_follow(proc.stdout, progress), _drain(proc.stderr))
            code = await proc.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
        if code != 0:
            raise TrainingFailed(_reason(code, err))
        return await asyncio.to_thread(_read, folder)


async def _follow(stream: asyncio.StreamReader | None, progress: Progress | None) -> None:
    assert stream is not None
    async for line in stream:
        if progress is not None:
            try:
                update = json.loads(line)
                stage, fraction = str(update["stage"]), float(update["fraction"])
            except (ValueError, KeyError, TypeError):
                continue  # not a progress line
            progress(stage, fraction)


async def _drain(stream: asyncio.StreamReader | None) -> bytes:
    assert stream is not None
    return await stream.read()


def _reason(code: int, err: bytes) -> str:
    lines = [line.strip() for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the training process was ended by {name}" + (f" ({lines[-1]})" if lines else "")
    return lines[-1] if lines else f"the training process exited with status {code}"


def _write(model: TrainedModel, folder: Path, *, check: bool) -> None:
    from classifiers.artifacts import METADATA_FILE, MODEL_FILE, load_model, save_model
    from classifiers.compact import compile_pipeline, dumps

    metadata = save_model(model, folder / MODEL_DIR)
    checked = None
    if check:
        checked = load_model(folder / MODEL_DIR).metadata.sha256
    compact = compile_pipeline(model.pipeline, artifact_sha256=metadata.sha256)
    if compact is not None:
        (folder / COMPACT_FILE).write_bytes(dumps(compact))
    result = {
        "metrics": model.metrics,
        "classes": list(model.classes),
        "threshold": float(model.threshold),
        "n_examples": model.n_examples,
        "fingerprint": model.fingerprint,
        "checked_sha256": checked,
        # Paths inside `folder`, so that the reader needs nothing of artifacts.py (nor scikit-learn).
        "artifact": f"{MODEL_DIR}/{MODEL_FILE}",
        "metadata": f"{MODEL_DIR}/{METADATA_FILE}",
    }
    (folder / RESULT_FILE).write_text(json.dumps(result), encoding="utf-8")


def _read(folder: Path) -> Fitted:
    result = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
    meta = json.loads((folder / result["metadata"]).read_text(encoding="utf-8"))
    artifact = (folder / result["artifact"]).read_bytes()
    compact = (folder / COMPACT_FILE).read_bytes() if (folder / COMPACT_FILE).exists() else None
    checked = result["checked_sha256"]
    return Fitted(
        version=str(meta["version"]),
        artifact=artifact,
        meta=meta,
        compact=compact,
        metrics=result["metrics"],
        classes=[str(c) for c in result["classes"]],
        threshold=float(result["threshold"]),
        n_examples=int(result["n_examples"]),
        fingerprint=str(result["fingerprint"]),
        # Only if the bytes read are the ones that were checked.
        checked_sha256=checked if checked == hashlib.sha256(artifact).hexdigest() else None,
    )


def _exit_with_parent() -> None:
    def watch() -> None:
        # The raw descriptor, not sys.stdin: a daemon thread inside a buffered read aborts the
        # interpreter's shutdown. An empty read is EOF: the parent closed the pipe, or is gone.
        while os.read(0, 4096):
            pass
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _return_freed_memory() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: the memory stays reusable here
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def main(argv: list[str]) -> int:
    # Ctrl-C reaches the whole process group; the parent decides, and kills the child if it must.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    protocol = sys.stdout
    sys.stdout = sys.stderr  # anything else printed (logs, warnings) stays off the progress lines

    def report(stage: str, fraction: float) -> None:
        protocol.write(json.dumps({"stage": stage, "fraction": fraction}) + "\n")
        protocol.flush()

    try:
        (folder,) = argv
        request = json.loads((Path(folder) / REQUEST_FILE).read_text(encoding="utf-8"))
        from classifiers.data import load_examples

        source = request["source"]
        examples = load_examples(
            Path(source["path"]),
            text_col=source["text_col"],
            subject_col=source["subject_col"],
            body_col=source["body_col"],
            label_col=source["label_col"],
        )
        from classifiers.train import train  # after the examples: a bad file fails without loading it

        model = train(examples, params=request["params"], n_jobs=int(request["n_jobs"]), progress=report)
        del examples
        # What training freed goes back to the system before skops writes and reads the artifact.
        _return_freed_memory()
        _write(model, Path(folder), check=True)
    except Exception as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        print(f"training failed: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
