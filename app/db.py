from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, ClassVar, TypeVar, cast
from urllib.parse import quote

import aiosqlite
from fastapi import Depends, Request
from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    TypeDecorator,
    bindparam,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql import FromClause

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Primary keys are 32-bit integers on PostgreSQL: ids from outside are bounded by this, so a huge one
# is a 422 and never reaches the driver as an overflow.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every engine: SQLite stores naive text, so attach UTC on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _in_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # What the engine runs per value, for every row of a batch (an ingest batch binds ~25 times per
    # message, 14 of them for a new ticket's SLA clocks and events): one call, where the generic path
    # is a TypeDecorator call, process_bind_param, and SQLite's DATETIME formatting through a dict.
    # The same values: tests/test_utc_datetime.py compares both paths.
    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        impl = self.impl_instance.dialect_impl(dialect)
        if dialect.name == "sqlite":
            if not _default_sqlite_format(impl):
                return super().bind_processor(dialect)  # type: ignore[return-value]

            def to_sqlite_text(value: datetime | None) -> str | None:
                if value is None:
                    return None
                # "YYYY-MM-DD HH:MM:SS.ffffff", as SQLite's DATETIME stores it, without "+00:00".
                return _in_utc(value).isoformat(" ", "microseconds")[:26]

            return to_sqlite_text
        driver = impl.bind_processor(dialect)

        def to_utc(value: datetime | None) -> Any:
            if value is None:
                return None
            return _in_utc(value) if driver is None else driver(_in_utc(value))

        return to_utc


def _in_utc(value: datetime) -> datetime:
    zone = value.tzinfo
    if zone is UTC:
        return value
    if zone is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


def _default_sqlite_format(impl: Any) -> bool:
    from sqlalchemy.dialects.sqlite import DATETIME

    return isinstance(impl, DATETIME) and impl._storage_format == DATETIME._storage_format


E = TypeVar("E", bound=StrEnum)


