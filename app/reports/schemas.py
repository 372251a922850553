from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"


class Figures(BaseModel):
    """The figures of a set of tickets. "The window's tickets" are those created in the window; solved
    counts tickets solved in it, backlog those open at its end. Minutes are the SLA clocks' (resolution
    pauses while pending); percentiles are nearest-rank. A share is None when it has no denominator."""

    created: int = Field(description="tickets created in the window")
    solved: int = Field(description="tickets solved in the window (whenever created)")
    backlog: int = Field(description="tickets created before the window's end and not solved before it")
    first_reply_median_minutes: float | None = None
    first_reply_p90_minutes: float | None = None
    first_reply_median_business_minutes: float | None = None
    first_reply_p90_business_minutes: float | None = None
    resolution_median_minutes: float | None = None
    resolution_p90_minutes: float | None = None
    resolution_median_business_minutes: float | None = None
    resolution_p90_business_minutes: float | None = None
    first_reply_compliance: float | None = Field(None, description="achieved / (achieved + breached)")
    next_reply_compliance: float | None = Field(None, description="achieved / (achieved + breached), per reply cycle")
    resolution_compliance: float | None = Field(None, description="achieved / (achieved + breached)")
    one_touch_rate: float | None = Field(None, description="of the window's solved tickets, those with one reply")
    reopen_rate: float | None = Field(None, description="of the window's tickets ever solved, those reopened")
    routed_by_rule: float | None = Field(None, description="share of the window's tickets routed by a rule")
    routed_by_model: float | None = None
    routed_by_fallback: float | None = None
    rerouted_rate: float | None = Field(None, description="share of the window's tickets re-routed by an agent")


# What a time series may chart: any figure.
METRICS = tuple(Figures.model_fields)


class GroupFigures(Figures):
    name: str | None = Field(description="the area, or the agent (None: tickets nobody holds)")


class SummaryRead(BaseModel):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    area: str | None
    agent: str | None
    priority: str | None
    total: Figures
    by_area: list[GroupFigures]
    by_agent: list[GroupFigures]


class Point(BaseModel):
    start: datetime
    value: int | float | None


class TimeseriesRead(BaseModel):
    metric: str
    interval: Interval
    time_zone: str = "UTC"
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    points: list[Point]
