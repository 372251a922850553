"""The worker heartbeat and what /readyz and /metrics read of it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import HealthSettings
from app.health import repository
from app.metrics import Snapshot


async def beat(
    session: AsyncSession,
    worker_id: str,
    *,
    process: str,
    now: datetime,
    metrics: Snapshot,
    stopped: bool = False,
) -> None:
    await repository.beat(session, worker_id, process=process, now=now, metrics=metrics, stopped=stopped)


async def newest_beat(session: AsyncSession) -> datetime | None:
    return await repository.newest_beat(session)


def worker_problem(newest: datetime | None, *, now: datetime, settings: HealthSettings, in_process: bool) -> str | None:
    """Why the workers are not healthy, or None. A worker is expected when one runs in this process
    (`routedesk run`), when settings.require_worker says so, or once any worker has ever beaten; then
    the newest heartbeat must be at most heartbeat_stale_seconds old. `serve` alone, where no worker
    has ever beaten, is ready: it may be an API-only deployment that has no mail to move yet."""
    if newest is None:
        if in_process or settings.require_worker:
            return "no worker has sent a heartbeat"
        return None
    age = (now - newest).total_seconds()
    if age > settings.heartbeat_stale_seconds:
        return f"stale: the newest worker heartbeat is {age:.0f} s old (limit {settings.heartbeat_stale_seconds:g} s)"
    return None


async def worker_snapshots(session: AsyncSession, *, excluding: Collection[str]) -> list[Snapshot]:
    """The counts in every worker's heartbeat row but those of `excluding` (read live instead)."""
    return [dict(row) for row in await repository.worker_metrics(session, excluding=excluding)]
