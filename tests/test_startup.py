"""What `routedesk poll` loads to start: scikit-learn, SciPy and skops cost seconds and ~115 MB, and a
poll routing with a model needs none of them (the router serves the model's NumPy-only compact form)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.db import unit_of_work
from app.demo.corpus import demo_mailbox, labelled_examples
from app.routing import training
from app.runtime import Runtime
from app.tickets.models import Ticket
from classifiers.data import Example
from tests.inbox.test_poller import _cli_env, add_mailbox

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("sklearn", "scipy", "skops")


def _imported(importtime_log: str) -> set[str]:
    """Top-level packages named in a `python -X importtime` log, of every process that wrote to it."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


async def test_a_poll_routing_with_a_model_never_imports_scikit_learn(runtime: Runtime, imap_server: Any) -> None:
    model = training.fit([Example(text=e.text, label=e.label) for e in labelled_examples(240, seed=5)])
    async with unit_of_work(runtime.sessionmaker) as session:
        row = await training.register(session, model, source="test")
        await training.activate(session, row.version)
    for raw in demo_mailbox(1):
        await imap_server.append(raw)
    await add_mailbox(runtime, imap_server.endpoint)
    # -X importtime reaches the parse worker processes too: multiprocessing passes -X options on.
    env = _cli_env(runtime.settings, ROUTEDESK_INGEST__PARSE_WORKERS="1")
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
    async with unit_of_work(runtime.sessionmaker) as session:
        [ticket] = (await session.scalars(select(Ticket))).all()
    assert ticket.model_version == row.version  # the model routed it
    imported = _imported(done.stderr)
    assert "app" in imported and "numpy" in imported  # the log is complete: the compact model's NumPy is in it
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))
