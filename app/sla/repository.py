from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.routing.models import Area
from app.sla.models import ClockRow, ClockState, Holiday, Schedule, SlaClock, SlaEvent, SlaPolicy

CLOCK = cast(Table, SlaClock.__table__)
EVENT = cast(Table, SlaEvent.__table__)


async def area_targets(session: AsyncSession) -> Sequence[Any]:
    """Every area's own two targets, the fallback where it has no policy."""
    return (await session.execute(select(Area.id, Area.first_response_minutes, Area.resolution_minutes))).all()


async def policies(session: AsyncSession) -> Sequence[SlaPolicy]:
    return (await session.scalars(select(SlaPolicy).order_by(SlaPolicy.id))).all()


async def schedules(session: AsyncSession, ids: Collection[int] | None = None) -> Sequence[Schedule]:
    query = select(Schedule).order_by(Schedule.name)
    if ids is not None:
        query = query.where(Schedule.id.in_(ids))
    return (await session.scalars(query)).all()


async def holidays(session: AsyncSession, schedule_ids: Collection[int]) -> Sequence[Holiday]:
    if not schedule_ids:
        return []
    return (
        await session.scalars(
            select(Holiday).where(Holiday.schedule_id.in_(schedule_ids)).order_by(Holiday.schedule_id, Holiday.day)
        )
    ).all()


async def schedule_by_name(session: AsyncSession, name: str) -> Schedule | None:
    return await session.scalar(select(Schedule).where(Schedule.name == name))


async def policy_for_area(session: AsyncSession, area_id: int) -> SlaPolicy | None:
    return await session.scalar(select(SlaPolicy).where(SlaPolicy.area_id == area_id))


async def clocks(session: AsyncSession, ticket_ids: Collection[int]) -> dict[int, list[ClockRow]]:
    found: dict[int, list[ClockRow]] = {ticket_id: [] for ticket_id in ticket_ids}
    if not ticket_ids:
        return found
    rows = await session.execute(
        select(CLOCK).where(CLOCK.c.ticket_id.in_(ticket_ids)).order_by(CLOCK.c.ticket_id, CLOCK.c.id)
    )
    for row in rows.mappings():
        found[row["ticket_id"]].append(cast(ClockRow, dict(row)))
    return found


async def events(session: AsyncSession, ticket_id: int) -> Sequence[SlaEvent]:
    return (await session.scalars(select(SlaEvent).where(SlaEvent.ticket_id == ticket_id).order_by(SlaEvent.id))).all()


async def forget(session: AsyncSession, ticket_ids: Collection[int]) -> None:
    await session.execute(delete(EVENT).where(EVENT.c.ticket_id.in_(ticket_ids)))
    await session.execute(delete(CLOCK).where(CLOCK.c.ticket_id.in_(ticket_ids)))


def _unbreached_running() -> Any:
    return (CLOCK.c.state == ClockState.RUNNING) & CLOCK.c.breached_at.is_(None)


async def overdue(session: AsyncSession, now: datetime, *, limit: int = 500) -> list[ClockRow]:
    rows = await session.execute(
        select(CLOCK)
        .where(_unbreached_running(), CLOCK.c.due_at <= now)
        .order_by(CLOCK.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [cast(ClockRow, dict(row)) for row in rows.mappings()]


async def mark_breached(session: AsyncSession, clock_id: int, at: datetime) -> bool:
    result = await session.execute(
        update(CLOCK).where(CLOCK.c.id == clock_id, CLOCK.c.breached_at.is_(None)).values(breached_at=at)
    )
    return bool(getattr(result, "rowcount", 0))


async def next_due(session: AsyncSession) -> datetime | None:
    return cast(
        "datetime | None",
        await session.scalar(select(CLOCK.c.due_at).where(_unbreached_running()).order_by(CLOCK.c.due_at).limit(1)),
    )
