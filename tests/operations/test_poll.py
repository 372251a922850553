"""`poll --once` while another worker holds a mailbox's lease: the mailbox is being polled, which is no
failure of the command (exit 0, its JSON line); with --wait it waits for the lease, then polls. The
command runs in-process (tests/cli.py): what it prints and its exit code are the point; the real
`poll --once` process is tests/inbox/test_poller*.py's."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.config import Settings
from app.db import unit_of_work, utcnow
from app.inbox import mailboxes, repository
from app.runtime import open_runtime
from tests.cli import cli_env, invoke_env_async
from tests.mailgen import mail


async def _hold_lease(database_url: str, data_dir: Path, imap_server: Any, *, seconds: float) -> None:
    """Adds the mailbox and takes its lease for another worker for `seconds`."""
    async with open_runtime(Settings(database_url=database_url, data_dir=data_dir)) as runtime:
        async with unit_of_work(runtime.sessionmaker) as session:
            row = await mailboxes.add_mailbox(
                session, name="support", endpoint=imap_server.endpoint, secrets=runtime.secrets
            )
        async with unit_of_work(runtime.sessionmaker) as session:
            now = utcnow()
            until = now + timedelta(seconds=seconds)
            assert await repository.take_lease(session, row.id, owner="other-worker", now=now, until=until)


async def _poll(database_url: str, data_dir: Path, *args: str) -> tuple[int, str, str]:
    # In a thread: the pymap server answers from this test's event loop.
    env = cli_env(database_url, data_dir, ROUTEDESK_IMAP__LEASE_SECONDS="4", ROUTEDESK_INGEST__PARSE_WORKERS="0")
    done = await invoke_env_async(env, "poll", "--once", *args)
    return done.returncode, done.stdout, done.stderr


async def test_poll_once_skips_a_mailbox_another_worker_holds_and_exits_0(
    sqlite_url: str, tmp_path: Path, imap_server: Any
) -> None:
    await imap_server.append(mail(message_id="<held@merchant.example>"))
    await _hold_lease(sqlite_url, tmp_path / "data", imap_server, seconds=600)
    code, out, err = await _poll(sqlite_url, tmp_path / "data")
    assert code == 0, err
    assert "'support' is being polled by another worker" in err
    assert json.loads(out.strip().splitlines()[-1])["fetched"] == 0


async def test_poll_once_wait_polls_once_the_other_workers_lease_runs_out(
    sqlite_url: str, tmp_path: Path, imap_server: Any
) -> None:
    await imap_server.append(mail(message_id="<waited@merchant.example>"))
    await _hold_lease(sqlite_url, tmp_path / "data", imap_server, seconds=3)
    code, out, err = await _poll(sqlite_url, tmp_path / "data", "--wait", "--timeout", "120")
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["ingested"] == 1


async def test_poll_once_wait_gives_up_after_its_timeout_with_exit_1(
    sqlite_url: str, tmp_path: Path, imap_server: Any
) -> None:
    await _hold_lease(sqlite_url, tmp_path / "data", imap_server, seconds=600)
    code, out, err = await _poll(sqlite_url, tmp_path / "data", "--wait", "--timeout", "1")
    assert code == 1
    assert "being polled by another worker" in err and "after waiting 1 s" in err
    assert json.loads(out.strip().splitlines()[-1])["fetched"] == 0
