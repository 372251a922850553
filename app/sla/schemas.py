from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from app.sla.models import ClockState, Metric, Priority, SlaEventKind
from app.validation import LINE, Line

_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
# A target of more than a year is a typo, not a promise.
Minutes = Annotated[int, Field(gt=0, le=60 * 24 * 366)]


def _minute(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def _clock_minute(value: Any) -> int:
    if not isinstance(value, str) or not _CLOCK_TIME.match(value):
        raise ValueError("a time is HH:MM between 00:00 and 24:00")
    return _minute(value)


# Wall-clock HH:MM as the client writes it, minutes of the day once read: the text never goes further.
ClockTime = Annotated[
    int,
    BeforeValidator(_clock_minute),
    WithJsonSchema({"type": "string", "pattern": _CLOCK_TIME.pattern, "x-text": "line", "examples": ["09:00"]}),
]


class IntervalWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weekday: int = Field(ge=0, le=6, description="0 Monday .. 6 Sunday")
    start: ClockTime = Field(description="wall-clock HH:MM")
    end: ClockTime = Field(description="wall-clock HH:MM, up to 24:00")

    @property
    def start_minute(self) -> int:
        return self.start

    @property
    def end_minute(self) -> int:
        return self.end


class ScheduleWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    zone: Line = Field(min_length=1, max_length=64, examples=["Europe/Berlin"])
    intervals: list[IntervalWrite] = Field(min_length=1, max_length=7 * 48)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


class IntervalRead(BaseModel):
    weekday: int
    start: str
    end: str


class HolidaysWrite(BaseModel):
    """Dates on which no business hour counts, under one name (e.g. a list of public holidays)."""

    model_config = ConfigDict(extra="forbid")

    days: list[Annotated[date, LINE]] = Field(min_length=1, max_length=1000)
    name: Line = Field("", max_length=200)


class HolidayRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    day: date
    name: str


class ScheduleRead(BaseModel):
    name: str
    zone: str
    intervals: list[IntervalRead]
    holidays: list[HolidayRead]

    @classmethod
    def of(cls, name: str, zone: str, week: list[list[int]], holidays: list[HolidayRead]) -> ScheduleRead:
        intervals = [IntervalRead(weekday=d, start=_hhmm(s), end=_hhmm(e)) for d, s, e in week]
        return cls(name=name, zone=zone, intervals=intervals, holidays=holidays)


class HolidaysAdded(BaseModel):
    added: int


class PolicyWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    business_hours: bool = False
    schedule: Line | None = Field(None, min_length=1, max_length=64)
    targets: dict[Priority, dict[Metric, Minutes]] = Field(
        examples=[
            {"normal": {"first_reply": 240, "next_reply": 480, "resolution": 2880}, "urgent": {"first_reply": 30}}
        ]
    )


class PolicyRead(BaseModel):
    area: str
    business_hours: bool
    schedule: str | None
    targets: dict[str, dict[str, int]]


class PriorityWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: Priority


class ClockRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    metric: Metric
    cycle: int
    state: ClockState
    target_minutes: int
    business_hours: bool
    started_at: datetime
    due_at: datetime | None
    fulfilled_at: datetime | None
    breached_at: datetime | None
    calendar_minutes: float
    business_minutes: float


class SlaEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: SlaEventKind
    metric: Metric
    cycle: int
    target_minutes: int
    due_at: datetime | None
    calendar_minutes: float
    business_minutes: float
    created_at: datetime


class TicketSlaRead(BaseModel):
    priority: Priority
    clocks: list[ClockRead]
    events: list[SlaEventRead]
