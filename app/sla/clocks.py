"""The SLA clocks of one ticket, moved by what happens to it: a pure function of the clocks as they
are, the fact, and the targets that apply. The lifecycle's events drive it live (app/sla/service.py),
and `routedesk sla recompute` replays a ticket's history through the same steps, so that a
recomputation equals the live state by construction.

The rules, whole:
- created: first reply and resolution start (`applied`).
- a customer's message: on a pending or solved ticket it reopens, and every paused clock resumes
  (resolution too, summed over cycles); then, when no reply is owed (first reply answered and no next
  reply open), a new next-reply cycle starts.
- a public reply by a person fulfils the open reply clocks.
- pending pauses every running clock; solved pauses the reply clocks and fulfils resolution; open
  again (by an agent) resumes them.
- a re-route or a priority change applies the new targets to the time already counted (`applied`).
- before any fact, and on the worker's tick, a running clock whose due time has passed is breached
  at its due time. A due time is never before the moment its target was applied, so a target that
  is already exceeded breaches at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from app.sla.calendar import Schedule
from app.sla.models import REPLY_METRICS, ClockRow, ClockState, Metric, SlaEventKind, SlaEventRow

_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Targets:
    """What applies to a ticket now: minutes per metric (a metric missing has no clock), counted in
    business hours of `schedule` when `business_hours`. `schedule` also measures every clock's
    business minutes; without one they equal calendar minutes."""

    minutes: Mapping[Metric, int]
    business_hours: bool = False
    schedule: Schedule | None = None
    schedule_id: int | None = None


class FactKind(StrEnum):
    CREATED = "created"
    CUSTOMER_MESSAGE = "customer_message"
    REPLIED = "replied"
    PENDING = "pending"
    SOLVED = "solved"
    OPENED = "opened"  # pending or solved -> open by an agent
    RETARGETED = "retargeted"  # re-route, priority change
    TICK = "tick"  # only the breach check


@dataclass(frozen=True, slots=True)
class Fact:
    kind: FactKind
    at: datetime
    reopens: bool = False  # a customer's message on a pending or solved ticket


Emit = Callable[[SlaEventRow], None]


def advance(clocks: list[ClockRow], fact: Fact, targets: Targets, *, ticket: object, emit: Emit) -> None:
    """Move a ticket's clocks (in place; new ones appended) by one fact."""
    at = fact.at
    for clock in clocks:
        due = clock["due_at"]
        if clock["state"] == ClockState.RUNNING and clock["breached_at"] is None and due is not None and due <= at:
            clock["breached_at"] = due
            _emit(emit, clock, SlaEventKind.BREACHED, due)
    kind = fact.kind
    if kind == FactKind.TICK:
        return
    if kind == FactKind.CREATED:
        for metric in (Metric.FIRST_REPLY, Metric.RESOLUTION):
            _start(clocks, metric, 0, at, targets, ticket=ticket, emit=emit)
    elif kind == FactKind.CUSTOMER_MESSAGE:
        if fact.reopens:
            _resume_all(clocks, at, targets, emit)
        if not any(c["metric"] in REPLY_METRICS and c["state"] != ClockState.FULFILLED for c in clocks):
            answered = [c for c in clocks if c["metric"] == Metric.FIRST_REPLY]
            if answered:  # no first reply clock: the policy has no reply targets
                cycle = 1 + max((c["cycle"] for c in clocks if c["metric"] == Metric.NEXT_REPLY), default=0)
                _start(clocks, Metric.NEXT_REPLY, cycle, at, targets, ticket=ticket, emit=emit)
    elif kind == FactKind.REPLIED:
        for clock in clocks:
            if clock["metric"] in REPLY_METRICS and clock["state"] != ClockState.FULFILLED:
                _stop(clock, at, targets)
                clock["state"], clock["fulfilled_at"] = ClockState.FULFILLED, at
                _emit(emit, clock, SlaEventKind.FULFILLED, at)
    elif kind in (FactKind.PENDING, FactKind.SOLVED):
        for clock in clocks:
            solves = kind == FactKind.SOLVED and clock["metric"] == Metric.RESOLUTION
            if solves and clock["state"] != ClockState.FULFILLED:
                _stop(clock, at, targets)
                clock["state"], clock["fulfilled_at"] = ClockState.FULFILLED, at
                _emit(emit, clock, SlaEventKind.FULFILLED, at)
            elif clock["state"] == ClockState.RUNNING:
                _stop(clock, at, targets)
                clock["state"] = ClockState.PAUSED
                _emit(emit, clock, SlaEventKind.PAUSED, at)
            elif (
                kind == FactKind.PENDING and clock["metric"] == Metric.RESOLUTION and clock["fulfilled_at"] is not None
            ):
                # Solved -> pending: not resolved any more, and still not counting.
                clock["state"], clock["fulfilled_at"] = ClockState.PAUSED, None
                _emit(emit, clock, SlaEventKind.PAUSED, at)
    elif kind == FactKind.OPENED:
        _resume_all(clocks, at, targets, emit)
    elif kind == FactKind.RETARGETED:
        for clock in clocks:
            if clock["state"] == ClockState.FULFILLED:
                continue
            minutes = targets.minutes.get(clock["metric"])
            if minutes is None:
                continue
            if clock["state"] == ClockState.RUNNING:
                _stop(clock, at, targets)
                clock["running_since"] = at
            _target(clock, minutes, targets)
            if clock["state"] == ClockState.RUNNING:
                clock["due_at"] = _due(clock, at, targets)
            _emit(emit, clock, SlaEventKind.APPLIED, at)


