"""SLA tables: schedules with their holidays, a policy per area, and per ticket its clocks (one row
per metric and cycle) and the sla_event log of every change to them."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, StringEnum, utcnow


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Metric(StrEnum):
    FIRST_REPLY = "first_reply"  # created -> first public reply by a person
    NEXT_REPLY = "next_reply"  # oldest unanswered customer message -> the next public reply
    RESOLUTION = "resolution"  # created -> solved, summed over reopen cycles, paused while pending


REPLY_METRICS = (Metric.FIRST_REPLY, Metric.NEXT_REPLY)


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    FULFILLED = "fulfilled"


class SlaEventKind(StrEnum):
    APPLIED = "applied"  # a clock started, or its target changed (re-route, priority)
    PAUSED = "paused"
    RESUMED = "resumed"
    FULFILLED = "fulfilled"
    BREACHED = "breached"


class Schedule(Base):
    """Business hours: weekly intervals in an IANA zone. `week` holds [weekday, start, end] triples,
    weekday 0 for Monday, start and end in wall-clock minutes of the day (end up to 1440)."""

    __tablename__ = "schedule"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    zone: Mapped[str] = mapped_column(String(64))
    week: Mapped[list[list[int]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Holiday(Base):
    __tablename__ = "holiday"
    __table_args__ = (UniqueConstraint("schedule_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedule.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(200), default="")


class SlaPolicy(Base):
    """An area's targets: `targets[priority][metric]` in minutes, counted in business hours of
    `schedule` when `business_hours`, else in calendar time. A priority without targets uses normal's;
    a metric without a target has no clock. An area without a policy keeps its own two targets
    (first_response_minutes for both reply metrics, resolution_minutes), in calendar time."""

    __tablename__ = "sla_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="CASCADE"), unique=True)
    business_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedule.id", ondelete="RESTRICT"), default=None)
    targets: Mapped[dict[str, dict[str, int]]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaClock(Base):
    """One metric of one ticket, for one cycle (first reply and resolution have cycle 0; each next
    reply its own). Minutes are what has been counted up to `running_since` (all of them once the
    clock stopped); while running, the clock is counting from `running_since` on."""

    __tablename__ = "sla_clock"
    __table_args__ = (UniqueConstraint("ticket_id", "metric", "cycle"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    metric: Mapped[Metric] = mapped_column(StringEnum(Metric, 16))
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[ClockState] = mapped_column(StringEnum(ClockState, 16))
    target_minutes: Mapped[int] = mapped_column(Integer)
    business_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedule.id", ondelete="SET NULL"), default=None)
    started_at: Mapped[datetime] = mapped_column()
    running_since: Mapped[datetime | None] = mapped_column(default=None)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    fulfilled_at: Mapped[datetime | None] = mapped_column(default=None)
    breached_at: Mapped[datetime | None] = mapped_column(default=None)
    calendar_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    business_minutes: Mapped[float] = mapped_column(Float, default=0.0)


# The breach recorder's question: running clocks not yet breached, by due time.
_UNBREACHED = text("state = 'running' AND breached_at IS NULL")
Index("ix_sla_clock_due", SlaClock.due_at, postgresql_where=_UNBREACHED, sqlite_where=_UNBREACHED)


class SlaEvent(Base):
    __tablename__ = "sla_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    kind: Mapped[SlaEventKind] = mapped_column(StringEnum(SlaEventKind, 16))
    metric: Mapped[Metric] = mapped_column(StringEnum(Metric, 16))
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    target_minutes: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    calendar_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    business_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClockRow(TypedDict):
    id: NotRequired[int]
    ticket_id: Any  # an id, or the new ticket's row (see app.db.RowWriter)
    metric: Metric
    cycle: int
    state: ClockState
    target_minutes: int
    business_hours: bool
    schedule_id: int | None
    started_at: datetime
    running_since: datetime | None
    due_at: datetime | None
    fulfilled_at: datetime | None
    breached_at: datetime | None
    calendar_minutes: float
    business_minutes: float


class SlaEventRow(TypedDict):
    ticket_id: Any
    kind: SlaEventKind
    metric: Metric
    cycle: int
    target_minutes: int
    due_at: datetime | None
    calendar_minutes: float
    business_minutes: float
    created_at: datetime
