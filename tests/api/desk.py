"""A help desk for API and outbox tests: the app on a fresh database (SQLite and PostgreSQL), reached
through httpx, with a mailbox whose SMTP server is the test's real aiosmtpd, an admin and an agent.

Fixtures `api_app` and `desk` (a `Desk`, below); the conftests of tests/api and tests/replies import
them. Tickets are made the way production makes them: mail goes through ingestion (`desk.ingest`).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.sql import Executable

from app.db import unit_of_work
from app.inbox import mailboxes
from app.inbox.ingest import IngestCounts, Source, ingest_batch
from app.inbox.models import Mailbox, Message
from app.inbox.parsing import prepare
from app.inbox.schemas import MailboxCreate
from app.kb import deflection
from app.main import create_app
from app.replies.sender import send_due
from app.runtime import Runtime
from app.users import service as users
from tests.fixtures.smtp import SmtpTestServer

SUPPORT = "support@routedesk.example"

# For a request refused by validation before any SQL runs, the engine makes no difference: run such a
# test on SQLite alone (a PostgreSQL database per test costs most of a second).
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
_names = itertools.count(1)


@dataclass
class Desk:
    runtime: Runtime
    app: FastAPI
    smtp: SmtpTestServer
    mailbox_id: int
    _clients: list[httpx.AsyncClient] = field(default_factory=list)
    admin: httpx.AsyncClient = field(init=False)
    agent: httpx.AsyncClient = field(init=False)

    @property
    def settings(self) -> Any:
        return self.runtime.settings

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://test/api/v1", headers=headers
        )
        self._clients.append(client)
        return client

    async def new_user(self, role: str = "agent", name: str | None = None) -> tuple[str, str]:
        """A user made through the admin API: (name, token)."""
        name = name or f"{role}{next(_names)}"
        response = await self.admin.post(
            "/admin/users", json={"name": name, "email": f"{name}@routedesk.example", "role": role}
        )
        assert response.status_code == 201, response.text
        return name, response.json()["token"]

    async def new_agent(self, name: str | None = None) -> httpx.AsyncClient:
        return self.client((await self.new_user("agent", name))[1])

    async def ingest(self, *raws: bytes, mailbox_id: int | None = -1) -> IngestCounts:
        """Store mail as the poller would, from this desk's mailbox (or `mailbox_id`, None for none)."""
        mailbox = self.mailbox_id if mailbox_id == -1 else mailbox_id
        batch = [prepare(raw, None, max_attachment_bytes=1024 * 1024) for raw in raws]
        source = Source(mailbox_id=mailbox, uidvalidity=None, own_addresses=frozenset({SUPPORT}))
        async with unit_of_work(self.runtime.sessionmaker) as session:
            # As the poller does: with a public address, acknowledgements suggest help-centre articles.
            suggester = await deflection.suggester(
                session, cache=self.runtime.help_centre, links=self.runtime.links, public_url=self.settings.public_url
            )
            return await ingest_batch(
                session, batch, source=source, settings=self.settings, router=self.runtime.router, suggester=suggester
            )

    async def ticket_of(self, message_id: str) -> int:
        ticket_id = await self.scalar(
            select(Message.ticket_id).where(Message.message_id == message_id.strip().strip("<>"))
        )
        assert ticket_id is not None, f"{message_id} is on no ticket"
        return int(ticket_id)

    async def new_ticket(self, raw: bytes) -> int:
        counts = await self.ingest(raw)
        assert counts.ingested == 1, counts
        parsed = prepare(raw, None, max_attachment_bytes=0).parsed
        assert parsed is not None and parsed.message_id
        return await self.ticket_of(parsed.message_id)

    async def scalar(self, query: Executable) -> Any:
        async with unit_of_work(self.runtime.sessionmaker) as session:
            return await session.scalar(query)

    async def all(self, query: Executable) -> list[Any]:
        async with unit_of_work(self.runtime.sessionmaker) as session:
            return list((await session.scalars(query)).all())

    async def execute(self, statement: Executable) -> None:
        async with unit_of_work(self.runtime.sessionmaker) as session:
            await session.execute(statement)

    async def send_due(self, *, owner: str = "test-sender", **smtp: Any) -> int:
        """One pass of the outbox sender, with SMTP settings changed by `smtp` (e.g. retry_initial)."""
        settings = self.settings.model_copy(update={"smtp": self.settings.smtp.model_copy(update=smtp)})
        return await send_due(self.runtime.sessionmaker, settings, self.runtime.secrets, owner=owner)


async def add_mailbox(runtime: Runtime, smtp: SmtpTestServer, **fields: Any) -> Mailbox:
    data = {
        "name": f"support{next(_names)}",
        "imap_host": "127.0.0.1",
        "imap_port": 993,
        "imap_username": SUPPORT,
        "imap_password": "imap-secret",
        "address": SUPPORT,
        "from_name": "Routedesk Support",
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "smtp_security": "none",
        **fields,
    }
    async with unit_of_work(runtime.sessionmaker) as session:
        return await mailboxes.create_mailbox(session, MailboxCreate(**data), secrets=runtime.secrets)


@pytest.fixture
async def api_app(request: pytest.FixtureRequest, runtime: Runtime) -> AsyncIterator[FastAPI]:
    """The app on this test's runtime. A test that adds routes to it is marked `own_app` and gets an app
    of its own, so that no route outlives its test."""
    own = create_app(runtime=runtime)
    shared = request.node.get_closest_marker("own_app") is None
    app: FastAPI = request.getfixturevalue("worker_app") if shared else own
    routes = list(app.routes)
    # httpx's ASGITransport sends no lifespan events: run the lifespan here, as a server would. It is the
    # lifespan of an app made for this runtime: run on `app`, it attaches the runtime, its settings and a
    # fresh throttle of failed authentication to `app.state`, replacing the previous test's.
    async with own.router.lifespan_context(app):
        yield app
    assert not shared or app.routes == routes, "the test added routes to the shared app: mark it @pytest.mark.own_app"


@pytest.fixture
async def desk(runtime: Runtime, api_app: FastAPI, smtp_server: SmtpTestServer) -> AsyncIterator[Desk]:
    async with unit_of_work(runtime.sessionmaker) as session:
        _admin, admin_token = await users.create_user(
            session, name="root", email="root@routedesk.example", role="admin"
        )
    mailbox = await add_mailbox(runtime, smtp_server)
    desk = Desk(runtime=runtime, app=api_app, smtp=smtp_server, mailbox_id=mailbox.id)
    desk.admin = desk.client(admin_token)
    desk.agent = await desk.new_agent("ana")
    try:
        yield desk
    finally:
        for client in desk._clients:
            await client.aclose()
