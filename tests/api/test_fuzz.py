"""Schemathesis against the app's own OpenAPI schema: generated valid and invalid requests to every
operation, on SQLite and PostgreSQL. No request may get a 5xx; a refused one gets a JSON error
{"error", "detail"} and leaves every table as it was.

The run is bounded and deterministic: few examples per operation, derandomized, no example database.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db import Base, create_engine, create_sessionmaker, unit_of_work
from app.inbox import ingest, mailboxes
from app.inbox.parsing import prepare
from app.inbox.schemas import MailboxCreate
from app.macros import service as macros
from app.macros.schemas import MacroCreate
from app.main import create_app
from app.routing import service as routing
from app.routing.schemas import AreaCreate
from app.runtime import open_runtime
from app.users import service as users
from tests.conftest import POSTGRES_URL
from tests.mailgen import mail

EXAMPLES_PER_OPERATION = 6


@dataclass
class FuzzTarget:
    schema: Any
    headers: dict[str, str]
    fingerprint: Callable[[], str]
    last_fingerprint: str = ""


async def _seed(settings: Settings) -> str:
    """Something for every operation to find: users, an area, a macro, a mailbox, tickets. Returns an
    admin token (the fuzzer should reach the handlers, not stop at authentication)."""
    async with open_runtime(settings) as runtime, unit_of_work(runtime.sessionmaker) as session:
        # A name no generated path parameter will hit: revoking the fuzzer's own token would end the run.
        _admin, token = await users.create_user(
            session, name=f"fuzz-{uuid.uuid4().hex}", email="f@x.example", role="admin"
        )
        await users.create_user(session, name="ana", email="ana@routedesk.example", role="agent")
        await routing.create_area(session, AreaCreate(name="payouts"))
        await macros.create_macro(session, data=MacroCreate(title="Hello", body="Hi {customer_name}"))
        mailbox = await mailboxes.create_mailbox(
            session,
            MailboxCreate(
                name="support",
                imap_host="127.0.0.1",
                imap_username="support@routedesk.example",
                imap_password="secret",
                address="support@routedesk.example",
                smtp_host="127.0.0.1",
                smtp_port=2525,
                smtp_security="none",
            ),
            secrets=runtime.secrets,
        )
        batch = [
            prepare(mail(subject=f"Question {i}", sender=f"c{i}@merchant.example"), None, max_attachment_bytes=1024)
            for i in range(3)
        ]
        await ingest.ingest_batch(
            session,
            batch,
            source=ingest.Source(mailbox_id=mailbox.id, uidvalidity=None),
            settings=settings,
            router=runtime.router,
        )
        return token


async def _fingerprint(engine: AsyncEngine) -> str:
    digest = hashlib.sha256()
    async with unit_of_work(create_sessionmaker(engine)) as session:
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            for row in (await session.execute(select(table).order_by(*order))).all():
                digest.update(repr((table.name, tuple(row))).encode())
    return digest.hexdigest()


def _database(kind: str, request: pytest.FixtureRequest, tmp: Path) -> tuple[str, Callable[[BlockingPortal], None]]:
    if kind == "sqlite":
        path = tmp / "fuzz.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}", lambda _portal: None
    template: str = request.getfixturevalue("postgres_template")
    assert POSTGRES_URL
    name = f"routedesk_fuzz_{uuid.uuid4().hex[:10]}"
    admin_dsn = POSTGRES_URL

    async def sql(statement: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    with start_blocking_portal() as portal:
        portal.call(sql, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = POSTGRES_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    return url, lambda portal: portal.call(sql, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    tmp = tmp_path_factory.mktemp("fuzz")
    url, drop = _database(request.param, request, tmp)
    config = Settings(database_url=url, data_dir=tmp / "data", secret_key=None, ingest={"parse_workers": 0})
    # The fingerprints read the database from an event loop of their own; the app runs in schemathesis's.
    with start_blocking_portal() as portal:
        token = portal.call(_seed, config)
        engine = create_engine(url)
        app = create_app(config)
        try:
            schema = schemathesis.openapi.from_asgi("/openapi.json", app)
            target = FuzzTarget(
                schema=schema,
                headers={"Authorization": f"Bearer {token}"},
                fingerprint=lambda: portal.call(_fingerprint, engine),
            )
            target.last_fingerprint = target.fingerprint()
            yield target
        finally:
            shutdown_lifespans()  # the app's lifespan closes its engine before the database goes
            portal.call(engine.dispose)
            drop(portal)


def _fuzz_operation(target: FuzzTarget, operation: Any, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        # Only requests change the data: what the last one left is what this one starts from.
        before = target.last_fingerprint
        response = case.call(headers=target.headers)
        target.last_fingerprint = target.fingerprint()
        case.validate_response(response, checks=[not_a_server_error])
        if 400 <= response.status_code < 500:
            body = response.json()
            assert isinstance(body, dict), response.text[:300]
            assert isinstance(body.get("error"), str) and isinstance(body.get("detail"), str), response.text[:300]
            assert target.last_fingerprint == before, f"a refused request ({response.status_code}) changed the data"

    run()


def test_generated_requests_get_no_5xx_and_refusals_change_nothing(fuzz_target: FuzzTarget) -> None:
    # schemathesis's own pytest loader (from_fixture) does not run on pytest 9 (it reads Function._nodeid),
    # so the operations are driven here, one hypothesis run per operation and generation mode.
    failures = []
    operations = [result.ok() for result in fuzz_target.schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz_operation(fuzz_target, operation, mode)
            except Exception as exc:
                # A flaky failure (hypothesis's group) says what failed only in its sub-exceptions.
                inner = "".join(f"\n  {type(e).__name__}: {str(e)[:1500]}" for e in getattr(exc, "exceptions", ()))
                failures.append(f"{operation.label} ({mode}): {type(exc).__name__}: {str(exc)[:1500]}{inner}")
    assert not failures, "\n\n".join(failures)
