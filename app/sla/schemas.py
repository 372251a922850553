from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.sla.models import ClockState, Metric, Priority, SlaEventKind
from app.validation import Line

_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
# A target of more than a year is a typo, not a promise.
Minutes = Annotated[int, Field(gt=0, le=60 * 24 * 366)]


def _minute(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


class IntervalWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weekday: int = Field(ge=0, le=6, description="0 Monday .. 6 Sunday")
    start: Line = Field(description="wall-clock HH:MM", examples=["09:00"])
    end: Line = Field(description="wall-clock HH:MM, up to 24:00", examples=["17:00"])

    @field_validator("start", "end")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not _CLOCK_TIME.match(value):
            raise ValueError("a time is HH:MM between 00:00 and 24:00")
        return value

    @property
    def start_minute(self) -> int:
        return _minute(self.start)

    @property
    def end_minute(self) -> int:
        return _minute(self.end)


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


class HolidayWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date
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
