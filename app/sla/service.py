"""SLA rules: which targets apply to a ticket, its clocks moved by the lifecycle's events (a Ledger:
the clocks of a few tickets, loaded once, written with the caller's transaction), the breach
recorder's step, recomputation from history, and the admin's policies and schedules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import RowWriter, utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.reports import facts
from app.routing import service as routing
from app.routing.models import Area
from app.sla import repository
from app.sla.calendar import Schedule, ScheduleError, check_week, holidays_from_ical, zone
from app.sla.clocks import Fact, FactKind, Targets, advance, due_of, nearest_due
from app.sla.models import (
    ClockRow,
    Holiday,
    Metric,
    Priority,
    SlaEvent,
    SlaEventKind,
    SlaEventRow,
    SlaPolicy,
)
from app.sla.models import Schedule as ScheduleRow
from app.sla.schemas import (
    ClockRead,
    HolidayRead,
    PolicyRead,
    PolicyWrite,
    ScheduleRead,
    ScheduleWrite,
    SlaEventRead,
    TicketSlaRead,
)

CLOCK = repository.CLOCK
EVENT = repository.EVENT
_COLUMNS = tuple(c.key for c in CLOCK.columns if c.key not in ("id", "ticket_id"))


# --- Which targets apply ------------------------------------------------------------------------


@dataclass
class Policies:
    """Every area's targets, read once per batch or action: a handful of small rows."""

    fallback: dict[int, tuple[int, int]]  # area id -> (first response, resolution) minutes
    policies: dict[int, SlaPolicy]  # by area id
    schedules: dict[int, Schedule]  # by schedule id
    _cache: dict[tuple[int, str], Targets] = field(default_factory=dict)

    def targets(self, area_id: int, priority: str) -> Targets:
        key = (area_id, priority)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._targets(area_id, priority)
        return found

    def _targets(self, area_id: int, priority: str) -> Targets:
        policy = self.policies.get(area_id)
        if policy is None:
            first, resolution = self.fallback.get(area_id, (240, 2880))
            return Targets({Metric.FIRST_REPLY: first, Metric.NEXT_REPLY: first, Metric.RESOLUTION: resolution})
        chosen = policy.targets.get(priority) or policy.targets.get(Priority.NORMAL, {})
        minutes = {Metric(metric): int(value) for metric, value in chosen.items()}
        schedule = self.schedules.get(policy.schedule_id) if policy.schedule_id is not None else None
        return Targets(minutes, business_hours=policy.business_hours, schedule=schedule, schedule_id=policy.schedule_id)


async def load_policies(session: AsyncSession) -> Policies:
    fallback = {
        row.id: (row.first_response_minutes, row.resolution_minutes) for row in await repository.area_targets(session)
    }
    policies = {p.area_id: p for p in await repository.policies(session)}
    ids = {p.schedule_id for p in policies.values() if p.schedule_id is not None}
    return Policies(fallback, policies, await _schedules(session, ids))


async def _schedules(session: AsyncSession, ids: set[int]) -> dict[int, Schedule]:
    if not ids:
        return {}
    days: dict[int, set[date]] = {i: set() for i in ids}
    for holiday in await repository.holidays(session, ids):
        days[holiday.schedule_id].add(holiday.day)
    return {
        row.id: Schedule(row.zone, _week(row.week), frozenset(days[row.id]))
        for row in await repository.schedules(session, ids)
    }


def _week(triples: Iterable[Sequence[int]]) -> dict[int, list[tuple[int, int]]]:
    week: dict[int, list[tuple[int, int]]] = {}
    for weekday, start, end in triples:
        week.setdefault(weekday, []).append((start, end))
    return week


# --- Clocks moved by the lifecycle --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Due:
    """What the ticket keeps of its clocks: the nearest running due time (claim order, queues) and
    the first reply's and resolution's due times."""

    nearest: datetime | None
    first_reply: datetime | None
    resolution: datetime | None


