"""Routing with a model's compact form (classifiers/compact.py): the demo's model routes exactly as
its scikit-learn pipeline does, and a poll that routes with it stays small and never imports
scikit-learn: those two run the real `poll --once`, since its memory and its imports are the point."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from app.db import unit_of_work
from app.demo.corpus import demo_mailbox, labelled_examples
from app.routing import training
from app.routing.service import Router, RouteRequest
from app.runtime import Runtime
from app.tickets.models import Ticket
from classifiers.data import Example
from classifiers.predict import predict, predict_proba
from classifiers.train import TrainedModel
from tests.cli import REPO, routedesk_env
from tests.inbox.test_poller import add_mailbox

LIMIT_MB = 250


@pytest.fixture(scope="module")
def demo_model() -> TrainedModel:
    """The model `routedesk demo` trains: the project's labelled demo set, default parameters."""
    examples = [Example(text=e.text, label=e.label) for e in labelled_examples()]
    return training.fit(examples)


def _texts() -> list[str]:
    texts = [e.text for e in labelled_examples(400, seed=99)]
    # Odd inputs as mail brings them: nothing, only spaces, other scripts, control characters.
    return [*texts, "", "   \t\n ", "Überweisung fehlgeschlagen ÄÖÜ ß", "退款 请求", "a\x00b card", "x" * 5000]


def test_the_compact_form_routes_the_demo_set_exactly_as_the_pipeline(demo_model: TrainedModel) -> None:
    from classifiers.compact import compile_pipeline, dumps, loads, top_labels
    from classifiers.predict import BULK_FROM

    pipeline = demo_model.pipeline
    compact = loads(dumps(compile_pipeline(pipeline, artifact_sha256="0" * 64)))  # type: ignore[arg-type]
    texts = _texts()
    assert len(texts) >= BULK_FROM
    for batch in (texts, texts[: BULK_FROM - 1], texts[-6:], texts[:1]):
        ours = compact.predict_proba(batch)
        # predict.py's fast path (what served until now), bit for bit, and scikit-learn itself.
        assert np.array_equal(ours, predict_proba(pipeline, batch))
        assert np.allclose(ours, pipeline.predict_proba(batch), rtol=0, atol=1e-12)
        assert top_labels(ours, compact.classes) == [
            (p.label, p.probability) for p in predict(pipeline, batch, top_k=1)
        ]


async def test_the_router_serves_the_compact_form_with_the_same_decisions(
    runtime: Runtime, demo_model: TrainedModel
) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        row = await training.register(session, demo_model, source="test")
        await training.activate(session, row.version, create_areas=True)
    router = Router()
    async with unit_of_work(runtime.sessionmaker) as session:
        await router.refresh(session, force=True)
    snapshot = router._snapshot.model
    # Served from the compact form: no scikit-learn pipeline was loaded.
    assert snapshot is not None and getattr(snapshot, "compact", None) is not None and snapshot.pipeline is None
    requests = [RouteRequest(text=t, sender=None) for t in _texts()]
    decisions = router.decide(requests)
    expected = predict(demo_model.pipeline, [r.text for r in requests], top_k=1)
    assert [(d.probability, d.model_version) for d in decisions] == [(p.probability, row.version) for p in expected]
    assert {d.routed_by for d in decisions} <= {"model", "fallback"} and "model" in {d.routed_by for d in decisions}


def _peaks_kb(root: int, peaks: dict[int, int]) -> None:
    """Record the peak RSS (VmHWM) of `root` and of every descendant into `peaks` (pid -> kB)."""
    pending = [root]
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/status") as status:
                hwm = next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), None)
            tasks = os.listdir(f"/proc/{pid}/task")
        except (FileNotFoundError, ProcessLookupError):
            continue
        # The latest reading, not the largest: VmHWM only grows within one program, and a reading
        # taken between fork and exec counts this test's pages, which the child only shares.
        if hwm is not None:  # absent once the process is exiting
            peaks[pid] = hwm
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as handle:
                    pending.extend(int(c) for c in handle.read().split())
            except FileNotFoundError:
                continue


def _poll_measured(env: dict[str, str]) -> tuple[int, float, float, bytes]:
    """Run `poll --once`: (exit code, its own peak RSS in MB, the sum of the peaks of it and every
    process it started, in MB, stderr). Peaks are the kernel's VmHWM of each process, read from
    /proc until it exits (ru_maxrss would count the pages of this test process, which the child
    shares between fork and exec)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "poll", "--once"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peaks: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            _peaks_kb(proc.pid, peaks)
            done.wait(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stderr is not None
    err = proc.stderr.read()
    done.set()
    sampler.join()
    proc.stderr.close()
    code = proc.wait()
    return code, peaks.get(proc.pid, 0) / 1024, sum(peaks.values()) / 1024, err


async def _one_mail_to_route(runtime: Runtime, imap_server: Any, model: TrainedModel) -> tuple[str, dict[str, str]]:
    """Activates `model`, puts one mail in a mailbox; returns the model's version and the environment
    of a `routedesk` command on this test's database."""
    async with unit_of_work(runtime.sessionmaker) as session:
        row = await training.register(session, model, source="test")
        await training.activate(session, row.version, create_areas=True)
    for raw in demo_mailbox(1):
        await imap_server.append(raw)
    await add_mailbox(runtime, imap_server.endpoint)
    return row.version, routedesk_env(
        runtime.settings, ROUTEDESK_LOG_LEVEL="warning", ROUTEDESK_INGEST__PARSE_WORKERS="1"
    )


async def _routed_by(runtime: Runtime) -> str | None:
    async with unit_of_work(runtime.sessionmaker) as session:
        [ticket] = (await session.scalars(select(Ticket))).all()
    return ticket.model_version


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")
async def test_a_poll_routing_with_the_demo_model_stays_under_250_mb(
    runtime: Runtime, imap_server: Any, demo_model: TrainedModel
) -> None:
    version, env = await _one_mail_to_route(runtime, imap_server, demo_model)
    code, own_mb, tree_mb, err = await asyncio.to_thread(_poll_measured, env)
    assert code == 0, err.decode()
    assert await _routed_by(runtime) == version  # the model routed it
    print(f"poll --once with the demo model: {own_mb:.0f} MB (process), {tree_mb:.0f} MB (process tree)")
    assert tree_mb < LIMIT_MB


def _imported(importtime_log: str) -> set[str]:
    """Top-level packages named in a `python -X importtime` log, of every process that wrote to it."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


async def test_a_poll_routing_with_the_demo_model_never_imports_scikit_learn(
    runtime: Runtime, imap_server: Any, demo_model: TrainedModel
) -> None:
    # scikit-learn, SciPy and skops cost seconds and ~115 MB at start-up; the compact form needs none.
    version, env = await _one_mail_to_route(runtime, imap_server, demo_model)
    # -X importtime reaches the parse worker processes too: multiprocessing passes -X options on.
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-X", "importtime", "-m", "app.cli", "poll", "--once"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert await _routed_by(runtime) == version  # the model routed it
    imported = _imported(done.stderr)
    assert {"app", "numpy"} <= imported  # the log is complete: the compact form's NumPy is in it
    assert imported.isdisjoint({"sklearn", "scipy", "skops"}), sorted(imported & {"sklearn", "scipy", "skops"})
