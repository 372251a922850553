from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, TypeDecorator, event, func, inspect, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every engine: SQLite stores naive text, so attach UTC on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if is_sqlite(url):
        # A writer waits for the lock instead of failing at once; WAL lets readers run beside it.
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # aiosqlite opens its own transactions lazily; turn that off so BEGIN IMMEDIATE below is ours.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock at BEGIN: two writers upgrading a read lock at once would deadlock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **kwargs)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with unit_of_work(request.app.state.sessionmaker) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def assign_ids(session: AsyncSession) -> None:
    """Give every pending new row its primary key before the flush.

    Without keys the ORM must INSERT ... RETURNING to learn them, and on SQLite it cannot do that for
    many rows at once in a known order, so it inserts row by row. With keys known it sends one
    executemany per table. SQLite: the transaction began with BEGIN IMMEDIATE, so it holds the write
    lock and max(id) cannot move under it. PostgreSQL: the column's own sequence hands them out."""
    pending: dict[Any, list[Any]] = {}
    for obj in session.new:
        mapper = inspect(obj).mapper
        pk = mapper.primary_key
        if len(pk) == 1 and pk[0].autoincrement in (True, "auto") and getattr(obj, pk[0].key) is None:
            pending.setdefault(mapper.local_table, []).append(obj)
    if not pending:
        return
    sqlite = session.bind is not None and session.bind.dialect.name == "sqlite"
    for table, objects in pending.items():
        column = next(iter(table.primary_key.columns))
        if sqlite:
            start = int(await session.scalar(select(func.coalesce(func.max(column), 0))) or 0) + 1
            ids = list(range(start, start + len(objects)))
        else:
            sequence = func.pg_get_serial_sequence(table.name, column.name)
            ids = list(
                (
                    await session.scalars(
                        select(func.nextval(sequence)).select_from(func.generate_series(1, len(objects)))
                    )
                ).all()
            )
        for obj, new_id in zip(objects, ids, strict=True):
            setattr(obj, column.key, new_id)
