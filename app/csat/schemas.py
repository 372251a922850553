from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.validation import Line

# A period is a calendar month (2026-11), one day (2026-11-03) or a range of days, both included
# (2026-11-01..2026-11-15). The longest is a year and a day, as the reports' window.
PERIOD_MAX_DAYS = 366
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
UNIT_MAX = 100
VALUE_MAX = 1e15
UPLOAD_MAX_ROWS = 10_000


class PeriodError(ValueError):
    pass


def parse_period(text: str) -> tuple[str, date, date]:
    """The canonical text of a period and its first and last day; PeriodError saying what is wrong."""
    text = text.strip()
    month = _MONTH.fullmatch(text)
    try:
        if month is not None:
            year, number = int(month.group(1)), int(month.group(2))
            first = date(year, number, 1)
            last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
            return f"{year:04d}-{number:02d}", first, last
        if ".." in text:
            left, right = text.split("..", 1)
            if not (_DAY.fullmatch(left) and _DAY.fullmatch(right)):
                raise PeriodError
            first, last = date.fromisoformat(left), date.fromisoformat(right)
        elif _DAY.fullmatch(text):
            first = last = date.fromisoformat(text)
        else:
            raise PeriodError
    except (ValueError, PeriodError):
        raise PeriodError(
            f"period {text[:40]!r} is not a month (2026-11), a day (2026-11-03) or a range of days "
            "(2026-11-01..2026-11-15)"
        ) from None
    if last < first:
        raise PeriodError(f"period {text!r} ends before it starts")
    if (last - first).days + 1 > PERIOD_MAX_DAYS:
        raise PeriodError(f"period {text!r} is longer than {PERIOD_MAX_DAYS} days")
    if first.year < 2000 or last.year > 2100:
        raise PeriodError(f"period {text!r} is outside the years 2000 to 2100")
    canonical = f"{first}" if first == last else f"{first}..{last}"
    return canonical, first, last


class DenominatorWrite(BaseModel):
    """One denominator: contacts of `area` (`*`: all areas) in `period` are counted against `value`
    units (e.g. 12000 active accounts)."""

    model_config = ConfigDict(extra="forbid")

    period: Line = Field(min_length=1, max_length=32, examples=["2026-11", "2026-11-01..2026-11-15"])
    area: Line = Field(min_length=1, max_length=64, description="an area's name, or * for the whole desk")
    value: float = Field(gt=0, le=VALUE_MAX, allow_inf_nan=False)
    unit: Line = Field(min_length=1, max_length=UNIT_MAX, examples=["active accounts"])

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        try:
            return parse_period(value)[0]
        except PeriodError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("unit", "area")
    @classmethod
    def _stripped(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value


class DenominatorRead(BaseModel):
    id: int
    period: str
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    area: str
    value: float
    unit: str


class DenominatorsStored(BaseModel):
    created: int
    replaced: int
    denominators: list[DenominatorRead]


class ContactRateRow(BaseModel):
    area: str = Field(description="an area's name, or * for the whole desk")
    contacts: int = Field(description="tickets opened by customers in the period (gross)")
    contacts_net: int = Field(description="distinct customers who opened them (net)")
    repeat_contacts: int = Field(description="of those tickets, repeat contacts of a recently solved one")
    repeat_contact_rate: float | None = Field(description="repeat_contacts / contacts")
    denominator: float | None
    unit: str | None
    contact_rate: float | None = Field(description="contacts per 1,000 units of the denominator")
    contact_rate_net: float | None = Field(description="contacts_net per 1,000 units")
    reason: str | None = Field(description="why a rate is missing: no denominator for this period and area")


class ContactRateRead(BaseModel):
    period: str
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    rows: list[ContactRateRow]


class CommentRead(BaseModel):
    ticket: str = Field(description="the ticket's reference")
    cycle: int
    rating: Literal["good", "bad"]
    comment: str
    area: str | None
    agent: str | None
    rated_at: datetime


class CommentsPage(BaseModel):
    items: list[CommentRead]
    total: int
    offset: int
    limit: int
