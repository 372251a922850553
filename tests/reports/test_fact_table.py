"""The fact table (`ticket_fact`) as the lifecycle keeps it equals the one `sla recompute` rebuilds
from scratch, after a varied history, on each engine; each kind of change reaches its row."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from app.db import unit_of_work
from app.reports.models import TicketFact
from app.sla import service as sla
from app.tickets import lifecycle, repository
from tests.reports.desk import ReportDesk, report_desk
from tests.reports.test_views import MON, TUE, at, history

__all__ = ["report_desk"]

FACTS = TicketFact.__table__


async def facts(desk: ReportDesk) -> dict[int, dict[str, Any]]:
    async with unit_of_work(desk.sessionmaker) as session:
        return {r.ticket_id: dict(r._mapping) for r in await session.execute(select(FACTS))}


async def claim(desk: ReportDesk, area: str, agent: str) -> int:
    async with unit_of_work(desk.sessionmaker) as session:
        event = await lifecycle.claim(session, area, agent=desk.users[agent])
        assert event is not None
        return int(event.ticket["id"])


async def release(desk: ReportDesk, ticket_id: int, agent: str) -> None:
    async with unit_of_work(desk.sessionmaker) as session:
        ticket = await repository.ticket(session, ticket_id, for_update=True)
        assert ticket is not None
        await lifecycle.release(session, ticket, user=desk.users[agent])


async def record_breaches(desk: ReportDesk, now: Any) -> int:
    async with unit_of_work(desk.sessionmaker) as session:
        return await sla.record_breaches(session, now=now)


async def test_maintained_fact_rows_equal_a_recomputation_from_scratch(report_desk: ReportDesk) -> None:
    desk = report_desk
    # Reply, next-reply cycles, pending, solve, reopen, solve again; a model-routed ticket re-routed.
    first, second = await history(desk)
    await desk.user("eli")
    # A priority change, then pending, back to open, solved by another agent.
    third = await desk.open(at(MON, 14), area="cards")
    await desk.reply(third, at(MON, 14, 30), by="eli")
    await desk.priority(third, "urgent", at(MON, 15))
    await desk.status(third, "pending", at(MON, 16), by="eli")
    await desk.status(third, "open", at(TUE, 9), by="eli")
    await desk.status(third, "solved", at(TUE, 9, 30), by="eli")
    # Claimed from the queue and released: nobody holds it, and nobody answers it: the worker
    # records the breach of its first reply.
    fourth = await desk.open(at(TUE, 8), area="payments")  # the only ticket waiting there
    assert await claim(desk, "payments", "eli") == fourth
    held = await facts(desk)
    assert held[fourth]["assignee_id"] == desk.users["eli"].id
    await release(desk, fourth, "eli")
    now = at(TUE, 15)
    assert await record_breaches(desk, now) >= 1

    maintained = await facts(desk)
    assert set(maintained) == {first, second, third, fourth}
    # The history reached the rows (so that the equality below is not of two empty answers).
    assert (maintained[first]["reopen_count"], maintained[first]["public_reply_count"]) == (1, 5)
    assert (maintained[first]["next_reply_cycles"], maintained[first]["next_reply_breaches"]) == (3, 2)
    assert maintained[first]["status"] == "solved" and maintained[first]["resolution_achieved"] is True
    assert maintained[second]["rerouted"] is True and maintained[second]["routed_by"] == "model"
    assert maintained[third]["priority"] == "urgent" and maintained[third]["assignee_id"] == desk.users["eli"].id
    assert maintained[fourth]["assignee_id"] is None
    assert maintained[fourth]["first_reply_breached"] is True  # recorded by the worker's step

    async with unit_of_work(desk.sessionmaker) as session:
        await session.execute(delete(TicketFact))
    assert await facts(desk) == {}
    assert await desk.recompute(now) == 4
    assert await facts(desk) == maintained


async def test_a_breach_the_worker_records_reaches_the_fact_row(report_desk: ReportDesk) -> None:
    desk = report_desk
    await desk.payments_and_cards()
    ticket = await desk.open(at(MON, 8), area="cards")  # first reply due in 120 minutes
    before = (await facts(desk))[ticket]
    assert (before["first_reply_breached"], before["first_reply_achieved"]) == (False, False)
    assert await record_breaches(desk, at(MON, 8) + timedelta(minutes=121)) == 1
    after = (await facts(desk))[ticket]
    assert (after["first_reply_breached"], after["first_reply_achieved"]) == (True, False)
