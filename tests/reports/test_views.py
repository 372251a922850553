"""The analysts' views (migration 0009) over a known history, column by column, on each engine."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select

from app.db import create_engine, unit_of_work
from app.reports.models import VIEWS, reply_facts, sla_events, ticket_facts
from tests.conftest import POSTGRES_URL, PostgresClones
from tests.reports.desk import ReportDesk, report_desk

__all__ = ["report_desk"]

MON = datetime(2026, 6, 1, tzinfo=UTC)  # a Monday; the office is open weekdays 09:00-17:00 UTC
TUE = datetime(2026, 6, 2, tzinfo=UTC)


def at(day: datetime, hh: int, mm: int = 0) -> datetime:
    return day.replace(hour=hh, minute=mm)


async def history(desk: ReportDesk) -> tuple[int, int]:
    """Two tickets. The first, in business hours: answered, answered late, pending, solved, reopened,
    solved again. The second, routed by the model, re-routed to an area with calendar targets."""
    await desk.payments_and_cards()
    await desk.mailbox("support")
    await desk.user("dana")
    first = await desk.open(at(MON, 8), area="payments")
    await desk.reply(first, at(MON, 9, 30), by="dana")  # first reply: 90 calendar, 30 business minutes
    await desk.customer_writes(first, at(MON, 10))  # next reply, cycle 1, due 10:30
    await desk.reply(first, at(MON, 11), by="dana")  # 60 minutes: breached at 10:30
    await desk.reply(first, at(MON, 11, 5), by="dana")  # answers no wait: nothing was owed
    await desk.status(first, "pending", at(MON, 12), by="dana")  # resolution paused: 240 calendar, 180 business
    await desk.customer_writes(first, at(TUE, 10))  # back from pending (not a reopen); cycle 2
    await desk.reply(first, at(TUE, 10, 20), by="dana")  # 20 minutes, in time
    await desk.status(first, "solved", at(TUE, 11), by="dana")  # resolution +60: 300 calendar, 240 business
    await desk.customer_writes(first, at(TUE, 12))  # reopened from solved; cycle 3, due 12:30
    await desk.reply(first, at(TUE, 13), by="dana")  # 60 minutes: breached at 12:30
    await desk.status(first, "solved", at(TUE, 14), by="dana")  # resolution +120: 420 calendar, 360 business
    second = await desk.open(
        at(MON, 13),
        area="payments",
        customer="bo@shop.example",
        routed_by="model",
        probability=0.83,
        model_version="v3",
    )
    await desk.reroute(second, "cards", at(MON, 13, 30), by="dana")
    return first, second


async def rows(desk: ReportDesk, view: Any, *where: Any) -> list[dict[str, Any]]:
    async with unit_of_work(desk.sessionmaker) as session:
        result = await session.execute(select(view).where(*where).order_by(next(iter(view.columns))))
        return [dict(r._mapping) for r in result]


async def test_ticket_facts_hold_each_tickets_figures(report_desk: ReportDesk) -> None:
    first, second = await history(report_desk)
    dana = report_desk.users["dana"]
    facts = {r["ticket_id"]: r for r in await rows(report_desk, ticket_facts)}
    assert set(facts) == {first, second}
    one, two = facts[first], facts[second]
    assert one.pop("customer_id") is not None and one.pop("mailbox_id") == report_desk.mailbox_id
    assert isinstance(one.pop("area_id"), int)
    assert one == {
        "ticket_id": first,
        "reference": await report_desk.reference(first),
        "status": "solved",
        "priority": "normal",
        "area": "payments",
        "customer_email": "ana@merchant.example",
        "assignee_id": dana.id,  # the first reply claimed it
        "assignee": "dana",
        "assignee_email": "dana@routedesk.example",
        "mailbox": "support",
        "created_at": at(MON, 8),
        "first_replied_at": at(MON, 9, 30),
        "solved_at": at(TUE, 14),
        "first_reply_calendar_minutes": 90.0,
        "first_reply_business_minutes": 30.0,  # the office opened at 09:00
        "first_reply_achieved": True,
        "first_reply_breached": False,
        "next_reply_cycles": 3,
        "next_reply_calendar_minutes": 140.0,  # 60 + 20 + 60
        "next_reply_business_minutes": 140.0,  # all in office hours
        "next_reply_achieved": 1,
        "next_reply_breaches": 2,
        "reopen_count": 1,  # from solved only: the customer's answer to pending is no reopen
        "public_reply_count": 5,
        "resolution_calendar_minutes": 420.0,  # 08:00-12:00 + Tue 10:00-11:00 + 12:00-14:00
        "resolution_business_minutes": 360.0,  # 09:00-12:00 + 60 + 120
        "resolution_achieved": True,
        "resolution_breached": False,
        "routed_by": "rule",
        "model_version": None,
        "route_probability": None,
        "rerouted": False,
        # The reports' desk records events and clocks, no message rows: no sender to tell of (the
        # sender columns with real mail: tests/inbox/test_sender_policy.py).
        "sender_verdict": None,
        "sender_domain": None,
        "verified_messages": 0,
        "unverified_messages": 0,
        "failed_messages": 0,
    }
    assert (two["area"], two["customer_email"], two["status"], two["assignee"], two["assignee_id"]) == (
        "cards",
        "bo@shop.example",
        "open",
        None,
        None,
    )
    assert {k: v for k, v in two.items() if k.startswith(("first_reply", "resolution", "next_reply"))} == {
        "first_reply_calendar_minutes": None,
        "first_reply_business_minutes": None,
        "first_reply_achieved": False,  # still running, in time
        "first_reply_breached": False,
        "next_reply_cycles": 0,
        "next_reply_calendar_minutes": None,
        "next_reply_business_minutes": None,
        "next_reply_achieved": 0,
        "next_reply_breaches": 0,
        "resolution_calendar_minutes": None,
        "resolution_business_minutes": None,
        "resolution_achieved": False,
        "resolution_breached": False,
    }
    assert (two["routed_by"], two["model_version"], two["route_probability"], two["rerouted"]) == (
        "model",  # how it was routed when it came in; the re-route is the flag
        "v3",
        0.83,
        True,
    )
    assert (two["public_reply_count"], two["reopen_count"], two["first_replied_at"], two["solved_at"]) == (
        0,
        0,
        None,
        None,
    )


async def test_reply_facts_hold_each_public_reply_with_the_wait_it_answered(report_desk: ReportDesk) -> None:
    first, _ = await history(report_desk)
    dana = report_desk.users["dana"]
    found = await rows(report_desk, reply_facts)
    assert [r["ticket_id"] for r in found] == [first] * 5
    reference = await report_desk.reference(first)
    common = {
        "ticket_id": first,
        "reference": reference,
        "priority": "normal",
        "area": "payments",
        "agent_id": dana.id,
        "agent": "dana",
        "agent_email": "dana@routedesk.example",
    }
    waits = [
        # replied at, metric, cycle, wait started, calendar, business, target, breached
        (at(MON, 9, 30), "first_reply", 0, at(MON, 8), 90.0, 30.0, 60, False),
        (at(MON, 11), "next_reply", 1, at(MON, 10), 60.0, 60.0, 30, True),
        (at(MON, 11, 5), None, None, None, None, None, None, None),
        (at(TUE, 10, 20), "next_reply", 2, at(TUE, 10), 20.0, 20.0, 30, False),
        (at(TUE, 13), "next_reply", 3, at(TUE, 12), 60.0, 60.0, 30, True),
    ]
    names = [
        "replied_at",
        "answered_metric",
        "answered_cycle",
        "wait_started_at",
        "wait_calendar_minutes",
        "wait_business_minutes",
        "wait_target_minutes",
        "wait_breached",
    ]
    for row, wait in zip(found, waits, strict=True):
        assert isinstance(row.pop("reply_id"), int) and isinstance(row.pop("area_id"), int)
        assert row == {**common, **dict(zip(names, wait, strict=True))}


async def test_sla_events_hold_the_log_with_ticket_and_area(report_desk: ReportDesk) -> None:
    first, second = await history(report_desk)
    found = await rows(report_desk, sla_events, sla_events.c.ticket_id == second)
    reference = await report_desk.reference(second)
    assert {(r["reference"], r["area"], r["priority"]) for r in found} == {(reference, "cards", "normal")}
    assert [
        (
            r["kind"],
            r["metric"],
            r["cycle"],
            r["target_minutes"],
            r["due_at"],
            r["calendar_minutes"],
            r["business_minutes"],
            r["created_at"],
        )
        for r in found
    ] == [
        # Opened at 13:00 in payments: 60 and 600 business minutes (Mon 13:00-17:00 is 240, then Tue from 09:00).
        ("applied", "first_reply", 0, 60, at(MON, 14), 0.0, 0.0, at(MON, 13)),
        ("applied", "resolution", 0, 600, at(TUE, 15), 0.0, 0.0, at(MON, 13)),
        # Re-routed at 13:30 to cards: 120 and 1440 calendar minutes, 30 of them gone.
        ("applied", "first_reply", 0, 120, at(MON, 15), 30.0, 30.0, at(MON, 13, 30)),
        ("applied", "resolution", 0, 1440, at(TUE, 13), 30.0, 30.0, at(MON, 13, 30)),
    ]
    late = await rows(report_desk, sla_events, sla_events.c.ticket_id == first, sla_events.c.kind == "breached")
    assert [(r["metric"], r["cycle"], r["due_at"], r["created_at"]) for r in late] == [
        ("next_reply", 1, at(MON, 10, 30), at(MON, 10, 30)),
        ("next_reply", 3, at(TUE, 12, 30), at(TUE, 12, 30)),
    ]


def _view_columns(sync_conn: Any) -> dict[str, list[str]]:
    inspector = inspect(sync_conn)
    return {v: [c["name"] for c in inspector.get_columns(v)] for v in sorted(inspector.get_view_names())}


async def _columns(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_view_columns)
    finally:
        await engine.dispose()


async def test_both_engines_expose_the_same_view_columns(
    sqlite_template: Path, postgres_clones: PostgresClones, tmp_path: Path
) -> None:
    path = tmp_path / "views.db"
    shutil.copyfile(sqlite_template, path)
    assert POSTGRES_URL
    name = await postgres_clones.take()
    try:
        base = POSTGRES_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        postgres = await _columns(f"{base}/{name}")
    finally:
        postgres_clones.drop_later(name)
    sqlite = await _columns(f"sqlite+aiosqlite:///{path}")
    assert sqlite == postgres
    # And the columns the reports query by are those the views have.
    assert sqlite == {name: [c.name for c in table.columns] for name, table in sorted(VIEWS.tables.items())}


@pytest.mark.parametrize("view", ["ticket_facts", "reply_facts", "sla_events"])
def test_views_show_no_mail_body_token_or_secret(view: str) -> None:
    names = {c.name for c in VIEWS.tables[view].columns}
    assert not names & {"raw", "body_text", "body_html", "new_text", "headers_text", "token_hash", "subject"}
    assert not any("password" in n or "token" in n for n in names)
