from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.db import unit_of_work
from app.demo import run as demo
from app.macros.models import Macro
from app.replies.models import Outbox
from app.runtime import open_runtime
from app.tickets.models import Ticket


async def test_demo_trains_routes_acknowledges_and_seeds_macros(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = demo.demo_settings(Settings(data_dir=tmp_path / "data"))
    counts = await demo.run_demo(settings, messages=30, serve=False, port=None)
    assert counts["fetched"] == counts["ingested"] == 30
    assert counts["failed"] == 0
    async with open_runtime(settings) as runtime, unit_of_work(runtime.sessionmaker) as session:
        routed = dict((await session.execute(select(Ticket.routed_by, func.count()).group_by(Ticket.routed_by))).all())
        sent = await session.scalar(select(func.count()).select_from(Outbox).where(Outbox.status == "sent"))
        macros = await session.scalar(select(func.count()).select_from(Macro))
    assert routed.get("model", 0) > 0
    assert sent == sum(routed.values())
    assert macros == len(demo.DEMO_MACROS)
