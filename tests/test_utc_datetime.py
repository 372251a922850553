"""app/db.py:UTCDateTime: its per-value bind processor (the fast path every batch row goes through) binds
what the generic TypeDecorator path binds, and the values stored read back as the same UTC instants, on
both engines; a naive datetime is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError

from app.db import UTCDateTime, create_engine

metadata = MetaData()
probe = Table(
    "utc_datetime_probe",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=True),
)

INSTANTS = [
    datetime(2026, 12, 1, 20, 16, 14, 123456, tzinfo=UTC),
    datetime(2026, 12, 1, 20, 16, 14, tzinfo=UTC),  # no microseconds: still six digits on SQLite
    datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Berlin")),
    datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ZoneInfo("America/Los_Angeles")),
    datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-3))),  # a year of three digits
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


def _generic(kind: UTCDateTime, dialect: object, value: datetime | None) -> object:
    impl = kind.impl_instance.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[arg-type]
    bound = kind.process_bind_param(value, dialect)  # type: ignore[arg-type]
    return impl(bound) if impl is not None and bound is not None else bound


DIALECTS = [sqlite.dialect(), postgresql.asyncpg.dialect()]  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("dialect", DIALECTS, ids=["sqlite", "postgresql"])
def test_the_fast_bind_processor_binds_what_the_generic_path_binds(dialect: object) -> None:
    kind = UTCDateTime()
    fast = kind.bind_processor(dialect)  # type: ignore[arg-type]
    for value in [*INSTANTS, None]:
        assert fast(value) == _generic(kind, dialect, value), value
    with pytest.raises(ValueError, match="naive"):
        fast(datetime(2026, 12, 1, 12, 0))  # noqa: DTZ001


async def test_instants_are_stored_and_read_back_as_the_same_utc_instants(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            # One executemany, as the ingest batch writes its rows.
            await conn.execute(insert(probe), [{"id": i, "at": at} for i, at in enumerate([*INSTANTS[:4], None])])
            read = (await conn.execute(select(probe.c.id, probe.c.at).order_by(probe.c.id))).all()
            if engine.dialect.name == "sqlite":
                raw = (await conn.execute(text("SELECT at FROM utc_datetime_probe WHERE id = 1"))).scalar_one()
                assert raw == "2026-12-01 20:16:14.000000"
    finally:
        await engine.dispose()
    assert [r.at for r in read] == [*(at.astimezone(UTC) for at in INSTANTS[:4]), None]
    assert all(r.at.tzinfo is UTC for r in read if r.at is not None)


async def test_a_naive_datetime_is_refused_before_it_reaches_the_database(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            with pytest.raises(StatementError) as refused:
                await conn.execute(insert(probe), [{"id": 1, "at": datetime(2026, 12, 1, 12, 0)}])  # noqa: DTZ001
            assert isinstance(refused.value.orig, ValueError)
    finally:
        await engine.dispose()