class Ledger:
    """The clocks of the tickets one transaction touches. Changes are rows in `writer`: the ingest
    batch's, or (`flush`) written into the session by the lifecycle after its event."""

    def __init__(self, policies: Policies, clocks: dict[int, list[ClockRow]], writer: RowWriter) -> None:
        self.policies = policies
        self.writer = writer
        self._stored = clocks
        self._new: dict[int, list[ClockRow]] = {}  # a ticket the batch opens has no id yet: by row identity
        self._touched: dict[int, Any] = {}  # every ticket moved: its id, or (until written) its row

    def apply(self, ticket: Any, fact: Fact, *, area_id: int, priority: str) -> Due:
        """Move the ticket's clocks by `fact` under the targets of its area and priority (as they
        are after the event). `ticket` is its id or, for a ticket the batch opens, its row."""
        self._touched.setdefault(id(ticket), ticket)
        if isinstance(ticket, int):
            clocks = self._stored.setdefault(ticket, [])
        else:
            stored = ticket.get("id")
            clocks = self._stored.setdefault(stored, []) if stored is not None else self._new.setdefault(id(ticket), [])
        before = [tuple(c[k] for k in _COLUMNS) for c in clocks]  # type: ignore[literal-required]
        count = len(clocks)
        advance(clocks, fact, self.policies.targets(area_id, priority), ticket=ticket, emit=self._emit)
        for clock, old in zip(clocks, before, strict=False):
            if "id" in clock and tuple(clock[k] for k in _COLUMNS) != old:  # type: ignore[literal-required]
                self.writer.changed(CLOCK, clock, *_COLUMNS)
        for clock in clocks[count:]:
            self.writer.add(CLOCK, clock)
        return Due(nearest_due(clocks), due_of(clocks, Metric.FIRST_REPLY), due_of(clocks, Metric.RESOLUTION))

    def _emit(self, event: SlaEventRow) -> None:
        self.writer.add(EVENT, event)

    async def flush(self, session: AsyncSession) -> None:
        await self.writer.write(session)

    def tickets(self) -> set[int]:
        """The ids of the tickets whose clocks moved (once written, for those the batch opened)."""
        return {t if isinstance(t, int) else t["id"] for t in self._touched.values()}


async def ledger(session: AsyncSession, ticket_ids: Iterable[int], *, writer: RowWriter | None = None) -> Ledger:
    return Ledger(
        await load_policies(session), await repository.clocks(session, set(ticket_ids)), writer or RowWriter()
    )


# --- Breaches, when they happen -------------------------------------------------------------------


async def record_breaches(session: AsyncSession, *, now: datetime) -> int:
    """Every running clock whose due time has passed is breached at its due time (a `breached`
    event). Returns how many. Claimed with SKIP LOCKED: two workers never record one breach twice."""
    count = 0
    breached: set[int] = set()
    for clock in await repository.overdue(session, now):
        due = clock["due_at"]
        assert due is not None
        if await repository.mark_breached(session, clock["id"], due):
            clock["breached_at"] = due
            writer = RowWriter()
            writer.add(
                EVENT,
                SlaEventRow(
                    ticket_id=clock["ticket_id"],
                    kind=SlaEventKind.BREACHED,
                    metric=clock["metric"],
                    cycle=clock["cycle"],
                    target_minutes=clock["target_minutes"],
                    due_at=due,
                    calendar_minutes=clock["calendar_minutes"],
                    business_minutes=clock["business_minutes"],
                    created_at=due,
                ),
            )
            await writer.write(session)
            breached.add(clock["ticket_id"])
            count += 1
    # A breach is a figure of the ticket's (its breached flags): its fact row changes with it.
    await facts.refresh(session, breached)
    return count


async def next_due(session: AsyncSession) -> datetime | None:
    return await repository.next_due(session)


# --- Recomputation from history -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One fact of a ticket's history, with the area and priority it has after it."""

    fact: Fact
    area_id: int
    priority: str


async def replace(
    session: AsyncSession, histories: dict[int, list[Step]], *, now: datetime, policies: Policies | None = None
) -> dict[int, Due]:
    """The tickets' clocks and sla_events rebuilt from their histories (as of `now`, breaches
    included), in place of the stored ones. Returns each ticket's due times."""
    policies = policies or await load_policies(session)
    await repository.forget(session, list(histories))
    book = Ledger(policies, {ticket_id: [] for ticket_id in histories}, RowWriter())
    dues: dict[int, Due] = {}
    for ticket_id, steps in histories.items():
        last: Step | None = None
        for step in steps:
            dues[ticket_id] = book.apply(ticket_id, step.fact, area_id=step.area_id, priority=step.priority)
            last = step
        if last is not None:
            tick = Fact(FactKind.TICK, now)
            dues[ticket_id] = book.apply(ticket_id, tick, area_id=last.area_id, priority=last.priority)
    await book.flush(session)
    return dues


async def clocks_of(session: AsyncSession, ticket_id: int) -> list[ClockRow]:
    return (await repository.clocks(session, [ticket_id]))[ticket_id]


async def events_of(session: AsyncSession, ticket_id: int) -> Sequence[SlaEvent]:
    return await repository.events(session, ticket_id)


async def ticket_sla(session: AsyncSession, ticket_id: int, *, priority: str) -> TicketSlaRead:
    clocks = await clocks_of(session, ticket_id)
    return TicketSlaRead(
        priority=Priority(priority),
        clocks=[ClockRead.model_validate(c) for c in clocks],
        events=[SlaEventRead.model_validate(e) for e in await events_of(session, ticket_id)],
    )


# --- Admin: schedules, holidays, policies ------------------------------------------------------


async def list_schedules(session: AsyncSession) -> Sequence[ScheduleRow]:
    return await repository.schedules(session)


