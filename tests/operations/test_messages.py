"""`messages list`: an empty message is listed as empty, and `--failed` says so when nothing failed:
`messages list --failed` as the real command in a subprocess (the group's smoke test of the real entry
point), `messages list` in-process (tests/cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

from app.config import Settings
from app.db import unit_of_work
from app.inbox.ingest import Source, ingest_batch
from app.inbox.parsing import prepare
from app.runtime import open_runtime
from tests.cli import cli_env, invoke_env_async, run_routedesk_env


async def test_empty_messages_are_listed_as_empty_and_not_as_failed(sqlite_url: str, tmp_path: Path) -> None:
    raws = [b"", b"From: ana@merchant.example\r\nSubject: see subject\r\nMessage-ID: <h@merchant.example>\r\n\r\n"]
    async with open_runtime(Settings(database_url=sqlite_url, data_dir=tmp_path / "data")) as runtime:
        batch = [prepare(raw, None, max_attachment_bytes=1024) for raw in raws]
        source = Source(mailbox_id=None, uidvalidity=None)
        async with unit_of_work(runtime.sessionmaker) as session:
            await ingest_batch(session, batch, source=source, settings=runtime.settings, router=runtime.router)
    env = cli_env(sqlite_url, tmp_path / "data")
    failed = await run_routedesk_env(env, "messages", "list", "--failed")
    assert failed.returncode == 0, failed.stderr
    assert (failed.stdout, failed.stderr.strip()) == ("", "no failed messages")
    listed = await invoke_env_async(env, "messages", "list")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["status"], r["size"], r["error"]) for r in rows] == [("empty", len(raws[1]), None), ("empty", 0, None)]
