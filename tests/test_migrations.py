from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import app.models  # noqa: F401
from app.db import Base, create_engine
from app.migrate import downgrade_async, upgrade_async


async def _diff_and_tables(url: str) -> tuple[list[object], set[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:

            def inspect_sync(sync_conn: object) -> tuple[list[object], set[str]]:
                context = MigrationContext.configure(sync_conn, opts={"compare_type": True})  # type: ignore[arg-type]
                diff = compare_metadata(context, Base.metadata)
                tables = set(inspect(sync_conn).get_table_names()) - {"alembic_version"}  # type: ignore[arg-type]
                return diff, tables

            return await conn.run_sync(inspect_sync)
    finally:
        await engine.dispose()


async def test_migrations_match_the_models(database_url: str) -> None:
    diff, tables = await _diff_and_tables(database_url)
    assert diff == []
    assert tables == set(Base.metadata.tables)


async def test_migrations_downgrade_to_nothing_and_upgrade_again(database_url: str) -> None:
    await downgrade_async(database_url, "base")
    _, tables = await _diff_and_tables(database_url)
    assert tables == set()
    await upgrade_async(database_url)
    diff, tables = await _diff_and_tables(database_url)
    assert diff == []
    assert tables == set(Base.metadata.tables)
