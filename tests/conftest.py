from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections import deque
from collections.abc import AsyncIterator, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pluggy
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.migrate import upgrade
from app.runtime import Runtime, open_runtime

pytest_plugins = ["tests.fixtures.imap", "tests.logcapture"]

REPO = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("ROUTEDESK_TEST_POSTGRES_URL")  # e.g. postgresql://postgres@127.0.0.1:5432/test


def datasets_dir() -> Path:
    return Path(os.environ.get("ROUTEDESK_DATASETS") or REPO.parent / "shared" / "datasets")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    outcome = yield
    report = outcome.get_result()
    # CI provides every server and dataset: there, a skipped test is a test that did not run.
    if report.skipped and os.environ.get("ROUTEDESK_TEST_NO_SKIP") and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where nothing may skip: {report.longrepr}"


# The modules with the longest tests (a full run's --durations), longest first. They go first, so that the
# last tests handed to a test process are short ones and the processes finish together: a one-minute test
# started last would be a minute that one process runs alone. The other modules keep their order.
SLOW_FIRST = [
    "tests/api/test_fuzz.py",
    "tests/demo/test_demo_cli.py",
    "tests/routing/test_compact_serving.py",
    "tests/inbox/test_poller_processes.py",
    "tests/test_readme_for_real.py",
    "tests/inbox/test_poller.py",
    "tests/demo/test_run.py",
    "tests/operations/test_errors.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    # Stable: within a module the order stays as written, so module fixtures are set up once per process.
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def _run_blocking(coro_factory: Any) -> None:
    # Session fixtures may be first asked for from inside a test's event loop: use a thread's own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(coro_factory())).result()


def _asyncpg_dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


class PostgresClones:
    """Fresh copies of the migrated template database, one per test, made one test ahead and dropped after
    their test by a thread of this process's own, so that a test waits for neither: under load, CREATE
    DATABASE ... TEMPLATE and DROP DATABASE take a second or more each. Every test still gets a database
    nobody else has used, copied from the template as it was migrated."""

    def __init__(self, template: str, *, ahead: int = 1) -> None:
        assert POSTGRES_URL
        self._template = template
        self._ahead = ahead
        self._ready: deque[Future[str]] = deque()
        # One thread: creates and drops run in order, on one admin connection and event loop of its own.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postgres-clones")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._admin: asyncpg.Connection | None = None

    def _sql(self, statement: str) -> None:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        loop = self._loop

        async def run() -> None:
            if self._admin is None:
                assert POSTGRES_URL
                self._admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
            await self._admin.execute(statement)

        loop.run_until_complete(run())

    def _create(self) -> str:
        name = f"routedesk_test_{uuid.uuid4().hex[:10]}"
        self._sql(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        return name

    async def take(self) -> str:
        """A new database's name: made while the previous test ran, or now."""
        while len(self._ready) <= self._ahead:
            self._ready.append(self._thread.submit(self._create))
        return await asyncio.wrap_future(self._ready.popleft())

    def drop_later(self, name: str) -> None:
        self._thread.submit(self._sql, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        """Drop what was made ahead and not used, wait for every drop, and close the connection."""
        for made in self._ready:
            self.drop_later(made.result())
        self._ready.clear()

        def hang_up() -> None:
            if self._loop is None:
                return
            if self._admin is not None:
                self._loop.run_until_complete(self._admin.close())
            self._loop.close()

        self._thread.submit(hang_up).result()
        self._thread.shutdown(wait=True)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("ROUTEDESK_TEST_POSTGRES_URL not set")
    name = f"routedesk_template_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    _run_blocking(create)
    base = POSTGRES_URL.rsplit("/", 1)[0]
    upgrade(f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1))
    yield name

    async def drop() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    _run_blocking(drop)


@pytest.fixture(scope="session")
def postgres_clones(postgres_template: str) -> Iterator[PostgresClones]:
    # Torn down before postgres_template (it depends on it): every copy is gone before the template goes.
    clones = PostgresClones(postgres_template)
    try:
        yield clones
    finally:
        clones.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, migrated database for one test, on each engine we support."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "routedesk.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    clones: PostgresClones = request.getfixturevalue("postgres_clones")
    assert POSTGRES_URL
    name = await clones.take()
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    finally:
        clones.drop_later(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        secret_key=None,
        imap={
            "connect_timeout": 5,
            "command_timeout": 10,
            "backoff_initial": 0.05,
            "backoff_max": 0.5,
            "poll_interval": 0.5,
            "lease_seconds": 5,
        },
        ingest={"parse_workers": 0},
    )


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    async with open_runtime(settings) as rt:
        yield rt


@pytest.fixture(scope="session")
def worker_app() -> FastAPI:
    """One app per test process. FastAPI builds its routes' validation on an app's first request (about
    500 fields: a third of a second, several under load), so a test gets this already-built app with its
    own runtime attached (`api_app` in tests/api/desk.py), not an app of its own."""
    return create_app()
