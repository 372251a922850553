"""The breach recorder: a worker loop that records each SLA breach at the minute it happens, not at
the next request. It sleeps until the nearest due time of a running clock, or at most one tick."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work, utcnow
from app.sla import service as sla

log = structlog.get_logger()

Clock = Callable[[], datetime]


async def record_due(sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime) -> tuple[int, datetime | None]:
    """Record every breach due by `now`; returns how many, and the next due time after them."""
    async with unit_of_work(sessionmaker) as session:
        count = await sla.record_breaches(session, now=now)
        upcoming = await sla.next_due(session)
    if count:
        log.info("sla_breaches_recorded", count=count)
    return count, upcoming


async def run_breach_recorder(
    sessionmaker: async_sessionmaker[AsyncSession],
    stop: asyncio.Event,
    *,
    tick: float,
    clock: Clock = utcnow,
    wake: asyncio.Event | None = None,
    after_pass: Callable[[int], None] | None = None,
) -> None:
    """Until `stop`: record what is due, then sleep until the next due time (at most `tick` seconds),
    or until `wake` is set (a due time changed in this process). `after_pass` hears each pass's count."""
    wake = wake or asyncio.Event()
    while not stop.is_set():
        count = 0
        try:
            count, upcoming = await record_due(sessionmaker, now=clock())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sla_breach_recorder_failed")
            upcoming = None
        if after_pass is not None:
            after_pass(count)
        delay = tick if upcoming is None else min(tick, (upcoming - clock()).total_seconds())
        # A floor, so that a due row another worker holds locked is not asked for in a busy loop.
        delay = max(delay, 0.1)
        wake.clear()
        waiting = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
        try:
            await asyncio.wait(waiting, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
