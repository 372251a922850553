"""Who may act on a ticket, the same rule for every action: working a ticket (a reply, a status
change) claims an unassigned one for whoever acts; a claimed ticket refuses other agents, naming its
assignee; admins act on any ticket and leave its assignee; notes are open to all and claim nothing;
a re-route says whether the ticket kept its assignee."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.replies.models import Outbox
from app.tickets.models import Ticket, TicketEvent
from app.users.models import User
from tests.api.desk import Desk
from tests.mailgen import mail


async def _assignee(desk: Desk, ticket_id: int) -> str | None:
    assigned = select(User.name).join(Ticket, Ticket.assignee_id == User.id).where(Ticket.id == ticket_id)
    name = await desk.scalar(assigned)
    return str(name) if name is not None else None


async def _events(desk: Desk, ticket_id: int) -> list[TicketEvent]:
    return await desk.all(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id))


async def _replies(desk: Desk) -> int:
    return int(await desk.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == "reply")))


async def _claimed_by_ana(desk: Desk) -> int:
    ticket_id = await desk.new_ticket(mail())
    assert (await desk.agent.post("/queues/triage/claim")).json()["id"] == ticket_id
    return ticket_id


# -- acting on an unassigned ticket claims it -------------------------------------------------------


async def test_reply_to_an_unassigned_ticket_claims_it_for_the_replier(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail())
    response = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "Hello."})
    events = [(e.kind, e.actor) for e in await _events(desk, ticket_id) if e.kind in ("claimed", "replied")]
    assert response.status_code == 200
    assert response.json()["ticket"]["assignee"] == "ana"
    assert await _assignee(desk, ticket_id) == "ana"
    assert await desk.scalar(select(Ticket.claimed_at).where(Ticket.id == ticket_id)) is not None
    assert events == [("claimed", "agent:ana"), ("replied", "agent:ana")]


async def test_status_change_on_an_unassigned_ticket_claims_it(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail())
    response = await desk.agent.post(f"/tickets/{ticket_id}/status", json={"status": "pending"})
    kinds = [e.kind for e in await _events(desk, ticket_id)]
    assert (response.json()["status"], response.json()["assignee"]) == ("pending", "ana")
    assert kinds[-2:] == ["claimed", "status"]


async def test_status_that_changes_nothing_claims_nothing(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail())
    response = await desk.agent.post(f"/tickets/{ticket_id}/status", json={"status": "open"})
    assert (response.status_code, response.json()["assignee"]) == (200, None)
    assert "claimed" not in [e.kind for e in await _events(desk, ticket_id)]


async def test_admin_reply_to_an_unassigned_ticket_claims_it_for_the_admin(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail())
    response = await desk.admin.post(f"/tickets/{ticket_id}/reply", json={"text": "Hello."})
    assert response.json()["ticket"]["assignee"] == "root"


async def test_the_claimed_ticket_then_refuses_the_first_agent_s_colleague(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail())
    await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "Hello."})
    other = await desk.new_agent("bruno")
    response = await other.post(f"/tickets/{ticket_id}/reply", json={"text": "Me too."})
    assert (response.status_code, response.json()) == (
        403,
        {"error": "Forbidden", "detail": "this ticket is claimed by ana"},
    )
    assert await _replies(desk) == 1


async def _race(clients: list[httpx.AsyncClient], path: str, body: dict[str, Any]) -> list[httpx.Response]:
    start = asyncio.Event()

    async def act(client: httpx.AsyncClient) -> httpx.Response:
        await start.wait()
        return await client.post(path, json=body)

    tasks = [asyncio.create_task(act(client)) for client in clients]
    start.set()
    return list(await asyncio.gather(*tasks))


@pytest.mark.parametrize(("action", "body"), [("reply", {"text": "I'll take it."}), ("status", {"status": "solved"})])
async def test_agents_acting_at_once_on_an_unassigned_ticket_one_wins_the_others_are_told_who(
    desk: Desk, action: str, body: dict[str, Any]
) -> None:
    ticket_id = await desk.new_ticket(mail())
    names = [f"racer{i}" for i in range(6)]
    clients = [await desk.new_agent(name) for name in names]
    responses = await _race(clients, f"/tickets/{ticket_id}/{action}", body)
    codes = Counter(r.status_code for r in responses)
    [winner] = [name for name, r in zip(names, responses, strict=True) if r.status_code == 200]
    refusals = {r.json()["detail"] for r in responses if r.status_code == 403}
    claims = [e.actor for e in await _events(desk, ticket_id) if e.kind == "claimed"]
    assert codes == {200: 1, 403: 5}
    assert refusals == {f"this ticket is claimed by {winner}"}
    assert await _assignee(desk, ticket_id) == winner
    assert claims == [f"agent:{winner}"]
    assert await _replies(desk) == (1 if action == "reply" else 0)


# -- a claimed ticket refuses other agents, naming its assignee --------------------------------------


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("reply", {"text": "Let me take this."}),
        ("status", {"status": "solved"}),
        ("release", None),
        ("reroute", {"area": "triage2"}),
    ],
)
async def test_a_claimed_ticket_refuses_another_agent_naming_the_assignee(
    desk: Desk, action: str, body: dict[str, Any] | None
) -> None:
    await desk.admin.post("/admin/areas", json={"name": "triage2"})
    ticket_id = await _claimed_by_ana(desk)
    other = await desk.new_agent("bruno")
    response = await other.post(f"/tickets/{ticket_id}/{action}", json=body)
    assert (response.status_code, response.json()) == (
        403,
        {"error": "Forbidden", "detail": "this ticket is claimed by ana"},
    )
    assert await _assignee(desk, ticket_id) == "ana"
    assert await desk.scalar(select(Ticket.status).where(Ticket.id == ticket_id)) == "open"


async def test_admin_reply_to_a_claimed_ticket_keeps_the_assignee(desk: Desk) -> None:
    ticket_id = await _claimed_by_ana(desk)
    response = await desk.admin.post(f"/tickets/{ticket_id}/reply", json={"text": "Escalated answer."})
    events = [(str(e.kind), e.actor) for e in await _events(desk, ticket_id)]
    assert (response.status_code, response.json()["ticket"]["assignee"]) == (200, "ana")
    assert events.count(("claimed", "agent:ana")) == 1
    assert ("claimed", "admin:root") not in events


# -- notes are open to every agent and never claim ---------------------------------------------------


async def test_notes_are_open_to_every_agent_and_never_claim(desk: Desk) -> None:
    claimed = await _claimed_by_ana(desk)
    waiting = await desk.new_ticket(mail(subject="Another question", message_id="<other@merchant.example>"))
    bruno = await desk.new_agent("bruno")
    on_claimed = await bruno.post(f"/tickets/{claimed}/notes", json={"text": "Seen this before: refund."})
    on_waiting = await desk.agent.post(f"/tickets/{waiting}/notes", json={"text": "Looks like payouts."})
    assert (on_claimed.status_code, on_waiting.status_code) == (201, 201)
    assert await _assignee(desk, claimed) == "ana"
    assert await _assignee(desk, waiting) is None
    # The note left the ticket unassigned: another agent's reply claims it.
    replied = await bruno.post(f"/tickets/{waiting}/reply", json={"text": "Hello."})
    assert replied.json()["ticket"]["assignee"] == "bruno"


# -- re-routing says whether the ticket stays assigned -----------------------------------------------


async def _rerouted(desk: Desk, ticket_id: int) -> dict[str, Any]:
    [event] = [e for e in await _events(desk, ticket_id) if e.kind == "rerouted"]
    return dict(event.data)


async def test_reroute_unassigns_and_says_so_in_its_answer_and_its_event(desk: Desk) -> None:
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    ticket_id = await _claimed_by_ana(desk)
    response = await desk.agent.post(f"/tickets/{ticket_id}/reroute", json={"area": "payouts"})
    assert (response.json()["assignee"], response.json()["unassigned"]) == (None, True)
    data = await _rerouted(desk, ticket_id)
    assert isinstance(data.pop("area_id"), int)  # what `sla recompute` follows, whatever the area is called later
    assert data == {
        "from": "triage",
        "to": "payouts",
        "assignee": None,
        "unassigned": True,
    }


@pytest.mark.parametrize("who", ["agent", "admin"])
async def test_reroute_asked_to_keep_the_assignee_keeps_it(desk: Desk, who: str) -> None:
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    ticket_id = await _claimed_by_ana(desk)
    client = desk.agent if who == "agent" else desk.admin
    response = await client.post(f"/tickets/{ticket_id}/reroute", json={"area": "payouts", "keep_assignee": True})
    assert (response.json()["area"], response.json()["assignee"], response.json()["unassigned"]) == (
        "payouts",
        "ana",
        False,
    )
    assert await _assignee(desk, ticket_id) == "ana"
    assert (await _rerouted(desk, ticket_id))["assignee"] == "ana"


async def test_reroute_of_an_unassigned_ticket_claims_nothing_and_says_so(desk: Desk) -> None:
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    ticket_id = await desk.new_ticket(mail())
    response = await desk.agent.post(f"/tickets/{ticket_id}/reroute", json={"area": "payouts"})
    assert (response.json()["assignee"], response.json()["unassigned"]) == (None, False)
    assert (await _rerouted(desk, ticket_id))["unassigned"] is False
    assert "claimed" not in [e.kind for e in await _events(desk, ticket_id)]
