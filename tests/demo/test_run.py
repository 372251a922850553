from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import func, select

from app.config import Settings
from app.db import unit_of_work
from app.demo import prepare
from app.demo import run as demo
from app.demo.articles import demo_articles
from app.demo.macros import DEMO_MACROS
from app.kb.models import Article, ArticleSuggestion
from app.macros.models import Macro
from app.replies.models import Outbox
from app.runtime import Runtime, open_runtime
from app.tickets.models import Ticket


async def test_demo_trains_routes_acknowledges_and_seeds_macros(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = prepare.demo_settings(Settings(data_dir=tmp_path / "data"))
    fitted = await prepare.train_model(settings)
    assert fitted.checked_sha256 is not None  # its child loaded the artifact back with every check
    counts = await demo.run_demo(settings, fitted, messages=30, serve=False, port=None)
    assert counts["fetched"] == counts["ingested"] == 30
    assert counts["failed"] == 0
    async with open_runtime(settings) as runtime, unit_of_work(runtime.sessionmaker) as session:
        routed = dict((await session.execute(select(Ticket.routed_by, func.count()).group_by(Ticket.routed_by))).all())
        sent = await session.scalar(select(func.count()).select_from(Outbox).where(Outbox.status == "sent"))
        macros = await session.scalar(select(func.count()).select_from(Macro))
        articles = await session.scalar(select(func.count()).select_from(Article).where(Article.published))
        suggested = await session.scalar(select(func.count(func.distinct(ArticleSuggestion.ticket_id))))
    assert routed.get("model", 0) > 0
    assert sent == sum(routed.values())
    assert macros == len(DEMO_MACROS)
    # The demo's help centre, and acknowledgements that suggest its articles with links to the demo's API.
    assert articles == len(demo_articles())
    assert suggested and suggested > 0
    texts = []
    for path in (Path(settings.data_dir) / demo.SENT_DIR).glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        texts.append(message.get_content())
    assert sum("http://127.0.0.1:8000/help/answered?token=" in text for text in texts) == suggested


async def test_the_demo_server_takes_the_client_address_from_the_socket_not_x_forwarded_for(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # uvicorn's default proxy_headers believes X-Forwarded-For from 127.0.0.1, where the demo listens:
    # any local client could then pick the address the failed-authentication throttle counts.
    configured: list[dict[str, Any]] = []

    class Configured(Exception):
        pass

    def config(*_args: Any, **kwargs: Any) -> None:
        configured.append(kwargs)
        raise Configured

    monkeypatch.setattr(uvicorn, "Config", config)
    with pytest.raises(Configured):
        await demo._serve(runtime, 8000)
    assert configured and configured[0]["proxy_headers"] is False
