"""Real-world and malformed mail: every file ingests, nothing is lost, nothing stops the poller."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import unit_of_work
from app.inbox import mailboxes
from app.inbox.models import Message
from app.inbox.poller import MailboxPoller, MailboxRef
from app.runtime import Runtime
from tests.conftest import datasets_dir


def stdlib_email_data() -> Path:
    import test.test_email  # the CPython test package ships its email test messages

    return Path(os.path.dirname(test.test_email.__file__)) / "data"


def corpus(name: str) -> list[Path]:
    if name == "cpython":
        try:
            root = stdlib_email_data()
        except ImportError:
            pytest.skip("this Python has no test.test_email package")
        files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix in (".txt", ".eml"))
    else:
        root = datasets_dir() / name
        if not root.is_dir():
            pytest.skip(f"dataset {root} not found (set ROUTEDESK_DATASETS)")
        files = sorted(p for p in root.rglob("*.eml"))
    assert files, f"no messages under {root}"
    return files


@pytest.mark.parametrize("name", ["flanker_eml", "rubymail_eml", "cpython"])
async def test_every_corpus_message_is_stored_through_a_real_imap_server(
    runtime: Runtime, imap_server: Any, name: str
) -> None:
    files = corpus(name)
    raws = [path.read_bytes() for path in files]
    for raw in raws:
        await imap_server.append(raw)
    async with unit_of_work(runtime.sessionmaker) as session:
        row = await mailboxes.add_mailbox(
            session, name="corpus", endpoint=imap_server.endpoint, secrets=runtime.secrets
        )
        mailbox = MailboxRef.from_row(row, runtime.secrets)
    poller = MailboxPoller(
        mailbox,
        sessionmaker=runtime.sessionmaker,
        settings=runtime.settings,
        router=runtime.router,
        owner="corpus-test",
    )
    counts = await poller.poll_once()
    assert counts.fetched == len(raws)
    assert counts.ingested + counts.duplicates == len(raws)
    async with unit_of_work(runtime.sessionmaker) as session:
        kept = await session.scalar(select(func.count(Message.id)).where(Message.direction == "inbound"))
        failed = (await session.scalars(select(Message).where(Message.parse_status.not_in(("ok", "empty"))))).all()
    assert kept == counts.ingested
    # Whatever failed to parse is kept byte for byte, with a reason an admin can read.
    for message in failed:
        assert message.raw and message.parse_error
