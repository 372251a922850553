"""`run`, `serve` and `worker` say where the API listens and which mailboxes they poll, and that they
stopped cleanly after SIGTERM: the real processes, since signals and their exit are the point."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app.config import Settings
from app.db import unit_of_work
from app.inbox import mailboxes
from app.mail.imap import parse_imap_url
from app.ports import free_port
from app.runtime import open_runtime
from tests.cli import REPO, cli_env

LISTENING = "listening on http://127.0.0.1:{port}"
POLLING = "polling mailboxes: support, billing"


async def _add_mailboxes(database_url: str, data_dir: Path) -> None:
    settings = Settings(database_url=database_url, data_dir=data_dir)
    async with open_runtime(settings) as runtime, unit_of_work(runtime.sessionmaker) as session:
        for name in ("support", "billing"):
            # Nothing listens there: the worker keeps retrying, which is all this test needs of it.
            endpoint = parse_imap_url(f"imap://{name}:pw@127.0.0.1:1/INBOX")
            await mailboxes.add_mailbox(session, name=name, endpoint=endpoint, secrets=runtime.secrets)


@pytest.mark.parametrize(
    ("command", "expected"),
    [("run", [LISTENING, POLLING]), ("serve", [LISTENING]), ("worker", [POLLING])],
)
async def test_process_says_where_it_listens_what_it_polls_and_that_it_stopped(
    command: str, expected: list[str], sqlite_url: str, tmp_path: Path
) -> None:
    await _add_mailboxes(sqlite_url, tmp_path / "data")
    port = free_port()
    args = [command] if command == "worker" else [command, "--port", str(port)]
    errors = tmp_path / "stderr.txt"
    with (
        errors.open("w") as stderr,
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            cwd=REPO,
            env=cli_env(sqlite_url, tmp_path / "data", ROUTEDESK_LOG_LEVEL="warning"),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as process,
    ):
        stdout = process.stdout
        assert stdout is not None
        lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            for line in stdout:
                lines.put(line.rstrip("\n"))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            wanted = [e.format(port=port) for e in expected]
            seen: list[str] = []
            while not all(w in seen for w in wanted):
                seen.append(lines.get(timeout=120))
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=120) == 0, errors.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        reader.join(timeout=30)
    while not lines.empty():
        seen.append(lines.get())
    assert seen[-1] == "stopped cleanly", seen
    assert all(w in seen for w in wanted), seen
    if command == "serve":
        assert not any(line.startswith("polling") for line in seen), seen
