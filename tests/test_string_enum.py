"""app/db.py:StringEnum: a StrEnum column stores the member's plain string and reads the member back, on
both engines, through the processors the engine runs per value (executemany batches included)."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.exc import StatementError

from app.db import StringEnum, create_engine
from app.tickets.models import TicketStatus

metadata = MetaData()
probe = Table(
    "string_enum_probe",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("status", StringEnum(TicketStatus, 16), nullable=True),
)


async def test_members_and_their_strings_are_stored_as_plain_text_and_read_back_as_members(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            # One executemany: a member, its plain string and None, as the ingest batch writes them.
            await conn.execute(
                insert(probe),
                [
                    {"id": 1, "status": TicketStatus.PENDING},
                    {"id": 2, "status": "solved"},
                    {"id": 3, "status": None},
                ],
            )
            raw = (await conn.execute(text("SELECT id, status FROM string_enum_probe ORDER BY id"))).all()
            read = (await conn.execute(select(probe.c.id, probe.c.status).order_by(probe.c.id))).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in raw] == [(1, "pending"), (2, "solved"), (3, None)]
    assert all(type(r.status) is str for r in raw if r.status is not None)
    assert [r.status for r in read] == [TicketStatus.PENDING, TicketStatus.SOLVED, None]
    assert all(type(r.status) is TicketStatus for r in read if r.status is not None)


async def test_a_string_that_is_no_member_is_refused_before_it_reaches_the_database(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with engine.begin() as conn:
            with pytest.raises(StatementError) as refused:
                await conn.execute(insert(probe), [{"id": 1, "status": "open"}, {"id": 2, "status": "closed"}])
            assert isinstance(refused.value.orig, ValueError)
            assert "closed" in str(refused.value.orig)
        async with engine.connect() as conn:
            stored = (await conn.execute(text("SELECT count(*) FROM string_enum_probe"))).scalar_one()
    finally:
        await engine.dispose()
    assert stored == 0
