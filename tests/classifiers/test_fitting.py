"""Training in a child process (`classifiers.fitting`): what comes back, how it fails, when it ends."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from classifiers.compact import loads
from classifiers.data import Example
from classifiers.errors import TrainingFailed
from classifiers.fitting import REQUEST_FILE, RESULT_FILE, ExampleFile, fit_in_child
from classifiers.train import train
from tests.classifiers.conftest import REPO, synthetic_examples


def _csv(path: Path, examples: list[Example]) -> ExampleFile:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows((e.text, e.label) for e in examples)
    return ExampleFile(path=str(path), text_col="text")


def _child(folder: Path, source: ExampleFile) -> subprocess.Popen[str]:
    request = {"source": asdict(source), "params": None, "n_jobs": 1}
    (folder / REQUEST_FILE).write_text(json.dumps(request))
    return subprocess.Popen(
        [sys.executable, "-m", "classifiers.fitting", str(folder)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_a_model_trained_in_the_child_comes_back_checked_with_its_compact_form(tmp_path: Path) -> None:
    examples = synthetic_examples(per_area=12)
    stages: list[tuple[str, float]] = []
    fitted = await fit_in_child(_csv(tmp_path / "labelled.csv", examples), progress=lambda s, f: stages.append((s, f)))
    assert fitted.checked_sha256 == hashlib.sha256(fitted.artifact).hexdigest() == fitted.meta["sha256"]
    assert fitted.classes == sorted({e.label for e in examples}) and fitted.n_examples == len(examples)
    # The same model as training here, one fit at a time (bit-for-bit reproducible for a seed).
    here = train(examples, n_jobs=1)
    assert fitted.metrics == json.loads(json.dumps(here.metrics)) and fitted.threshold == here.threshold
    assert stages and stages[-1] == ("trained", 1.0)
    assert [f for _, f in stages] == sorted(f for _, f in stages)
    assert fitted.compact is not None
    compact = loads(fitted.compact)
    texts = [e.text for e in examples]
    assert np.array_equal(compact.predict_proba(texts), here.pipeline.predict_proba(texts))


async def test_a_failed_training_raises_the_childs_one_line_reason(tmp_path: Path) -> None:
    one_area = [Example(text=f"my invoice {i}", label="billing") for i in range(20)]
    with pytest.raises(TrainingFailed) as failed:
        await fit_in_child(_csv(tmp_path / "labelled.csv", one_area))
    only = "every example has the label 'billing'; a router needs at least two areas"
    assert str(failed.value) == f"training failed: {tmp_path / 'labelled.csv'}: {only}"


def test_the_child_exits_with_status_1_and_one_line_on_stderr_when_training_fails(tmp_path: Path) -> None:
    # Two areas, too few examples each: the file reads, training itself refuses.
    few = [Example(text=f"{label} question {i}", label=label) for label in ("billing", "payouts") for i in range(3)]
    child = _child(tmp_path, _csv(tmp_path / "labelled.csv", few))
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    err = child.stderr.read()  # stdin stays open: the child must end by itself
    assert child.wait(timeout=120) == 1
    for stream in (child.stdin, child.stdout, child.stderr):
        stream.close()
    assert len(err.splitlines()) == 1
    assert (
        err == "training failed: each area needs at least 5 labelled examples; too few: 'billing' (3), 'payouts' (3)\n"
    )
    assert not (tmp_path / RESULT_FILE).exists()


def test_the_child_ends_when_its_parent_closes_its_stdin(tmp_path: Path) -> None:
    # The kernel closes the pipe however the parent ends (kill -9 too); here the parent closes it itself.
    child = _child(tmp_path, _csv(tmp_path / "labelled.csv", synthetic_examples(per_area=12)))
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    child.stdin.close()
    assert child.wait(timeout=60) == 1
    child.stdout.close()
    child.stderr.close()
    assert not (tmp_path / RESULT_FILE).exists()  # it ended before training could finish
