from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pluggy
import pytest

from app.config import Settings
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


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, migrated database for one test, on each engine we support."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "routedesk.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template_name: str = request.getfixturevalue("postgres_template")
    assert POSTGRES_URL
    name = f"routedesk_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    finally:
        await admin.close()
    yield POSTGRES_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


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
