"""A database that is not there, or goes away and comes back, is a 503 with Retry-After for every
request that needs it: never a 500 and never a dropped connection, and the same requests succeed once
it is back. Against real conditions: a port nobody listens on, a PostgreSQL cluster of the test's own
stopped (`pg_ctl stop -m fast`) and started again, and an SQLite file removed under a running service."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from app.config import Settings
from app.db import SessionDep, create_engine, unit_of_work
from app.errors import ConfigurationError
from app.main import create_app
from app.migrate import upgrade_async
from app.ports import free_port
from app.runtime import Runtime, open_runtime
from app.users import service as users
from tests.api.desk import Desk, sqlite_only
from tests.logcapture import LogCapture

PG_BIN = Path("/usr/lib/postgresql/15/bin")
BAD_TOKEN = "rdt_" + "x" * 43


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"] == "DatabaseUnavailable"


async def test_a_database_that_refuses_connections_is_a_503_with_retry_after(
    tmp_path: Path, log_capture: Callable[..., LogCapture]
) -> None:
    capture = log_capture()
    port = free_port()  # nothing listens there: every connect is refused
    settings = Settings(
        database_url=f"postgresql://routedesk:db-pass-91f2@127.0.0.1:{port}/routedesk", data_dir=tmp_path / "data"
    )
    async with open_runtime(settings, check=False) as runtime:
        app = create_app(runtime=runtime)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://test/api/v1",
                headers={"Authorization": f"Bearer {BAD_TOKEN}"},
            ) as client,
        ):
            for method, path in (("GET", "/queues"), ("POST", "/queues/triage/claim"), ("GET", "/me")):
                _assert_unavailable(await client.request(method, path))
            assert (await client.get("http://test/readyz")).status_code == 503
    text = capture.text()
    assert text.count("database_unavailable") == 3
    assert "unexpected_error" not in text and "db-pass-91f2" not in text


# -- a PostgreSQL cluster of the test's own -------------------------------------------------------------


@dataclass
class OwnPostgres:
    directory: Path
    port: int

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), *args],
            check=True,
            capture_output=True,
        )

    def start(self, *, wait: bool = True) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.directory / "server.log"), "-w" if wait else "-W", "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[OwnPostgres]:
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL 15 binaries not installed")
    directory = Path(tempfile.mkdtemp(prefix="routedesk-pg-"))
    shutil.chown(directory, "postgres", "postgres")
    server = OwnPostgres(directory, free_port())
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "initdb"),
            "-D",
            str(directory / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
        ],
        check=True,
        capture_output=True,
    )
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def own_runtime(own_postgres: OwnPostgres, tmp_path: Path) -> AsyncIterator[Runtime]:
    admin = await asyncpg.connect(own_postgres.admin_dsn)
    try:
        await admin.execute("DROP DATABASE IF EXISTS routedesk WITH (FORCE)")
        await admin.execute("CREATE DATABASE routedesk")
    finally:
        await admin.close()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{own_postgres.port}/routedesk"
    await upgrade_async(url)
    async with open_runtime(Settings(database_url=url, data_dir=tmp_path / "data")) as runtime:
        yield runtime


@pytest.fixture
async def served(own_runtime: Runtime) -> AsyncIterator[tuple[Runtime, str]]:
    """The app on a real uvicorn server, so that a dropped connection would show."""
    app = create_app(runtime=own_runtime)

    async def slow(seconds: float) -> dict[str, str]:
        async with unit_of_work(own_runtime.sessionmaker) as session:
            await session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        return {"slept": "yes"}

    app.add_api_route("/api/v1/slow-for-test", slow)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:
            await asyncio.sleep(0.02)
    try:
        yield own_runtime, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def _client_port(response: httpx.Response) -> int:
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


async def test_a_postgresql_restart_is_503s_during_the_outage_and_200s_after_on_the_same_connection(
    served: tuple[Runtime, str], own_postgres: OwnPostgres, log_capture: Callable[..., LogCapture]
) -> None:
    capture = log_capture()
    runtime, base = served
    async with unit_of_work(runtime.sessionmaker) as session:
        _user, token = await users.create_user(session, name="ana", email="ana@routedesk.example", role="agent")
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=f"{base}/api/v1", headers=headers, limits=limits, timeout=60) as client,
        httpx.AsyncClient(base_url=f"{base}/api/v1", headers=headers, timeout=60) as other,
    ):
        before = await client.get("/queues")
        assert before.status_code == 200
        connection = _client_port(before)
        in_flight = asyncio.create_task(other.get("/slow-for-test", params={"seconds": 30}))
        async with asyncio.timeout(30):
            while not await _sleeping(runtime):
                await asyncio.sleep(0.05)

        await asyncio.to_thread(own_postgres.stop)
        # The statement that was running when the server shut down ("terminating connection due to
        # administrator command"), then requests while nothing listens.
        _assert_unavailable(await in_flight)
        during = [await client.get("/queues") for _ in range(10)]
        during += [await client.post("/queues/triage/claim") for _ in range(5)]
        during.append(await client.get("/me"))
        for response in during:
            _assert_unavailable(response)

        # Started without waiting: requests meet "the database system is starting up" too.
        await asyncio.to_thread(own_postgres.start, wait=False)
        recovering: list[httpx.Response] = []
        async with asyncio.timeout(60):
            while not recovering or recovering[-1].status_code != 200:
                recovering.append(await client.get("/queues"))
                if recovering[-1].status_code != 200:
                    await asyncio.sleep(0.02)
        assert {r.status_code for r in recovering} <= {200, 503}
        after = [await client.get("/queues") for _ in range(10)]
        after.append(await client.post("/queues/triage/claim"))
        assert [r.status_code for r in after] == [200] * 10 + [404]  # an empty queue, answered
        # One keep-alive connection throughout: no answer closed it.
        assert {_client_port(r) for r in [before, *during, *recovering, *after]} == {connection}
    text = capture.text()
    assert "unexpected_error" not in text
    assert text.count("database_unavailable") == len(during) + 1 + sum(r.status_code == 503 for r in recovering)


async def _sleeping(runtime: Runtime) -> bool:
    async with unit_of_work(runtime.sessionmaker) as session:
        found = await session.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'")
        )
    return bool(found)


@pytest.mark.own_app
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_commit_that_loses_its_connection_is_a_503(desk: Desk) -> None:
    """The session is committed by the request's dependency after the route returned: a connection
    lost right then is answered 503 like one lost in the route."""

    async def write_then_lose_connection(session: SessionDep) -> dict[str, str]:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        await session.execute(text('UPDATE "user" SET email = email WHERE id = 0'))
        admin = await asyncpg.connect(desk.settings.database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        return {"written": "not yet committed"}

    desk.app.add_api_route("/api/v1/lose-for-test", write_then_lose_connection, methods=["POST"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test") as client:
        _assert_unavailable(await client.post("/api/v1/lose-for-test"))
        assert (await client.get("/healthz")).status_code == 200
    assert (await desk.agent.get("/queues")).status_code == 200


# -- SQLite ---------------------------------------------------------------------------------------------


@sqlite_only
async def test_an_sqlite_file_removed_while_serving_is_a_503_and_never_a_new_empty_database(
    desk: Desk, log_capture: Callable[..., LogCapture]
) -> None:
    capture = log_capture()
    assert (await desk.agent.get("/queues")).status_code == 200  # the pool holds a connection to the file
    path = Path(str(make_url(desk.settings.database_url).database))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    for _ in range(3):
        _assert_unavailable(await desk.agent.get("/queues"))
    assert not path.exists()  # nothing went on writing into a fresh, empty database
    text = capture.text()
    assert text.count("database_unavailable") == 3 and "unable to open database file" in text
    assert "unexpected_error" not in text


@sqlite_only
async def test_a_service_started_on_a_missing_sqlite_file_stops_with_a_clear_error(settings: Settings) -> None:
    path = Path(str(make_url(settings.database_url).database))
    os.unlink(path)
    with pytest.raises(ConfigurationError, match=r"cannot open the database .*routedesk db upgrade"):
        async with open_runtime(settings):
            pass
    assert not path.exists()


def test_a_failed_sqlite_connect_leaves_no_thread_to_call_into_a_closed_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiosqlite stops its connection's thread after a failed connect without waiting for it; the thread
    # then calls back into the event loop, and when that loop had closed meanwhile (a CLI command ending
    # on the error, Alembic's own loop, a test's) it died with "Event loop is closed": a traceback after
    # the CLI's one-line error, and a test failing at random. Each asyncio.run here closes its loop at
    # once, as a command does.
    raised: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda hook: raised.append(hook.exc_value))
    before = set(threading.enumerate())

    async def connect_once() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}", existing=True)
        try:
            async with engine.connect():
                pass
        finally:
            await engine.dispose()

    for _ in range(20):
        with pytest.raises(OperationalError, match="unable to open database file"):
            asyncio.run(connect_once())
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=10)
    assert raised == []


@pytest.mark.parametrize("name", ["a?b.db", "a#b.db", "a%41b.db"])
async def test_a_service_opens_an_sqlite_file_whose_name_has_uri_characters(tmp_path: Path, name: str) -> None:
    # The service opens the file as an SQLite URI: unescaped, "?" or "#" ended its path early, and the
    # service opened (with "?", created) another, empty database instead of the one db upgrade made.
    folder = tmp_path / "db"
    folder.mkdir()
    path = folder / name
    settings = Settings(database_url=URL.create("sqlite+aiosqlite", database=str(path)).render_as_string(),
                        data_dir=tmp_path / "data")  # fmt: skip
    await upgrade_async(settings.database_url)
    before = sorted(folder.iterdir())
    async with open_runtime(settings) as runtime, unit_of_work(runtime.sessionmaker) as session:
        assert await session.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    assert sorted(folder.iterdir()) == before


@pytest.mark.parametrize(
    ("host", "error"), [("127.0.0.1:{port}", "ConnectionRefusedError"), ("db.invalid", "gaierror")]
)
@pytest.mark.parametrize("command", ["mailbox add", "db upgrade"])
def test_a_command_on_an_unreachable_database_fails_with_one_clear_line(
    tmp_path: Path, command: str, host: str, error: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEDESK_")}
    secret = "imap-cli-pass-5d1e"
    env.update(
        ROUTEDESK_DATABASE_URL=f"postgresql://postgres:{secret}-db@{host.format(port=free_port())}/routedesk",
        ROUTEDESK_DATA_DIR=str(tmp_path / "data"),
    )
    args = command.split()
    if command == "mailbox add":
        # --no-check: the database is what fails here, not the (unreachable) mail servers checked first.
        args += ["support", "--imap-url", f"imaps://support:{secret}@imap.example/INBOX", "--no-check"]
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2  # issue 10: a database the command cannot use is a setup mistake, exit 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot use the database "), lines[:3]
    assert error in lines[0]
    assert secret not in done.stdout + done.stderr