def nearest_due(clocks: list[ClockRow]) -> datetime | None:
    """The earliest due time among running clocks (breached ones included: they are the most late)."""
    return min(
        (c["due_at"] for c in clocks if c["state"] == ClockState.RUNNING and c["due_at"] is not None), default=None
    )


def due_of(clocks: list[ClockRow], metric: Metric) -> datetime | None:
    found = [c for c in clocks if c["metric"] == metric]
    return found[-1]["due_at"] if found else None


def _start(
    clocks: list[ClockRow], metric: Metric, cycle: int, at: datetime, targets: Targets, *, ticket: object, emit: Emit
) -> None:
    minutes = targets.minutes.get(metric)
    if minutes is None:
        return
    clock: ClockRow = {
        "ticket_id": ticket,
        "metric": metric,
        "cycle": cycle,
        "state": ClockState.RUNNING,
        "target_minutes": minutes,
        "business_hours": targets.business_hours,
        "schedule_id": targets.schedule_id,
        "started_at": at,
        "running_since": at,
        "due_at": None,
        "fulfilled_at": None,
        "breached_at": None,
        "calendar_minutes": 0.0,
        "business_minutes": 0.0,
    }
    clock["due_at"] = _due(clock, at, targets)
    clocks.append(clock)
    _emit(emit, clock, SlaEventKind.APPLIED, at)


def _resume_all(clocks: list[ClockRow], at: datetime, targets: Targets, emit: Emit) -> None:
    for clock in clocks:
        resumes = clock["state"] == ClockState.PAUSED or (
            clock["metric"] == Metric.RESOLUTION and clock["state"] == ClockState.FULFILLED
        )
        if not resumes:
            continue
        minutes = targets.minutes.get(clock["metric"])
        if minutes is not None:
            _target(clock, minutes, targets)
        clock["state"], clock["fulfilled_at"], clock["running_since"] = ClockState.RUNNING, None, at
        clock["due_at"] = _due(clock, at, targets)
        _emit(emit, clock, SlaEventKind.RESUMED, at)


def _target(clock: ClockRow, minutes: int, targets: Targets) -> None:
    clock["target_minutes"] = minutes
    clock["business_hours"] = targets.business_hours
    clock["schedule_id"] = targets.schedule_id


def _stop(clock: ClockRow, at: datetime, targets: Targets) -> None:
    """Count the running stretch up to `at`; the clock is then not running (unless restarted)."""
    since = clock["running_since"]
    if since is None:
        return
    if at > since:
        calendar = (at - since) / _MINUTE
        clock["calendar_minutes"] += calendar
        schedule = targets.schedule
        clock["business_minutes"] += schedule.business_minutes(since, at) if schedule is not None else calendar
    clock["running_since"] = None


def _due(clock: ClockRow, at: datetime, targets: Targets) -> datetime:
    """When a clock running from `at` meets its target; `at` itself when it already has."""
    schedule = targets.schedule
    if targets.business_hours and schedule is not None:
        left = clock["target_minutes"] - clock["business_minutes"]
        return schedule.add_minutes(at, left) if left > 0 else at
    left = clock["target_minutes"] - clock["calendar_minutes"]
    return at + timedelta(minutes=left) if left > 0 else at


def _emit(emit: Emit, clock: ClockRow, kind: SlaEventKind, at: datetime) -> None:
    emit(
        {
            "ticket_id": clock["ticket_id"],
            "kind": kind,
            "metric": clock["metric"],
            "cycle": clock["cycle"],
            "target_minutes": clock["target_minutes"],
            "due_at": clock["due_at"],
            "calendar_minutes": clock["calendar_minutes"],
            "business_minutes": clock["business_minutes"],
            "created_at": at,
        }
    )
