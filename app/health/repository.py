from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.health.models import WorkerHeartbeat


async def beat(
    session: AsyncSession,
    worker_id: str,
    *,
    process: str,
    now: datetime,
    metrics: dict[str, Any],
    stopped: bool = False,
) -> None:
    row = await session.get(WorkerHeartbeat, worker_id)
    if row is None:
        row = WorkerHeartbeat(worker_id=worker_id, process=process, started_at=now)
        session.add(row)
    row.beaten_at = now
    row.metrics = metrics
    row.stopped_at = now if stopped else None


async def newest_beat(session: AsyncSession) -> datetime | None:
    newest: datetime | None = await session.scalar(select(func.max(WorkerHeartbeat.beaten_at)))
    return newest


async def worker_metrics(session: AsyncSession, *, excluding: Collection[str]) -> Sequence[dict[str, Any]]:
    query = select(WorkerHeartbeat.metrics)
    if excluding:
        query = query.where(WorkerHeartbeat.worker_id.not_in(excluding))
    return (await session.scalars(query)).all()