async def get_schedule(session: AsyncSession, name: str) -> ScheduleRow:
    found = await repository.schedule_by_name(session, name)
    if found is None:
        raise NotFound(f"no schedule named {name!r}")
    return found


async def put_schedule(session: AsyncSession, name: str, data: ScheduleWrite) -> ScheduleRow:
    """Create or replace a schedule; a bad zone or week is refused before anything is written."""
    triples = [(i.weekday, i.start_minute, i.end_minute) for i in data.intervals]
    try:
        zone(data.zone)
        check_week(_week(triples))
    except ScheduleError as exc:
        raise InvalidInput(str(exc)) from None
    found = await repository.schedule_by_name(session, name)
    now = utcnow()
    week = [list(t) for t in sorted(triples)]
    if found is None:
        found = ScheduleRow(name=name, zone=data.zone, week=week, created_at=now, updated_at=now)
        session.add(found)
    else:
        found.zone, found.week, found.updated_at = data.zone, week, now
    await session.flush()
    return found


async def holidays(session: AsyncSession, schedule: ScheduleRow) -> Sequence[Holiday]:
    return await repository.holidays(session, [schedule.id])


async def add_holidays(session: AsyncSession, schedule: ScheduleRow, days: Iterable[tuple[date, str]]) -> int:
    """Add holidays (a date already there keeps its name). Returns how many were new."""
    known = {h.day for h in await repository.holidays(session, [schedule.id])}
    added = 0
    for day, name in days:
        if day not in known:
            session.add(Holiday(schedule_id=schedule.id, day=day, name=name[:200]))
            known.add(day)
            added += 1
    await session.flush()
    return added


async def import_holidays(session: AsyncSession, schedule: ScheduleRow, data: bytes) -> int:
    try:
        days = holidays_from_ical(data)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    return await add_holidays(session, schedule, days)


async def remove_holiday(session: AsyncSession, schedule: ScheduleRow, day: date) -> None:
    for holiday in await repository.holidays(session, [schedule.id]):
        if holiday.day == day:
            await session.delete(holiday)
            await session.flush()
            return
    raise NotFound(f"schedule {schedule.name!r} has no holiday on {day.isoformat()}")


async def list_policies(session: AsyncSession) -> Sequence[SlaPolicy]:
    return await repository.policies(session)


async def get_policy(session: AsyncSession, area: Area) -> SlaPolicy:
    found = await repository.policy_for_area(session, area.id)
    if found is None:
        raise NotFound(f"area {area.name!r} has no SLA policy")
    return found


async def put_policy(session: AsyncSession, area: Area, data: PolicyWrite) -> SlaPolicy:
    """Create or replace an area's policy. Tickets keep the targets they have until their next event
    (or `sla recompute`)."""
    schedule_id = None
    if data.schedule is not None:
        schedule_id = (await get_schedule(session, data.schedule)).id
    elif data.business_hours:
        raise InvalidInput("a policy in business hours needs a schedule")
    targets = {str(p): {str(m): v for m, v in metrics.items()} for p, metrics in data.targets.items()}
    if Priority.NORMAL not in targets:
        raise InvalidInput("targets must include the normal priority (the others fall back to it)")
    found = await repository.policy_for_area(session, area.id)
    now = utcnow()
    if found is None:
        found = SlaPolicy(area_id=area.id, created_at=now)
        session.add(found)
    found.business_hours, found.schedule_id, found.targets, found.updated_at = (
        data.business_hours,
        schedule_id,
        targets,
        now,
    )
    await session.flush()
    return found


async def delete_policy(session: AsyncSession, area: Area) -> None:
    await session.delete(await get_policy(session, area))
    await session.flush()


async def schedule_read(session: AsyncSession, schedule: ScheduleRow) -> ScheduleRead:
    days = [HolidayRead.model_validate(h) for h in await repository.holidays(session, [schedule.id])]
    return ScheduleRead.of(schedule.name, schedule.zone, schedule.week, days)


async def policy_read(session: AsyncSession, policy: SlaPolicy, *, area: str) -> PolicyRead:
    schedule = None
    if policy.schedule_id is not None:
        schedule = next((s.name for s in await repository.schedules(session, [policy.schedule_id])), None)
    return PolicyRead(area=area, business_hours=policy.business_hours, schedule=schedule, targets=policy.targets)


async def policy_reads(session: AsyncSession) -> list[PolicyRead]:
    names = {a.id: a.name for a in await routing.list_areas(session)}
    return [await policy_read(session, p, area=names[p.area_id]) for p in await repository.policies(session)]


async def delete_schedule(session: AsyncSession, name: str) -> None:
    schedule = await get_schedule(session, name)
    if any(p.schedule_id == schedule.id for p in await repository.policies(session)):
        raise Conflict(f"schedule {name!r} is used by a policy")
    await session.delete(schedule)
    await session.flush()
