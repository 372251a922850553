"""Business-hours maths against hand-counted answers: weekends, holidays, both DST changes in two
zones, a 24/7 schedule across midnight, a long target across short days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.sla.calendar import ALWAYS, Schedule, ScheduleError, check_week, holidays_from_ical, weekly

NINE_TO_FIVE = weekly((day, 9 * 60, 17 * 60) for day in range(5))
LA = ZoneInfo("America/Los_Angeles")
BERLIN = ZoneInfo("Europe/Berlin")


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc,arg-type]


def test_weekend_is_not_counted() -> None:
    schedule = Schedule("Europe/Berlin", NINE_TO_FIVE)
    friday_four = local(BERLIN, 2026, 11, 27, 16)
    monday_ten = local(BERLIN, 2026, 11, 30, 10)
    assert schedule.business_minutes(friday_four, monday_ten) == 120
    assert schedule.add_minutes(friday_four, 120) == monday_ten


def test_holiday_is_not_counted() -> None:
    schedule = Schedule("Europe/Berlin", NINE_TO_FIVE, frozenset({date(2026, 12, 25)}))
    thursday_four = local(BERLIN, 2026, 12, 24, 16)
    # Friday the 25th is a holiday, then the weekend: the second hour is on Monday the 28th.
    assert schedule.add_minutes(thursday_four, 120) == local(BERLIN, 2026, 12, 28, 10)
    assert schedule.business_minutes(thursday_four, local(BERLIN, 2026, 12, 28, 10)) == 120


def test_sixteen_hour_target_across_eight_hour_days() -> None:
    schedule = Schedule("America/Los_Angeles", NINE_TO_FIVE)
    monday_noon = local(LA, 2026, 12, 7, 12)
    # 5 h on Monday, 8 h on Tuesday, 3 h on Wednesday.
    assert schedule.add_minutes(monday_noon, 16 * 60) == local(LA, 2026, 12, 9, 12)
    assert schedule.business_minutes(monday_noon, local(LA, 2026, 12, 9, 12)) == 16 * 60


def test_a_full_week_outside_hours_lands_on_the_next_opening() -> None:
    schedule = Schedule("America/Los_Angeles", NINE_TO_FIVE)
    saturday = local(LA, 2026, 12, 5, 20)
    assert schedule.add_minutes(saturday, 1) == local(LA, 2026, 12, 7, 9, 1)
    assert schedule.add_minutes(saturday, 0) == saturday


@pytest.mark.parametrize(
    ("zone_name", "day", "hours"),
    [
        ("America/Los_Angeles", date(2026, 3, 8), 23),  # spring forward
        ("America/Los_Angeles", date(2026, 11, 1), 25),  # fall back
        ("Europe/Berlin", date(2026, 3, 29), 23),
        ("Europe/Berlin", date(2026, 10, 25), 25),
    ],
)
def test_dst_day_counts_its_real_length(zone_name: str, day: date, hours: int) -> None:
    schedule = Schedule(zone_name, ALWAYS)
    zone = ZoneInfo(zone_name)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    assert schedule.business_minutes(start, end) == hours * 60
    assert schedule.add_minutes(start, hours * 60) == end


@pytest.mark.parametrize(
    ("zone_name", "day", "minutes"),
    [
        # 01:00-04:00 wall clock on the change days: the clock skips an hour (2 h real) or repeats one (4 h).
        ("America/Los_Angeles", date(2026, 3, 8), 120),
        ("America/Los_Angeles", date(2026, 11, 1), 240),
        ("Europe/Berlin", date(2026, 3, 29), 120),
        ("Europe/Berlin", date(2026, 10, 25), 240),
    ],
)
def test_interval_across_the_dst_change_counts_real_minutes(zone_name: str, day: date, minutes: int) -> None:
    schedule = Schedule(zone_name, {day.weekday(): [(60, 240)]})
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
    assert schedule.business_minutes(start, start + timedelta(days=3)) == minutes


def test_business_day_after_dst_change_opens_at_local_nine() -> None:
    schedule = Schedule("America/Los_Angeles", NINE_TO_FIVE)
    friday_five = local(LA, 2026, 3, 6, 17)
    # Monday after spring forward: 09:00 PDT is 16:00 UTC, not 17:00 as on the Friday before.
    assert schedule.add_minutes(friday_five, 60) == datetime(2026, 3, 9, 17, tzinfo=UTC)
    assert local(LA, 2026, 3, 6, 9).astimezone(UTC).hour == 17


def test_always_schedule_loses_no_minute_at_midnight() -> None:
    schedule = Schedule("Europe/Berlin", ALWAYS)
    before = local(BERLIN, 2026, 12, 1, 23, 59)
    after = local(BERLIN, 2026, 12, 2, 0, 1)
    assert schedule.business_minutes(before, after) == 2
    assert schedule.add_minutes(before, 2) == after
    assert schedule.business_minutes(before, before + timedelta(days=10)) == 10 * 24 * 60


@given(
    start=st.datetimes(
        min_value=datetime(2025, 1, 1),  # noqa: DTZ001
        max_value=datetime(2028, 1, 1),  # noqa: DTZ001 (hypothesis takes naive bounds)
        timezones=st.just(UTC),
    ),
    minutes=st.integers(min_value=0, max_value=20_000),
)
def test_add_and_count_agree(start: datetime, minutes: int) -> None:
    schedule = Schedule("America/Los_Angeles", NINE_TO_FIVE, frozenset({date(2026, 7, 3)}))
    due = schedule.add_minutes(start, minutes)
    assert schedule.business_minutes(start, due) == minutes
    if minutes:
        # The due instant is the first one at which that much time has passed.
        assert schedule.business_minutes(start, due - timedelta(microseconds=1)) < minutes


@pytest.mark.parametrize(
    ("week", "message"),
    [
        ({0: [(540, 1020), (960, 1080)]}, "overlap"),
        ({0: [(600, 540)]}, "ends before it starts"),
        ({0: [(0, 1500)]}, "within"),
        ({}, "at least one interval"),
    ],
)
def test_bad_week_is_refused(week: dict[int, list[tuple[int, int]]], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        check_week(week)


def test_unknown_zone_is_refused() -> None:
    with pytest.raises(ScheduleError, match="unknown time zone"):
        Schedule("Mars/Olympus_Mons", ALWAYS)


def test_no_business_time_at_all_is_an_error_not_a_hang() -> None:
    days = frozenset(date(2026, 1, 1) + timedelta(days=n) for n in range(4 * 366))
    schedule = Schedule("UTC", ALWAYS, days)
    with pytest.raises(ScheduleError, match="no business time"):
        schedule.add_minutes(datetime(2026, 1, 1, tzinfo=UTC), 1)


def test_holidays_from_ical() -> None:
    data = b"\r\n".join(
        [
            b"BEGIN:VCALENDAR",
            b"VERSION:2.0",
            b"PRODID:-//test//EN",
            b"BEGIN:VEVENT",
            b"UID:1",
            b"DTSTART;VALUE=DATE:20261224",
            b"DTEND;VALUE=DATE:20261227",
            b"SUMMARY:Christmas",
            b"END:VEVENT",
            b"BEGIN:VEVENT",
            b"UID:2",
            b"DTSTART;VALUE=DATE:20270101",
            b"SUMMARY:New Year",
            b"END:VEVENT",
            b"END:VCALENDAR",
            b"",
        ]
    )
    assert holidays_from_ical(data) == [
        (date(2026, 12, 24), "Christmas"),
        (date(2026, 12, 25), "Christmas"),
        (date(2026, 12, 26), "Christmas"),
        (date(2027, 1, 1), "New Year"),
    ]
    with pytest.raises(ValueError, match="not an iCalendar"):
        holidays_from_ical(b"hello")
