"""Business-hours maths: minutes between two instants, and the instant N minutes after a start,
counted only inside a weekly schedule in an IANA time zone, skipping holidays.

A schedule's intervals are wall-clock minutes of a weekday (0 Monday .. 6 Sunday), `[start, end)` with
0 <= start < end <= 1440, converted to instants day by day through zoneinfo: a day with a DST change
is 23 or 25 hours long, an interval that spans the change counts the real minutes it lasts, and a
24/7 schedule's days meet exactly at midnight, so that no minute is lost or counted twice. Instants
are integer microseconds since the epoch inside, so that sums are exact and fast."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUTES_PER_DAY = 24 * 60
_US_PER_MINUTE = 60_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# How far ahead a due time is looked for: a schedule whose holidays cover years has no due time.
_HORIZON_DAYS = 3 * 366


class ScheduleError(ValueError):
    """A schedule that cannot be used: unknown zone, overlapping or reversed intervals, no hours."""


Interval = tuple[int, int]  # wall-clock minutes of the day, [start, end)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r}") from None


def check_week(week: Mapping[int, Sequence[Interval]]) -> tuple[tuple[Interval, ...], ...]:
    """The seven days' intervals, sorted, or ScheduleError naming the first fault."""
    days: list[tuple[Interval, ...]] = []
    for weekday in range(7):
        intervals = sorted((int(s), int(e)) for s, e in week.get(weekday, ()))
        for start, end in intervals:
            if not 0 <= start < MINUTES_PER_DAY or not 0 < end <= MINUTES_PER_DAY:
                raise ScheduleError(f"weekday {weekday}: minutes must lie within 0..{MINUTES_PER_DAY}")
            if end <= start:
                raise ScheduleError(f"weekday {weekday}: an interval ends before it starts ({start}-{end})")
        for (_, end), (start, _) in pairwise(intervals):
            if start < end:
                raise ScheduleError(f"weekday {weekday}: intervals overlap")
        days.append(tuple(intervals))
    if not any(days):
        raise ScheduleError("a schedule needs at least one interval")
    return tuple(days)


def _us(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _at(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


@dataclass
class Schedule:
    """A weekly schedule in a time zone, with holidays (local dates on which no interval counts)."""

    zone_name: str
    week: Mapping[int, Sequence[Interval]]
    holidays: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False)
    _days: tuple[tuple[Interval, ...], ...] = field(init=False, repr=False)
    _cache: dict[date, tuple[tuple[int, int], ...]] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._zone = zone(self.zone_name)
        self._days = check_week(self.week)

    def _day(self, day: date) -> tuple[tuple[int, int], ...]:
        """The day's business intervals as instants (microseconds), cached: a clock asks for the same
        few days again and again."""
        found = self._cache.get(day)
        if found is None:
            if day in self.holidays:
                found = ()
            else:
                midnight = datetime.combine(day, time(), tzinfo=self._zone)
                # Wall-clock arithmetic on an aware datetime, then to UTC: zoneinfo gives each local
                # time its own offset (a time in a spring-forward gap lands after the gap).
                intervals = self._days[day.weekday()]
                found = tuple((_us(_local(midnight, start)), _us(_local(midnight, end))) for start, end in intervals)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[day] = found
        return found

    def _local_date(self, us: int) -> date:
        return _at(us).astimezone(self._zone).date()

    def business_minutes(self, start: datetime, end: datetime) -> float:
        """Minutes of business time between two instants (0 when end is not after start)."""
        return self.business_us(_us(start), _us(end)) / _US_PER_MINUTE

    def business_us(self, start: int, end: int) -> int:
        if end <= start:
            return 0
        total = 0
        day = self._local_date(start)
        last = self._local_date(end)
        while day <= last:
            for a, b in self._day(day):
                lo, hi = max(a, start), min(b, end)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        """The instant at which `minutes` of business time have passed since `start`. With no minutes
        left it is `start` itself, even outside business hours."""
        return _at(self.add_us(_us(start), round(minutes * _US_PER_MINUTE)))

    def add_us(self, start: int, amount: int) -> int:
        if amount <= 0:
            return start
        left = amount
        day = self._local_date(start)
        for _ in range(_HORIZON_DAYS):
            for a, b in self._day(day):
                lo = max(a, start)
                if b <= lo:
                    continue
                if b - lo >= left:
                    return lo + left
                left -= b - lo
            day += timedelta(days=1)
        raise ScheduleError(f"no business time within {_HORIZON_DAYS} days")


def _local(midnight: datetime, minute: int) -> datetime:
    return (midnight + timedelta(minutes=minute)).astimezone(UTC)


ALWAYS = {weekday: [(0, MINUTES_PER_DAY)] for weekday in range(7)}


def holidays_from_ical(data: bytes) -> list[tuple[date, str]]:
    """The dates of an iCalendar file's events (an all-day event of several days gives each of its
    dates), with their summaries. Raises ValueError for a file that is not iCalendar."""
    import icalendar  # here, not at the top: ingest imports this module and never needs it

    try:
        calendar = icalendar.Calendar.from_ical(data)
    except Exception as exc:
        raise ValueError(f"not an iCalendar file: {exc}") from None
    found: dict[date, str] = {}
    for event in calendar.walk("VEVENT"):
        start = event.get("DTSTART")
        if start is None:
            continue
        if isinstance(start.dt, datetime):
            first, days = start.dt.date(), 1
        else:
            first = start.dt
            end = event.get("DTEND")
            # An all-day event's DTEND is the day after its last.
            days = max(1, (end.dt - first).days) if end is not None and not isinstance(end.dt, datetime) else 1
        summary = str(event.get("SUMMARY", ""))[:200]
        for offset in range(min(days, 366)):
            found.setdefault(first + timedelta(days=offset), summary)
    return sorted(found.items())


def weekly(intervals: Iterable[tuple[int, int, int]]) -> dict[int, list[Interval]]:
    """(weekday, start, end) triples as a week mapping."""
    week: dict[int, list[Interval]] = {}
    for weekday, start, end in intervals:
        week.setdefault(weekday, []).append((start, end))
    return week
