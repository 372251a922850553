from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import httpx
from sqlalchemy import func, select, update

from app.db import unit_of_work, utcnow
from app.tickets.models import Ticket, TicketEvent
from app.users import service as users
from app.users.models import User
from tests.api.desk import Desk
from tests.mailgen import mail


async def _tickets(desk: Desk, count: int, *, sender: str = "ana@merchant.example") -> list[int]:
    raws = [
        mail(subject=f"Question {i}", sender=sender, message_id=f"<q{i}.{count}@merchant.example>")
        for i in range(count)
    ]
    await desk.ingest(*raws)
    return [await desk.ticket_of(f"q{i}.{count}@merchant.example") for i in range(count)]


async def _due_in(desk: Desk, ticket_id: int, minutes: int) -> None:
    await desk.execute(
        update(Ticket).where(Ticket.id == ticket_id).values(sla_due_at=utcnow() + timedelta(minutes=minutes))
    )


async def test_queues_count_open_and_unassigned_tickets_per_area(desk: Desk) -> None:
    first, _second, _third = await _tickets(desk, 3)
    await desk.agent.post("/queues/triage/claim")
    await desk.agent.post(f"/tickets/{first}/status", json={"status": "solved"})
    queues = {q["area"]: q for q in (await desk.agent.get("/queues")).json()}
    assert (queues["triage"]["open"], queues["triage"]["unassigned"]) == (2, 2)


async def test_queues_show_tickets_past_their_deadline_and_the_oldest_waiting(desk: Desk) -> None:
    oldest, late, _fine = await _tickets(desk, 3)
    await _due_in(desk, late, -5)
    [triage] = (await desk.agent.get("/queues")).json()
    assert (triage["breaching"], triage["oldest_waiting_ticket_id"]) == (1, oldest)


async def test_queues_count_tickets_due_within_the_warning_window_as_at_risk(desk: Desk) -> None:
    soon, later, late = await _tickets(desk, 3)
    await _due_in(desk, soon, 30)  # within the default 60-minute window
    await _due_in(desk, later, 90)
    await _due_in(desk, late, -5)
    [triage] = (await desk.agent.get("/queues")).json()
    assert (triage["at_risk"], triage["breaching"]) == (1, 1)


async def test_claim_takes_the_ticket_whose_deadline_comes_first(desk: Desk) -> None:
    old, middle, new = await _tickets(desk, 3)
    await _due_in(desk, old, 90)
    await _due_in(desk, middle, 300)
    await _due_in(desk, new, 30)
    order = [(await desk.agent.post("/queues/triage/claim")).json()["id"] for _ in range(3)]
    assert order == [new, old, middle]


async def test_claim_assigns_the_ticket_to_the_caller_and_records_it(desk: Desk) -> None:
    [ticket_id] = await _tickets(desk, 1)
    claimed = await desk.agent.post("/queues/triage/claim")
    events = await desk.all(
        select(TicketEvent.actor).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == "claimed")
    )
    assert claimed.status_code == 200
    assert (claimed.json()["id"], claimed.json()["assignee"]) == (ticket_id, "ana")
    assert events == ["agent:ana"]


async def test_claim_skips_assigned_pending_and_solved_tickets(desk: Desk) -> None:
    assigned, pending, solved, waiting = await _tickets(desk, 4)
    await desk.execute(update(Ticket).where(Ticket.id == pending).values(status="pending"))
    await desk.execute(update(Ticket).where(Ticket.id == solved).values(status="solved"))
    other = await desk.new_agent()
    assert (await other.post("/queues/triage/claim")).json()["id"] == assigned
    assert (await desk.agent.post("/queues/triage/claim")).json()["id"] == waiting


async def test_claim_answers_404_when_no_ticket_waits(desk: Desk) -> None:
    await _tickets(desk, 1)
    await desk.agent.post("/queues/triage/claim")
    response = await desk.agent.post("/queues/triage/claim")
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"


async def test_claim_in_an_unknown_area_is_404(desk: Desk) -> None:
    await _tickets(desk, 1)
    response = await desk.agent.post("/queues/nowhere/claim")
    assert response.status_code == 404
    assert await desk.scalar(select(func.count()).where(Ticket.assignee_id.is_not(None))) == 0


async def test_claim_only_takes_tickets_of_its_area(desk: Desk) -> None:
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    [ticket_id] = await _tickets(desk, 1)
    assert (await desk.agent.post("/queues/payouts/claim")).status_code == 404
    await desk.agent.post(f"/tickets/{ticket_id}/reroute", json={"area": "payouts"})
    assert (await desk.agent.post("/queues/payouts/claim")).json()["id"] == ticket_id


async def test_fifty_agents_claiming_at_once_never_get_the_same_ticket(desk: Desk) -> None:
    ticket_ids = await _tickets(desk, 80)
    async with unit_of_work(desk.runtime.sessionmaker) as session:
        tokens = [
            (await users.create_user(session, name=f"agent{i}", email=f"a{i}@routedesk.example", role="agent"))[1]
            for i in range(50)
        ]
    clients = [desk.client(token) for token in tokens]
    start = asyncio.Event()

    async def work(client: httpx.AsyncClient) -> list[int]:
        # Each agent claims until the queue is empty: every round is a race against the 49 others.
        await start.wait()
        mine: list[int] = []
        while True:
            response = await client.post("/queues/triage/claim")
            if response.status_code == 404:
                return mine
            assert response.status_code == 200, response.text
            mine.append(response.json()["id"])

    tasks = [asyncio.create_task(work(client)) for client in clients]
    start.set()
    results = await asyncio.gather(*tasks)
    claims = [ticket for got in results for ticket in got]
    doubles = [ticket for ticket, n in Counter(claims).items() if n > 1]
    told = {ticket: f"agent{i}" for i, got in enumerate(results) for ticket in got}
    async with unit_of_work(desk.runtime.sessionmaker) as session:
        stored = dict(
            (await session.execute(select(Ticket.id, User.name).join(User, User.id == Ticket.assignee_id))).all()
        )
    claimed_events = await desk.scalar(select(func.count()).where(TicketEvent.kind == "claimed"))
    assert doubles == []
    assert sorted(claims) == sorted(ticket_ids)
    assert stored == told
    assert claimed_events == 80


async def test_queues_count_breached_and_at_risk_by_the_runtimes_clock(desk: Desk) -> None:
    # Due in 30 and in 90 minutes by the wall clock; the queues are read two hours later by the
    # runtime's clock (the clock the breach recorder and the metrics read), when both are past due.
    soon, later = await _tickets(desk, 2)
    await _due_in(desk, soon, 30)
    await _due_in(desk, later, 90)
    later_on = utcnow() + timedelta(hours=2)
    desk.runtime.clock = lambda: later_on
    [triage] = (await desk.agent.get("/queues")).json()
    assert (triage["breaching"], triage["at_risk"]) == (2, 0)
