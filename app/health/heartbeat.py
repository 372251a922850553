"""The worker's heartbeat loop: a row written every health.heartbeat_seconds with the counts this
process keeps, and a last one when it stops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import HealthSettings
from app.db import unit_of_work
from app.health import service
from app.loops import sleep_or_stop
from app.metrics import WorkerMetrics, snapshot

log = structlog.get_logger()


async def beat_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    worker_id: str,
    process: str,
    metrics: WorkerMetrics,
    now: datetime,
    stopped: bool = False,
) -> None:
    async with unit_of_work(sessionmaker) as session:
        await service.beat(
            session, worker_id, process=process, now=now, metrics=snapshot(metrics.registry), stopped=stopped
        )


async def run_heartbeat(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: HealthSettings,
    stop: asyncio.Event,
    *,
    worker_id: str,
    process: str,
    metrics: WorkerMetrics,
    clock: Callable[[], datetime],
) -> None:
    async def beat(*, stopped: bool = False) -> None:
        try:
            await beat_once(
                sessionmaker, worker_id=worker_id, process=process, metrics=metrics, now=clock(), stopped=stopped
            )
        except Exception as exc:  # the database blinked: the next beat tries again
            log.warning("heartbeat_failed", worker=worker_id, error=type(exc).__name__)

    while not stop.is_set():
        await beat()
        await sleep_or_stop(settings.heartbeat_seconds, stop)
    await asyncio.shield(beat(stopped=True))
