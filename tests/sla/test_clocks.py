"""SLA clocks moved by the lifecycle, with a pinned clock, on SQLite and PostgreSQL: business hours
over a weekend and a holiday, a 16-hour target across 8-hour days, pending pauses, reopen, re-route
between policies, priority changes, breaches recorded by the worker, claim order, and recomputation
from history equal to the live state."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import unit_of_work
from app.sla.breaches import record_due, run_breach_recorder
from app.sla.models import ClockState, Metric
from app.tickets import lifecycle
from tests.sla.desk import SlaDesk

BERLIN = ZoneInfo("Europe/Berlin")
LA = ZoneInfo("America/Los_Angeles")
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
WEEKDAYS = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(5)]
FIRST, NEXT, RESOLUTION = Metric.FIRST_REPLY, Metric.NEXT_REPLY, Metric.RESOLUTION


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def calendar_policy(first: int = 60, next_: int = 30, resolution: int = 600, **more: Any) -> dict[str, Any]:
    return {"targets": {"normal": {"first_reply": first, "next_reply": next_, "resolution": resolution}, **more}}


async def test_first_reply_in_business_hours_skips_the_weekend(sla_desk: SlaDesk) -> None:
    await sla_desk.schedule("berlin", "Europe/Berlin", WEEKDAYS)
    await sla_desk.area("payments", business_hours=True, schedule="berlin", **calendar_policy(first=120))
    friday_four = datetime(2026, 11, 27, 16, tzinfo=BERLIN)
    ticket = await sla_desk.open(friday_four, area="payments")
    clock = await sla_desk.clock(ticket, FIRST)
    assert clock["due_at"] == datetime(2026, 11, 30, 10, tzinfo=BERLIN)
    assert (await sla_desk.ticket(ticket)).first_response_due_at == clock["due_at"]
    await sla_desk.reply(ticket, datetime(2026, 11, 30, 9, 30, tzinfo=BERLIN))
    clock = await sla_desk.clock(ticket, FIRST)
    assert clock["state"] == ClockState.FULFILLED and clock["breached_at"] is None
    assert (clock["business_minutes"], clock["calendar_minutes"]) == (90, (2 * 24 + 17.5) * 60)


async def test_holiday_moves_the_due_time_past_it(sla_desk: SlaDesk) -> None:
    await sla_desk.schedule("berlin", "Europe/Berlin", WEEKDAYS, holidays=[date(2026, 12, 25)])
    await sla_desk.area("payments", business_hours=True, schedule="berlin", **calendar_policy(first=120))
    ticket = await sla_desk.open(datetime(2026, 12, 24, 16, tzinfo=BERLIN), area="payments")
    assert (await sla_desk.clock(ticket, FIRST))["due_at"] == datetime(2026, 12, 28, 10, tzinfo=BERLIN)


async def test_sixteen_hour_resolution_across_eight_hour_days(sla_desk: SlaDesk) -> None:
    await sla_desk.schedule("la", "America/Los_Angeles", WEEKDAYS)
    await sla_desk.area("payments", business_hours=True, schedule="la", **calendar_policy(resolution=16 * 60))
    ticket = await sla_desk.open(datetime(2026, 12, 7, 12, tzinfo=LA), area="payments")
    assert (await sla_desk.clock(ticket, RESOLUTION))["due_at"] == datetime(2026, 12, 9, 12, tzinfo=LA)


async def test_due_time_across_spring_forward_counts_real_business_minutes(sla_desk: SlaDesk) -> None:
    await sla_desk.schedule("la", "America/Los_Angeles", WEEKDAYS)
    await sla_desk.area("payments", business_hours=True, schedule="la", **calendar_policy(first=120))
    # Friday 16:00 PST; one hour left on Friday, the second on Monday 09:00-10:00 PDT (16:00-17:00 UTC).
    ticket = await sla_desk.open(datetime(2026, 3, 6, 16, tzinfo=LA), area="payments")
    assert (await sla_desk.clock(ticket, FIRST))["due_at"] == datetime(2026, 3, 9, 17, tzinfo=UTC)


async def test_pending_pauses_resolution_and_a_customer_message_resumes_it(sla_desk: SlaDesk) -> None:
    await sla_desk.area("payments", **calendar_policy(resolution=600))
    ticket = await sla_desk.open(T0, area="payments")
    await sla_desk.reply(ticket, T0 + minutes(10))
    await sla_desk.status(ticket, "pending", T0 + minutes(60))
    paused = await sla_desk.clock(ticket, RESOLUTION)
    assert (paused["state"], paused["calendar_minutes"]) == (ClockState.PAUSED, 60)
    assert (await sla_desk.ticket(ticket)).sla_due_at is None
    await sla_desk.customer_writes(ticket, T0 + minutes(300))
    resumed = await sla_desk.clock(ticket, RESOLUTION)
    assert resumed["state"] == ClockState.RUNNING
    assert resumed["due_at"] == T0 + minutes(300 + 540)
    # The customer wrote after the first reply: a next reply is owed, from the moment they wrote.
    assert (await sla_desk.clock(ticket, NEXT, 1))["due_at"] == T0 + minutes(330)
    assert (await sla_desk.ticket(ticket)).sla_due_at == T0 + minutes(330)


async def test_reopen_after_solve_sums_resolution_over_cycles(sla_desk: SlaDesk) -> None:
    await sla_desk.area("payments", **calendar_policy(resolution=600))
    ticket = await sla_desk.open(T0, area="payments")
    await sla_desk.reply(ticket, T0 + minutes(20))
    await sla_desk.status(ticket, "solved", T0 + minutes(100))
    solved = await sla_desk.clock(ticket, RESOLUTION)
    assert (solved["state"], solved["fulfilled_at"], solved["calendar_minutes"]) == (
        ClockState.FULFILLED,
        T0 + minutes(100),
        100,
    )
    await sla_desk.customer_writes(ticket, T0 + minutes(1000))
    assert (await sla_desk.clock(ticket, RESOLUTION))["due_at"] == T0 + minutes(1000 + 500)
    await sla_desk.reply(ticket, T0 + minutes(1010))
    await sla_desk.status(ticket, "solved", T0 + minutes(1050))
    final = await sla_desk.clock(ticket, RESOLUTION)
    assert (final["calendar_minutes"], final["breached_at"]) == (150, None)
    assert (await sla_desk.clock(ticket, NEXT, 1))["calendar_minutes"] == 10


async def test_reroute_applies_the_new_policy_to_the_time_already_counted(sla_desk: SlaDesk) -> None:
    await sla_desk.area("cards", **calendar_policy(first=60))
    await sla_desk.area("payouts", **calendar_policy(first=240))
    ticket = await sla_desk.open(T0, area="cards")
    await sla_desk.reroute(ticket, "payouts", T0 + minutes(30))
    clock = await sla_desk.clock(ticket, FIRST)
    assert (clock["target_minutes"], clock["started_at"], clock["due_at"]) == (240, T0, T0 + minutes(240))
    await sla_desk.reroute(ticket, "cards", T0 + minutes(90))
    # Back under a 60-minute target with 90 minutes counted: breached at once, at the re-route.
    await sla_desk.reply(ticket, T0 + minutes(95))
    clock = await sla_desk.clock(ticket, FIRST)
    assert (clock["breached_at"], clock["calendar_minutes"]) == (T0 + minutes(90), 95)


async def test_priority_change_recomputes_due_times(sla_desk: SlaDesk) -> None:
    await sla_desk.area("payments", **calendar_policy(first=240, urgent={"first_reply": 30, "resolution": 120}))
    ticket = await sla_desk.open(T0, area="payments")
    assert (await sla_desk.clock(ticket, FIRST))["due_at"] == T0 + minutes(240)
    await sla_desk.priority(ticket, "urgent", T0 + minutes(10))
    assert (await sla_desk.clock(ticket, FIRST))["due_at"] == T0 + minutes(30)
    assert (await sla_desk.ticket(ticket)).priority == "urgent"
    # urgent has no next-reply target: a customer's follow-up after the reply starts no clock.
    await sla_desk.reply(ticket, T0 + minutes(20))
    await sla_desk.customer_writes(ticket, T0 + minutes(25))
    assert (NEXT, 1) not in await sla_desk.clocks(ticket)


async def test_worker_records_a_breach_at_the_minute_it_happens(sla_desk: SlaDesk) -> None:
    await sla_desk.area("payments", **calendar_policy(first=60))
    ticket = await sla_desk.open(T0, area="payments")
    recorded = asyncio.Event()
    stop = asyncio.Event()

    def heard(count: int) -> None:
        if count:
            recorded.set()
            stop.set()

    worker = asyncio.create_task(
        run_breach_recorder(
            sla_desk.sessionmaker,
            stop,
            tick=30,
            clock=lambda: (
                T0
                + minutes(
                    60,
                )
            ),
            after_pass=heard,
        )
    )
    async with asyncio.timeout(10):
        await recorded.wait()
    await worker
    clock = await sla_desk.clock(ticket, FIRST)
    assert clock["breached_at"] == T0 + minutes(60)
    assert ("breached", "first_reply", 0, T0 + minutes(60), T0 + minutes(60)) in await sla_desk.events(ticket)
    # Nothing is recorded twice, nor before its time.
    assert await record_due(sla_desk.sessionmaker, now=T0 + minutes(120)) == (0, T0 + minutes(600))


async def test_claim_takes_the_nearest_due_time_across_metrics(sla_desk: SlaDesk) -> None:
    await sla_desk.area("payments", **calendar_policy(first=240, next_=30))
    waiting_first = await sla_desk.open(T0, area="payments")
    answered = await sla_desk.open(T0 - minutes(100), area="payments")
    await sla_desk.reply(answered, T0 - minutes(90))
    await sla_desk.status(answered, "open", T0 - minutes(90))
    async with unit_of_work(sla_desk.sessionmaker) as session:
        await lifecycle.release(session, await _ticket(session, answered), user=sla_desk.admin)
    await sla_desk.customer_writes(answered, T0)  # next reply due at T0 + 30, before the other's T0 + 240
    async with unit_of_work(sla_desk.sessionmaker) as session:
        first = await lifecycle.claim(session, "payments", agent=sla_desk.admin)
        second = await lifecycle.claim(session, "payments", agent=sla_desk.admin)
    assert first is not None and second is not None
    assert (first.ticket["id"], second.ticket["id"]) == (answered, waiting_first)


async def _ticket(session: Any, ticket_id: int) -> Any:
    from app.tickets import repository

    return await repository.ticket(session, ticket_id, for_update=True)


async def _state(desk: SlaDesk, ticket_id: int) -> tuple[Any, ...]:
    clocks = sorted(
        (tuple(sorted((k, v) for k, v in c.items() if k != "id")) for c in (await desk.clocks(ticket_id)).values()),
        key=repr,
    )
    ticket = await desk.ticket(ticket_id)
    dues = (ticket.first_response_due_at, ticket.resolution_due_at, ticket.sla_due_at)
    return tuple(clocks), tuple(await desk.events(ticket_id)), dues


ACTIONS = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=400),
        st.sampled_from(["customer", "reply", "pending", "solved", "open", "cards", "payouts", "urgent", "low"]),
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
async def test_recompute_from_history_equals_the_live_state(sla_desk: SlaDesk, actions: list[tuple[int, str]]) -> None:
    if not await sla_desk.clocks_known("cards"):
        await sla_desk.schedule("berlin", "Europe/Berlin", WEEKDAYS)
        await sla_desk.area("cards", **calendar_policy(first=60, next_=30, resolution=300))
        await sla_desk.area(
            "payouts",
            business_hours=True,
            schedule="berlin",
            **calendar_policy(first=120, next_=60, resolution=960, urgent={"first_reply": 15, "resolution": 90}),
        )
    at = datetime(2026, 3, 27, 15, tzinfo=BERLIN)  # a Friday before the spring change in Berlin
    ticket = await sla_desk.open(at, area="cards")
    for gap, action in actions:
        at += minutes(gap)
        if action == "customer":
            await sla_desk.customer_writes(ticket, at)
        elif action == "reply":
            await sla_desk.reply(ticket, at)
        elif action in ("pending", "solved", "open"):
            await sla_desk.status(ticket, action, at)
        elif action in ("cards", "payouts"):
            await sla_desk.reroute(ticket, action, at)
        else:
            await sla_desk.priority(ticket, action, at)
    now = at + minutes(30)
    await record_due(sla_desk.sessionmaker, now=now)  # the worker's pass at `now`
    live = await _state(sla_desk, ticket)
    await sla_desk.recompute(now)
    assert await _state(sla_desk, ticket) == live
