"""The README's "SQL for analysts" queries, read from the README and run as they stand on each engine,
against a desk whose answers are worked out here by hand."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table

from app.db import unit_of_work
from app.reports.models import reply_facts, sla_events, ticket_facts
from tests.reports.desk import ReportDesk, report_desk

__all__ = ["report_desk"]

README = Path(__file__).resolve().parents[2] / "README.md"
SUN = datetime(2026, 5, 31, tzinfo=UTC)  # the day before the week the queries read
MON = datetime(2026, 6, 1, tzinfo=UTC)  # the office is open weekdays 09:00-17:00 UTC
TUE = datetime(2026, 6, 2, tzinfo=UTC)


def readme_section() -> str:
    return README.read_text(encoding="utf-8").split("\n## SQL for analysts\n", 1)[1].split("\n## ", 1)[0]


def readme_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", readme_section(), flags=re.DOTALL)


@pytest.mark.parametrize("view", [ticket_facts, reply_facts, sla_events], ids=lambda v: v.name)
def test_the_readme_table_of_each_view_names_its_columns_in_order(view: Table) -> None:
    table = readme_section().split(f"`{view.name}`, one row per", 1)[1].split("\n\n", 2)[1]
    named = [n for line in table.splitlines()[2:] for n in re.findall(r"`([a-z_]+)`", line.split("|")[1])]
    assert named == [c.name for c in view.columns]


def at(day: datetime, hh: int, mm: int = 0) -> datetime:
    return day.replace(hour=hh, minute=mm)


async def desk_of_a_week(desk: ReportDesk) -> None:
    """Payments counts business hours: first reply within 60 minutes, next reply within 30. Cards
    counts calendar time: first reply within 120 minutes.

    - payments, ten tickets opened Monday 13:00, each answered k * 10 minutes later (k = 1..10), by
      dana when k is odd and eli when it is even: 10..100 business minutes, the last five late (a
      reply at the due time itself is late: 60, 70, 80, 90, 100; dana's 7 and 9, eli's 6, 8 and 10).
    - the first of them: the customer writes again Monday 15:00 (a next reply, due 15:30), dana
      answers 15:45: 45 minutes, late. Eli writes a second reply to the second at 16:00: it answers
      no wait.
    - payments, one ticket opened on Sunday 10:00, before the week: dana answers Monday 09:10, 10
      business minutes (the office opened at 09:00) and 1,390 calendar minutes, in time.
    - cards: opened Monday 10:00, eli answers 11:00 (60 minutes, in time); opened Tuesday 09:00,
      dana answers 12:00 (180 minutes, late)."""
    await desk.payments_and_cards()
    await desk.user("dana")
    await desk.user("eli")
    tickets = []
    for k in range(1, 11):
        ticket = await desk.open(at(MON, 13), area="payments", customer=f"c{k}@merchant.example")
        await desk.reply(ticket, at(MON, 13) + timedelta(minutes=10 * k), by="dana" if k % 2 else "eli")
        tickets.append(ticket)
    await desk.customer_writes(tickets[0], at(MON, 15))
    await desk.reply(tickets[0], at(MON, 15, 45), by="dana")
    await desk.reply(tickets[1], at(MON, 16), by="eli")
    early = await desk.open(at(SUN, 10), area="payments", customer="early@merchant.example")
    await desk.reply(early, at(MON, 9, 10), by="dana")
    monday = await desk.open(at(MON, 10), area="cards", customer="m@shop.example")
    await desk.reply(monday, at(MON, 11), by="eli")
    tuesday = await desk.open(at(TUE, 9), area="cards", customer="t@shop.example")
    await desk.reply(tuesday, at(TUE, 12), by="dana")


async def run(desk: ReportDesk, sql: str) -> list[tuple[Any, ...]]:
    async with unit_of_work(desk.sessionmaker) as session:
        conn = await session.connection()
        # As an analyst pastes it: the text alone, no parameters.
        return [tuple(row) for row in await conn.exec_driver_sql(sql)]


def test_the_readme_has_three_queries_over_the_views() -> None:
    queries = readme_queries()
    assert len(queries) == 3
    assert all(re.search(r"\bFROM (ticket_facts|reply_facts|sla_events)\b", q) for q in queries)


async def test_the_readme_queries_give_the_worked_out_answers(report_desk: ReportDesk) -> None:
    await desk_of_a_week(report_desk)
    p90, by_agent, waits = readme_queries()

    # First reply, p90 (nearest rank) per area of the week's tickets: payments' ten are 10..100
    # business minutes, the 9th of 10 is 90 (the Sunday ticket is not the week's); cards' two are
    # 60 and 180, the 2nd of 2 is 180.
    assert await run(report_desk, p90) == [("cards", 2, 180.0), ("payments", 10, 90.0)]

    # Replies that ended a wait in the week, and how many of those waits had passed their due time:
    # dana 5 first replies on payments (2 late) + the next reply (late) + the Sunday ticket (in
    # time) + cards on Tuesday (late); eli 5 on payments (3 late) + cards on Monday. Eli's second
    # reply answered no wait and is not counted.
    assert await run(report_desk, by_agent) == [("dana", 8, 4), ("eli", 6, 3)]

    # The waits replies answered, per area and metric: how many, their mean in business minutes and
    # the longest in calendar minutes. Payments' first replies: 10..100 and the Sunday ticket's 10
    # (560 / 11), the longest 1,390 calendar minutes (Sunday 10:00 to Monday 09:10).
    found = await run(report_desk, waits)
    assert [row[:3] for row in found] == [
        ("cards", "first_reply", 2),
        ("payments", "first_reply", 11),
        ("payments", "next_reply", 1),
    ]
    assert [float(row[3]) for row in found] == pytest.approx([120.0, 560 / 11, 45.0])
    assert [float(row[4]) for row in found] == pytest.approx([180.0, 1390.0, 45.0])
