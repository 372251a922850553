"""`routedesk demo`: the whole path on embedded defaults, nothing to install or configure.

A local IMAP server (pymap, in-process) holds sample support mail written by this project; a model
is trained on the project's labelled demo set and activated; the poller ingests and routes the
mail; acknowledgements go out through the outbox to a local SMTP sink (aiosmtpd); then the API
serves on loopback with a fresh agent token, until Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import typer
import uvicorn
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from app.config import Settings
from app.db import unit_of_work
from app.demo.articles import demo_articles
from app.demo.corpus import demo_mailbox
from app.demo.imap_server import LocalImapServer
from app.demo.macros import DEMO_MACROS
from app.demo.prepare import LABELLED
from app.http import UVICORN_OPTIONS
from app.inbox import mailboxes as inbox
from app.inbox.schemas import MailboxCreate
from app.kb import service as kb
from app.macros import service as macros
from app.macros.schemas import MacroCreate
from app.main import create_app
from app.migrate import upgrade_async
from app.ports import free_port
from app.replies.models import Outbox
from app.replies.sender import send_due
from app.routing import training
from app.routing.models import Area
from app.runtime import Runtime, open_runtime
from app.tickets.models import Ticket
from app.users import service as users
from app.worker import poll_once, run_worker
from classifiers.fitting import Fitted

SENT_DIR = "sent"


class _Sink:
    """A local SMTP server that writes what it receives as .eml files: the mail the demo sent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.received = 0
        self._lock = threading.Lock()  # aiosmtpd handles each connection in its own task of its thread

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        with self._lock:
            self.received += 1
            path = self.folder / f"{self.received:04d}.eml"
        path.write_bytes(bytes(envelope.content))
        return "250 OK"


async def _activate(runtime: Runtime, fitted: Fitted) -> dict[str, Any]:
    """The model trained before (`prepare.train_model`), stored and activated. Its child process
    already loaded the artifact back with every check, so activation does not load it again here,
    which would import scikit-learn into this process."""
    async with unit_of_work(runtime.sessionmaker) as session:
        row = await training.add_version(session, fitted, source=f"file:{LABELLED}")
        _row, created = await training.activate(
            session, row.version, create_areas=True, checked_sha256=fitted.checked_sha256
        )
    async with unit_of_work(runtime.sessionmaker) as session:
        await runtime.router.refresh(session, force=True)
    typer.echo(f"model {row.version} active; areas created for its classes: {', '.join(created)}")
    async with unit_of_work(runtime.sessionmaker) as session:
        for area_name, title, body in DEMO_MACROS:
            await macros.create_macro(session, data=MacroCreate(title=title, body=body, area=area_name))
    typer.echo(f"{len(DEMO_MACROS)} demo macros added")
    articles = demo_articles()
    async with unit_of_work(runtime.sessionmaker) as session:
        for article in articles:
            await kb.save_by_slug(session, data=article)
    typer.echo(f"{len(articles)} demo help-centre articles added: acknowledgements suggest them")
    return {"version": row.version, "threshold": row.threshold}


async def run_demo(
    settings: Settings, fitted: Fitted, *, messages: int, serve: bool, port: int | None
) -> dict[str, int]:
    """Everything after training: `fitted` comes from `prepare.train_model`, whose child process has
    ended, so that its memory and the poll's parse worker never add up."""
    home = Path(settings.data_dir)
    if settings.public_url is None:  # the acknowledgements' article links point at the demo's own API
        settings = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port or 8000}"})
    await upgrade_async(settings.database_url)
    sent_dir = home / SENT_DIR
    sent_dir.mkdir(exist_ok=True)
    sink = _Sink(sent_dir)
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        async with LocalImapServer() as server, open_runtime(settings) as runtime:
            await _activate(runtime, fitted)
            mail = demo_mailbox(messages)
            for raw in mail:
                await server.append(raw)
            typer.echo(f"local IMAP server on 127.0.0.1:{server.port} holds {len(mail)} sample support emails")
            endpoint = server.endpoint
            async with unit_of_work(runtime.sessionmaker) as session:
                await inbox.create_mailbox(
                    session,
                    MailboxCreate(
                        name="demo",
                        imap_host=endpoint.host,
                        imap_port=endpoint.port,
                        imap_security="none",
                        imap_username=endpoint.username,
                        imap_password=endpoint.password,
                        folder=endpoint.folder,
                        address="support@example.com",
                        from_name="Demo Support",
                        smtp_host="127.0.0.1",
                        smtp_port=smtp.port,
                        smtp_security="none",
                    ),
                    secrets=runtime.secrets,
                )
            counts, errors = await poll_once(runtime)
            for line in errors:
                typer.echo(f"error: {line}", err=True)
            while await send_due(runtime.sessionmaker, runtime.settings, runtime.secrets, owner="demo"):
                pass
            await _summary(runtime, sink.received, sent_dir)
            if serve:
                await _serve(runtime, port or 8000)
    finally:
        smtp.stop()
    result = counts.as_dict()
    typer.echo(json.dumps(result))
    return result


async def _summary(runtime: Runtime, delivered: int, sent_dir: Path) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        rows = (
            await session.execute(
                select(Area.name, Ticket.routed_by, func.count(Ticket.id))
                .join(Ticket)
                .group_by(Area.name, Ticket.routed_by)
            )
        ).all()
        sent = await session.scalar(select(func.count(Outbox.id)).where(Outbox.status == "sent"))
    by_area: Counter[str] = Counter()
    by_router: Counter[str] = Counter()
    for area, routed_by, n in rows:
        by_area[area] += n
        by_router[routed_by] += n
    typer.echo(f"tickets by area ({', '.join(f'{k}: {v}' for k, v in sorted(by_router.items()))}):")
    for area, n in sorted(by_area.items()):
        typer.echo(f"  {area:<24} {n}")
    typer.echo(f"acknowledgements sent through the outbox: {sent} (the local SMTP sink received {delivered})")
    typer.echo(f"the mail it sent, one .eml file each (replies sent later land there too): {sent_dir}")


async def _serve(runtime: Runtime, port: int) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        _agent, token = await users.create_user(session, name="demo-agent", email="agent@example.com", role="agent")
        _admin, admin_token = await users.create_user(
            session, name="demo-admin", email="admin@example.com", role="admin"
        )
    base = f"http://127.0.0.1:{port}"
    typer.echo(f"\nAPI: {base}/docs   (Ctrl-C to stop)")
    typer.echo(f"agent token: {token}")
    typer.echo(f"admin token: {admin_token}")
    typer.echo(f'try: curl -s -H "Authorization: Bearer {token}" {base}/api/v1/queues')
    stop = asyncio.Event()
    server = uvicorn.Server(uvicorn.Config(create_app(runtime=runtime), host="127.0.0.1", port=port, **UVICORN_OPTIONS))
    worker = asyncio.create_task(run_worker(runtime, stop, process="run"))
    try:
        await server.serve()
    finally:
        stop.set()
        await worker
