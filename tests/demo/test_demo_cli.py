"""`routedesk demo --no-serve` run as a user runs it: the real process, started in an empty working
directory (what it leaves there, its kill -9 and Ctrl-C, its training child are the point)."""

from __future__ import annotations

import asyncio
import email
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from app.config import Settings
from app.demo import prepare
from app.errors import InvalidInput
from tests.cli import REPO, clean_env
from tests.inbox.test_poller_processes import _command_line, descendants, still_running, until


@dataclass(frozen=True)
class DemoRun:
    cwd: Path
    data_dir: Path
    stdout: str


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    root = tmp_path_factory.mktemp("demo")
    cwd, data_dir = root / "cwd", root / "data"
    cwd.mkdir()
    env = clean_env(ROUTEDESK_DATA_DIR=str(data_dir), ROUTEDESK_LOG_LEVEL="warning", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--no-serve", "--messages", "30"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return DemoRun(cwd=cwd, data_dir=data_dir, stdout=proc.stdout)


def test_the_demo_leaves_its_working_directory_empty_and_keeps_its_files_in_the_data_dir(demo_run: DemoRun) -> None:
    home = demo_run.data_dir / "demo"
    assert list(demo_run.cwd.iterdir()) == []
    assert (home / "routedesk.db").is_file() and (home / "labelled.csv").is_file()
    assert demo_run.stdout.splitlines()[0] == f"demo files (database, labelled set, sent mail) in {home.resolve()}"


def test_the_demo_writes_every_acknowledgement_it_sent_as_an_eml_file_and_says_where(demo_run: DemoRun) -> None:
    home = (demo_run.data_dir / "demo").resolve()
    with sqlite3.connect(home / "routedesk.db") as db:
        sent = db.execute("SELECT raw FROM outbox WHERE status = 'sent' AND kind = 'acknowledgement'").fetchall()
        references = {r for (r,) in db.execute("SELECT reference FROM ticket")}
    files = sorted((home / "sent").glob("*.eml"))
    assert len(sent) > 0 and len(files) == len(sent)
    parsed = [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    stored = [email.message_from_bytes(raw, policy=policy.default) for (raw,) in sent]
    assert {m["Message-ID"] for m in parsed} == {m["Message-ID"] for m in stored}
    for message in parsed:
        assert isinstance(message, EmailMessage)
        assert message["From"].addresses[0].addr_spec == "support@example.com"
        assert any(f"[{reference}]" in message["Subject"] for reference in references)
        body = message.get_body(preferencelist=("plain",))
        assert body is not None and "Thank you for writing to us" in body.get_content()
    assert f"the mail it sent, one .eml file each (replies sent later land there too): {home / 'sent'}" in (
        demo_run.stdout
    )


def test_the_demo_refuses_to_wipe_a_folder_it_did_not_make(tmp_path: Path) -> None:
    home = tmp_path / "data" / "demo"
    home.mkdir(parents=True)
    (home / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInput, match="not made by the demo"):
        prepare.demo_settings(Settings(data_dir=tmp_path / "data"))
    assert (home / "notes.txt").read_text() == "mine"


def _start_demo(root: Path) -> subprocess.Popen[str]:
    cwd = root / "cwd"
    cwd.mkdir()
    env = clean_env(ROUTEDESK_DATA_DIR=str(root / "data"), ROUTEDESK_LOG_LEVEL="warning", PYTHONPATH=str(REPO))
    # Ctrl-C as in a terminal: a command started in the background by a non-interactive shell (`.ci/run
    # &`, nohup) inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler at all;
    # the demo is started with SIGINT at its default again (exec keeps that, the pid stays the demo's).
    restore = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "os.execv(sys.executable, [sys.executable, '-m', 'app.cli', *sys.argv[1:]])"
    )
    return subprocess.Popen(
        [sys.executable, "-c", restore, "demo", "--no-serve", "--messages", "5"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _training_process(demo_process: subprocess.Popen[str]) -> dict[int, int]:
    """The demo's training child, once it runs (pid -> start time)."""
    found: dict[int, int] = {}

    async def training() -> bool:
        nonlocal found
        assert demo_process.poll() is None, "the demo ended before its training process was seen"
        found = {p: t for p, t in descendants(demo_process.pid).items() if "classifiers.fitting" in _command_line(p)}
        return bool(found)

    await until(training, 60, "the demo starts its training process")
    return found


def _stop(demo_process: subprocess.Popen[str]) -> tuple[str, str]:
    if demo_process.poll() is None:
        demo_process.kill()
    return demo_process.communicate(timeout=60)


async def test_a_kill_9_of_the_demo_while_it_trains_ends_its_training_process(tmp_path: Path) -> None:
    proc = _start_demo(tmp_path)
    try:
        child = await _training_process(proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        await asyncio.to_thread(_stop, proc)

    async def gone() -> bool:
        return not still_running(child)

    await until(gone, 15, "the training process ends with the demo that started it")


async def test_ctrl_c_of_the_demo_while_it_trains_ends_its_training_process_before_the_demo_exits(
    tmp_path: Path,
) -> None:
    # The Ctrl-C must land while the training runs. On a loaded machine the training sometimes ended
    # between being seen and the signal (the demo then says "trained on ..." and goes on to its poll):
    # that try tested nothing, and the test tries again, at most three times.
    for attempt in range(3):
        root = tmp_path / f"try{attempt}"
        root.mkdir()
        proc = _start_demo(root)
        try:
            child = await _training_process(proc)
            proc.send_signal(signal.SIGINT)
            await asyncio.to_thread(proc.wait, 60)
        finally:
            out, _err = await asyncio.to_thread(_stop, proc)
        if "trained on" in out:
            continue
        assert proc.returncode != 0
        assert still_running(child) == {}
        return
    raise AssertionError("in three tries the training ended before the Ctrl-C reached the demo")


async def test_the_demo_says_in_one_line_that_training_failed_when_its_training_process_dies(tmp_path: Path) -> None:
    proc = _start_demo(tmp_path)
    try:
        child = await _training_process(proc)
        for pid in child:
            os.kill(pid, signal.SIGKILL)
        _out, err = await asyncio.to_thread(proc.communicate, timeout=60)
    finally:
        await asyncio.to_thread(_stop, proc)
    assert proc.returncode == 1
    assert err.splitlines() == ["error: the demo could not train its router: the training process was ended by SIGKILL"]
