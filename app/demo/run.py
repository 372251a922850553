"""`routedesk demo`: the whole inbound path on embedded defaults, nothing to install or configure."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import typer
from sqlalchemy import func, select

from app.config import Settings
from app.db import unit_of_work
from app.demo.corpus import demo_mailbox
from app.inbox import service as inbox
from app.inbox.models import Message
from app.mail.imap import parse_imap_url
from app.mail.local_imap import LocalImapServer
from app.migrate import upgrade_async
from app.routing.models import Area
from app.runtime import open_runtime
from app.tickets.models import Ticket
from app.worker import poll_once

DEMO_DIR = Path("routedesk-demo")


def demo_settings(settings: Settings) -> Settings:
    """A fresh SQLite file each run, left in place afterwards for anyone who wants to look at it."""
    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    DEMO_DIR.mkdir()
    return settings.model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{(DEMO_DIR / 'routedesk.db').resolve()}",
            "data_dir": DEMO_DIR / "data",
        }
    )


async def run_demo(settings: Settings, *, messages: int) -> dict[str, int]:
    await upgrade_async(settings.database_url)
    async with LocalImapServer() as server:
        mail = demo_mailbox(messages)
        for raw in mail:
            await server.append(raw)
        typer.echo(f"local IMAP server on 127.0.0.1:{server.port} holds {len(mail)} sample support emails")
        async with open_runtime(settings) as runtime:
            async with unit_of_work(runtime.sessionmaker) as session:
                await inbox.add_mailbox(
                    session, name="demo", endpoint=parse_imap_url(server.url), secrets=runtime.secrets
                )
            counts, errors = await poll_once(runtime)
            for line in errors:
                typer.echo(f"error: {line}", err=True)
            async with unit_of_work(runtime.sessionmaker) as session:
                by_area = Counter(
                    dict(
                        (
                            await session.execute(
                                select(Area.name, func.count(Ticket.id)).join(Ticket).group_by(Area.name)
                            )
                        ).all()
                    )
                )
                stored = await session.scalar(select(func.count(Message.id)))
    typer.echo(f"stored {stored} messages in {DEMO_DIR / 'routedesk.db'}; tickets by area:")
    for area, n in sorted(by_area.items()):
        typer.echo(f"  {area:<24} {n}")
    result = counts.as_dict()
    typer.echo(json.dumps(result))
    return result