class StringEnum(TypeDecorator[E]):
    """A StrEnum stored as its string: the column holds the same text as a plain string column would,
    and reads come back as the enum's members."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self._enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self._enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self._enum(value)

    # The processors the engine runs per value, for every row of a batch: a dict lookup each, where
    # the generic ones above cost a TypeDecorator call and an Enum() call (~0.2 s of a 5,000-message
    # ingest under cProfile). An unknown string still raises Enum()'s ValueError.
    def bind_processor(self, dialect: Dialect) -> Callable[[Any], str | None]:
        enum = self._enum
        plain = {member.value: str(member.value) for member in enum}

        def process(value: Any) -> str | None:
            if value is None:
                return None
            found = plain.get(value)
            return found if found is not None else enum(value).value

        return process

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], E | None]:
        enum = self._enum
        members = {member.value: member for member in enum}

        def process(value: Any) -> E | None:
            if value is None:
                return None
            found = members.get(value)
            return found if found is not None else enum(value)

        return process


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def shown_url(url: str) -> str:
    """`url` as it may be printed: without its password, in the authority or as a query parameter."""
    try:
        parsed = make_url(url)
    except Exception:
        # Not a URL SQLAlchemy reads: cut whatever stands between "://" and "@" after a colon.
        return re.sub(r"(://[^/@:]*):[^/@]*@", r"\1@", url)
    query = {k: ("***" if k.lower() == "password" else v) for k, v in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True)


def _sqlite_file(url: str) -> str | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _sqlite_connector(url: str | URL, **connect_args: Any) -> Callable[[], Awaitable[Any]]:
    """aiosqlite's connect, made to wait for the connection's thread when the connect fails: aiosqlite
    (0.22) then stops the thread without waiting for it, and the thread calls back into the event loop;
    when the loop has closed meanwhile (a command ending on the error, Alembic's own loop) the thread
    dies with "Event loop is closed", a traceback after the command's one-line error."""
    target = make_url(url)
    args, params = target.get_dialect(_is_async=True)().create_connect_args(target)
    params = {**params, **connect_args}

    async def connect() -> Any:
        connection = aiosqlite.connect(*args, **params)
        thread = getattr(connection, "_thread", None)
        if thread is not None:
            thread.daemon = True  # as SQLAlchemy's own connect does: never keeps the process alive
        try:
            return await connection
        except BaseException:
            if thread is not None and thread.is_alive():
                await asyncio.to_thread(thread.join, 10)
            raise

    return connect


def create_engine(url: str, *, pool_size: int = 20, existing: bool = False, **kwargs: Any) -> AsyncEngine:
    """The engine for `url`. With `existing`, an SQLite file must already exist (a service's database:
    only `db upgrade` creates one); when it is removed or replaced while the service runs, connections
    to the old file are dropped and the next request is told the database cannot be opened, rather
    than writing on into a file nobody will read again or into a new empty one."""
    # A failed statement's error names the SQL but never the values: they are mail, addresses, token hashes.
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        path = _sqlite_file(url) if existing else None
        target: str | URL = url
        if path is not None:
            # A URI, so that mode=rw applies; its path percent-encoded, so that a "?", "#" or "%" in a
            # file name cannot end it early (and open, or create, another file).
            target = make_url(url).set(database=f"file:{quote(path)}", query={"mode": "rw", "uri": "true"})
        # A writer waits for the lock instead of failing at once; WAL lets readers run beside it.
        engine = create_async_engine(target, async_creator=_sqlite_connector(target, timeout=30), **kwargs)

        if path is not None:
            file_path = path

            @event.listens_for(engine.sync_engine, "connect")
            def _remember_file(_dbapi_connection: Any, record: Any) -> None:
                record.info["sqlite_file"] = _file_identity(file_path)

            @event.listens_for(engine.sync_engine, "checkout")
            def _same_file(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
                if _file_identity(file_path) != record.info.get("sqlite_file"):
                    raise DisconnectionError(f"the database file {file_path} was removed or replaced")

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
    # No pre-ping: it costs a round trip per checkout, and a connection the server dropped fails its
    # statement, is discarded by the pool, and the request gets a 503-class error rather than a hang.
    return create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=30, **kwargs)


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


async def allocate_ids(session: AsyncSession, table: Table, count: int) -> list[int]:
    """Primary keys for `count` new rows of `table`, known before they are inserted.

    SQLite: the transaction began with BEGIN IMMEDIATE, so it holds the write lock and max(id) cannot
    move under it. PostgreSQL: the column's own sequence hands them out."""
    column = next(iter(table.primary_key.columns))
    bind = session.bind
    if bind is not None and bind.dialect.name == "sqlite":
        start = int(await session.scalar(select(func.coalesce(func.max(column), 0))) or 0) + 1
        return list(range(start, start + count))
    sequence = func.pg_get_serial_sequence(table.name, column.name)
    return list(
        (await session.scalars(select(func.nextval(sequence)).select_from(func.generate_series(1, count)))).all()
    )


def _has_serial_key(table: Table) -> bool:
    pk = list(table.primary_key.columns)
    return len(pk) == 1 and pk[0].autoincrement in (True, "auto")


# A row of the fast path is a TypedDict of its table (TicketRow, MessageRow, ...): mypy checks its keys
# and values, and at run time it is a plain dict, which costs nothing to build.
R = TypeVar("R", bound=Mapping[str, Any])


async def insert_row(session: AsyncSession, model: type[Base], **values: Any) -> None:
    """One new row that nobody reads back in this transaction (an event, a label): a plain INSERT,
    without the ORM's unit of work, which costs more than the statement for a single row."""
    # Values as parameters, not .values(): the statement compiles once per set of columns and is cached.
    await session.execute(insert(model.__table__), values)  # type: ignore[arg-type]


class RowWriter:
    """New rows of one transaction, written with one executemany per table in foreign-key order.

    The ORM's unit of work spends more time on bookkeeping for a few thousand new objects than the
    database spends storing them; plain rows skip that. A row may point at another new row by holding
    it (`{"ticket_id": ticket_row}`): that row gets its key when its table is written, before the
    rows that point at it. Changes to existing rows (`update`) are written after the inserts.

    Every value is made storable first (`fit_row`): these rows carry what strangers sent, and one
    value the database refuses would fail the whole statement, and with it the batch."""

    def __init__(self) -> None:
        self._inserts: dict[FromClause, list[dict[str, Any]]] = {}
        self._updates: dict[FromClause, list[dict[str, Any]]] = {}

    def add(self, table: FromClause, row: R) -> R:
        self._inserts.setdefault(table, []).append(cast(dict[str, Any], row))
        return row

    def changed(self, table: FromClause, row: Mapping[str, Any], *columns: str) -> None:
        """Write, with the batch, these columns of a row as they are now. A stored row (one holding its
        key) becomes an UPDATE; a row this writer is to insert already carries its values."""
        if "id" in row:
            self._updates.setdefault(table, []).append({"_key": row["id"], **{c: row[c] for c in columns}})

    async def write(self, session: AsyncSession) -> None:
        for table in Base.metadata.sorted_tables:  # parents before children
            rows = self._inserts.get(table)
            if not rows:
                continue
            if _has_serial_key(table) and table in _referenced_tables():
                for row, new_id in zip(rows, await allocate_ids(session, table, len(rows)), strict=True):
                    row["id"] = new_id
            links = [fk.parent.key for fk in table.foreign_keys]
            for row in rows:
                fit_row(table, row)
                for key in links:
                    target = row.get(key)
                    if type(target) is dict:
                        row[key] = target["id"]
            # executemany needs one column set per statement; rows of a kind share theirs.
            groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row in rows:
                groups.setdefault(tuple(row), []).append(row)
            for group in groups.values():
                await session.execute(insert(table), group)
        for table in Base.metadata.sorted_tables:
            changes = self._updates.get(table)
            if not changes:
                continue
            key_column = next(iter(table.primary_key.columns))
            groups = {}
            for change in changes:
                fit_row(table, change)
                groups.setdefault(tuple(change), []).append(change)
            for group in groups.values():
                # SET takes the other keys of each parameter set.
                await session.execute(update(table).where(key_column == bindparam("_key")), group)
        self._inserts.clear()
        self._updates.clear()


@cache
def _referenced_tables() -> frozenset[Table]:
    """Tables some foreign key points at: only their new rows need keys before they are inserted."""
    return frozenset(fk.column.table for table in Base.metadata.tables.values() for fk in table.foreign_keys)


# Bounds on values, read from the models: a column's declared size is the only list of sizes there is.
_INTEGER_BITS = ((BigInteger, 64), (SmallInteger, 16), (Integer, 32))


@cache
def _bounds(table: FromClause) -> tuple[dict[str, int | None], dict[str, int]]:
    """A table's string columns with their length (None: unbounded text) and its integer columns
    with their largest value."""
    strings: dict[str, int | None] = {}
    integers: dict[str, int] = {}
    for column in table.columns:
        kind = column.type
        if isinstance(kind, TypeDecorator):
            kind = kind.impl_instance
        if isinstance(kind, String):  # Text and Enum included
            strings[column.key] = kind.length
        elif isinstance(kind, Integer):
            bits = next(bits for base, bits in _INTEGER_BITS if isinstance(kind, base))
            integers[column.key] = 2 ** (bits - 1) - 1
    return strings, integers


def fit_row(table: FromClause, row: dict[str, Any]) -> None:
    """Make a row's values storable in `table` on every engine, in place: strings through
    `storable_text` at their column's length, integers held to their column's range."""
    strings, integers = _bounds(table)
    for key, value in row.items():
        kind = type(value)
        if kind is str:
            if key in strings:
                limit = strings[key]
                if (limit is not None and len(value) > limit) or "\x00" in value or not value.isascii():
                    row[key] = storable_text(value, limit)
        elif kind is int and key in integers:
            top = integers[key]
            if not -top - 1 <= value <= top:
                row[key] = max(-top - 1, min(value, top))


def storable_text(value: str, limit: int | None = None) -> str:
    """`value` as every engine stores it: no NUL (PostgreSQL text refuses it), no lone surrogate (no
    UTF-8 driver can encode one), and at most `limit` characters, cut between characters and marked
    with an ellipsis. PostgreSQL counts a varchar's length in characters, as Python does."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # Through UTF-16 a surrogate pair becomes the character it encodes; a lone one becomes U+FFFD.
            value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "\u2026"
    return value
