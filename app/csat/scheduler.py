"""The survey scheduler: a worker loop that queues each resolution cycle's CSAT survey once its area's
delay has passed (app/csat/service.py:send_due), a batch per transaction, on the runtime's clock.

Safe to run in every worker at once and to kill at any point: a cycle's survey row and its outbox mail
are written in one transaction, and a second writer of the same cycle inserts nothing (the row's
unique keys), so no cycle is ever surveyed twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.csat import service as surveys
from app.csat.service import SurveyPass
from app.db import unit_of_work, utcnow
from app.links import LinkSigner
from app.loops import sleep_or_stop

log = structlog.get_logger()


async def send_due(
    sessionmaker: async_sessionmaker[AsyncSession], *, settings: Settings, links: LinkSigner, now: datetime
) -> SurveyPass:
    """Every survey due by `now`, a batch per transaction, until none is left."""
    total = SurveyPass()
    while True:
        async with unit_of_work(sessionmaker) as session:
            found = await surveys.send_due(session, settings=settings, links=links, now=now)
        total.sent += found.sent
        total.taken += found.taken
        for reason, count in found.skipped.items():
            total.skipped[reason] = total.skipped.get(reason, 0) + count
        if found.sent or found.skipped:
            log.info("csat_surveys_written", sent=found.sent, skipped=sum(found.skipped.values()))
        if found.written + found.taken < settings.csat.batch:
            return total


async def run_survey_scheduler(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    links: LinkSigner,
    stop: asyncio.Event,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Until `stop`: send what is due, then wait a tick."""
    while not stop.is_set():
        try:
            await send_due(sessionmaker, settings=settings, links=links, now=clock())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("csat_survey_scheduler_failed")
        await sleep_or_stop(settings.csat.tick_seconds, stop)
