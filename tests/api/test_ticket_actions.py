from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from app.db import utcnow
from app.inbox.models import Message
from app.macros.models import MacroUse
from app.replies.models import Outbox
from app.routing.models import Label
from app.tickets.models import Ticket, TicketEvent
from tests.api.desk import Desk, sqlite_only
from tests.mailgen import mail


async def _replies(desk: Desk) -> int:
    return int(await desk.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == "reply")))


async def _claimed_ticket(desk: Desk) -> int:
    ticket_id = await desk.new_ticket(mail(sender="Ana Silva <ana@merchant.example>"))
    assert (await desk.agent.post("/queues/triage/claim")).json()["id"] == ticket_id
    return ticket_id


async def _macro(desk: Desk, body: str, title: str = "Payout delay") -> int:
    response = await desk.admin.post("/admin/macros", json={"title": title, "body": body})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


# -- reply ---------------------------------------------------------------------------------------------


async def test_reply_queues_an_outbound_message_and_sets_the_ticket_pending(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    response = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "It is on its way."})
    result = response.json()
    outbox = await desk.scalar(select(Outbox).where(Outbox.id == result["outbox_id"]))
    message = await desk.scalar(select(Message).where(Message.id == outbox.message_id))
    assert response.status_code == 200
    assert (outbox.kind, outbox.status, outbox.rcpt_to, outbox.ticket_id) == (
        "reply",
        "queued",
        "ana@merchant.example",
        ticket_id,
    )
    assert (message.message_id, message.body_text) == (result["message_id"], "It is on its way.")
    assert f"Message-ID: <{result['message_id']}>".encode() in outbox.raw
    assert result["ticket"]["status"] == "pending"


async def test_reply_can_solve_the_ticket_at_once(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    response = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "Done.", "status": "solved"})
    assert response.json()["ticket"]["status"] == "solved"


async def test_reply_marks_the_first_response(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "First."})
    first = await desk.scalar(select(Ticket.first_responded_at).where(Ticket.id == ticket_id))
    await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "Second."})
    assert first is not None
    assert await desk.scalar(select(Ticket.first_responded_at).where(Ticket.id == ticket_id)) == first


async def test_another_agent_cannot_reply_to_a_claimed_ticket(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    other = await desk.new_agent()
    response = await other.post(f"/tickets/{ticket_id}/reply", json={"text": "Let me take this."})
    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden"
    assert await _replies(desk) == 0
    assert await desk.scalar(select(Ticket.status).where(Ticket.id == ticket_id)) == "open"


async def test_admin_can_reply_to_a_ticket_another_agent_claimed(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    response = await desk.admin.post(f"/tickets/{ticket_id}/reply", json={"text": "Escalated answer."})
    assert response.status_code == 200
    assert await _replies(desk) == 1


async def test_any_agent_can_reply_to_an_unclaimed_ticket(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail())
    response = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "Hello."})
    assert response.status_code == 200


@sqlite_only
async def test_reply_needs_text_or_a_macro(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    response = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "   "})
    assert response.status_code == 422
    assert await _replies(desk) == 0


async def test_reply_with_a_macro_renders_the_ticket_placeholders(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    macro_id = await _macro(desk, "Hi {customer_first_name}, about {ticket_reference}: {agent_name} here.")
    response = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"macro_id": macro_id})
    reference = response.json()["ticket"]["reference"]
    body = await desk.scalar(select(Message.body_text).where(Message.message_id == response.json()["message_id"]))
    uses = await desk.scalar(select(func.count()).select_from(MacroUse).where(MacroUse.macro_id == macro_id))
    assert body == f"Hi Ana, about {reference}: ana here."
    assert uses == 1


async def test_macro_reply_never_evaluates_template_syntax(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail(sender="{agent_name} {{7*7}} <ana@merchant.example>"))
    await desk.agent.post("/queues/triage/claim")
    body = "{{customer_name}} ${7*7} {customer_name.__class__} {% if 1 %}x{% endif %} {customer_name}"
    macro_id = await _macro(desk, body)
    response = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"macro_id": macro_id})
    sent = await desk.scalar(select(Message.body_text).where(Message.message_id == response.json()["message_id"]))
    # Only the allowed placeholder is replaced, and the customer's own text goes in verbatim.
    assert sent == "{{customer_name}} ${7*7} {customer_name.__class__} {% if 1 %}x{% endif %} {agent_name} {{7*7}}"


@sqlite_only
async def test_macro_with_an_unknown_placeholder_is_refused(desk: Desk) -> None:
    response = await desk.admin.post("/admin/macros", json={"title": "Bad", "body": "Hi {password}"})
    assert response.status_code == 422
    assert "password" in response.json()["detail"]


async def test_reply_with_an_unknown_macro_is_404_and_writes_nothing(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    response = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "x", "macro_id": 99999})
    assert response.status_code == 404
    assert await _replies(desk) == 0
    assert await desk.scalar(select(Ticket.status).where(Ticket.id == ticket_id)) == "open"


async def test_reply_to_a_ticket_from_no_mailbox_is_refused(desk: Desk) -> None:
    await desk.ingest(mail(message_id="<nomailbox@merchant.example>"), mailbox_id=None)
    ticket_id = await desk.ticket_of("nomailbox@merchant.example")
    response = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "Hello."})
    assert response.status_code == 422
    assert await _replies(desk) == 0


# -- notes, status, reroute, release ----------------------------------------------------------------


async def test_note_is_internal_and_sends_nothing(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    response = await desk.agent.post(f"/tickets/{ticket_id}/notes", json={"text": "Refund approved by finance"})
    assert response.status_code == 201
    assert (response.json()["kind"], response.json()["note"]) == ("note", "Refund approved by finance")
    assert await _replies(desk) == 0


async def test_status_moves_between_open_pending_and_solved(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    seen = []
    for status in ("pending", "solved", "open"):
        response = await desk.agent.post(f"/tickets/{ticket_id}/status", json={"status": status})
        seen.append(response.json()["status"])
    assert seen == ["pending", "solved", "open"]


@sqlite_only
async def test_status_outside_open_pending_solved_is_422(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    response = await desk.agent.post(f"/tickets/{ticket_id}/status", json={"status": "closed"})
    assert response.status_code == 422
    assert response.json()["error"] == "ValidationError"


async def test_another_agent_cannot_change_the_status_of_a_claimed_ticket(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    other = await desk.new_agent()
    response = await other.post(f"/tickets/{ticket_id}/status", json={"status": "solved"})
    assert response.status_code == 403
    assert await desk.scalar(select(Ticket.status).where(Ticket.id == ticket_id)) == "open"


async def test_solving_outside_triage_confirms_the_area_as_a_label(desk: Desk) -> None:
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    ticket_id = await _claimed_ticket(desk)
    await desk.agent.post(f"/tickets/{ticket_id}/reroute", json={"area": "payouts"})
    await desk.agent.post(f"/tickets/{ticket_id}/status", json={"status": "solved"})
    labels = await desk.all(select(Label.source).where(Label.ticket_id == ticket_id).order_by(Label.id))
    assert labels == ["corrected", "confirmed"]


async def test_solving_a_solved_ticket_again_changes_nothing(desk: Desk) -> None:
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    ticket_id = await _claimed_ticket(desk)
    await desk.agent.post(f"/tickets/{ticket_id}/reroute", json={"area": "payouts"})
    await desk.agent.post(f"/tickets/{ticket_id}/status", json={"status": "solved"})
    solved_at = await desk.scalar(select(Ticket.solved_at).where(Ticket.id == ticket_id))
    again = await desk.agent.post(f"/tickets/{ticket_id}/status", json={"status": "solved"})
    labels = await desk.all(select(Label.source).where(Label.ticket_id == ticket_id))
    kinds = await desk.all(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket_id))
    assert again.status_code == 200 and again.json()["status"] == "solved"
    assert await desk.scalar(select(Ticket.solved_at).where(Ticket.id == ticket_id)) == solved_at
    assert labels.count("confirmed") == 1
    assert kinds.count("status") == 1


async def test_releasing_a_ticket_nobody_holds_records_nothing(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail())
    released = await desk.agent.post(f"/tickets/{ticket_id}/release")
    kinds = await desk.all(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket_id))
    assert released.status_code == 200 and released.json()["assignee"] is None
    assert "released" not in kinds


async def test_reroute_records_a_label_and_returns_the_ticket_to_the_queue(desk: Desk) -> None:
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    ticket_id = await _claimed_ticket(desk)
    response = await desk.agent.post(f"/tickets/{ticket_id}/reroute", json={"area": "payouts"})
    label = await desk.scalar(select(Label).where(Label.ticket_id == ticket_id))
    assert (response.json()["area"], response.json()["assignee"], response.json()["routed_by"]) == (
        "payouts",
        None,
        "agent",
    )
    assert (label.area, label.previous_area, label.source, label.actor) == (
        "payouts",
        "triage",
        "corrected",
        "agent:ana",
    )


async def test_reroute_to_an_unknown_area_is_404_and_changes_nothing(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    response = await desk.agent.post(f"/tickets/{ticket_id}/reroute", json={"area": "nowhere"})
    assert response.status_code == 404
    assert await desk.scalar(select(func.count()).select_from(Label)) == 0
    assert (await desk.agent.get(f"/tickets/{ticket_id}")).json()["assignee"] == "ana"


async def test_another_agent_cannot_reroute_a_claimed_ticket(desk: Desk) -> None:
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    ticket_id = await _claimed_ticket(desk)
    other = await desk.new_agent()
    response = await other.post(f"/tickets/{ticket_id}/reroute", json={"area": "payouts"})
    assert response.status_code == 403
    assert (await desk.agent.get(f"/tickets/{ticket_id}")).json()["assignee"] == "ana"


async def test_release_puts_the_ticket_back_in_its_queue(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    released = await desk.agent.post(f"/tickets/{ticket_id}/release")
    other = await desk.new_agent()
    assert released.json()["assignee"] is None
    assert (await other.post("/queues/triage/claim")).json()["id"] == ticket_id


async def test_another_agent_cannot_release_a_claimed_ticket(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    other = await desk.new_agent()
    assert (await other.post(f"/tickets/{ticket_id}/release")).status_code == 403
    assert (await desk.agent.get(f"/tickets/{ticket_id}")).json()["assignee"] == "ana"


# -- customers writing again -------------------------------------------------------------------------


async def _solved(desk: Desk, *, days_ago: float) -> int:
    ticket_id = await desk.new_ticket(mail(message_id="<r1@merchant.example>"))
    await desk.agent.post(f"/tickets/{ticket_id}/status", json={"status": "solved"})
    await desk.execute(
        update(Ticket).where(Ticket.id == ticket_id).values(solved_at=utcnow() - timedelta(days=days_ago))
    )
    return ticket_id


def _answer() -> bytes:
    return mail(
        subject="Re: Payout missing",
        message_id="<r2@merchant.example>",
        in_reply_to="<r1@merchant.example>",
        body="It happened again.",
    )


async def test_customer_message_within_the_window_reopens_the_solved_ticket(desk: Desk) -> None:
    ticket_id = await _solved(desk, days_ago=13)
    await desk.ingest(_answer())
    assert await desk.ticket_of("r2@merchant.example") == ticket_id
    assert (await desk.agent.get(f"/tickets/{ticket_id}")).json()["status"] == "open"


async def test_customer_message_after_the_window_opens_a_new_linked_ticket(desk: Desk) -> None:
    ticket_id = await _solved(desk, days_ago=desk.settings.tickets.reopen_days + 1)
    await desk.ingest(_answer())
    new_id = await desk.ticket_of("r2@merchant.example")
    new = (await desk.agent.get(f"/tickets/{new_id}")).json()
    assert new_id != ticket_id
    assert (new["previous_ticket_id"], new["status"]) == (ticket_id, "open")
    assert (await desk.agent.get(f"/tickets/{ticket_id}")).json()["status"] == "solved"


async def test_bulk_mail_after_the_window_opens_a_new_linked_ticket_like_a_customer_message(desk: Desk) -> None:
    # Bulk mail (Precedence: bulk) reopens a ticket as a customer's message does, so the reopen
    # window holds for it too: a newsletter answering a ticket solved long ago does not revive it.
    ticket_id = await _solved(desk, days_ago=desk.settings.tickets.reopen_days + 1)
    await desk.ingest(
        mail(
            subject="Re: Payout missing",
            message_id="<r4@merchant.example>",
            in_reply_to="<r1@merchant.example>",
            headers={"Precedence": "bulk"},
        )
    )
    assert await desk.scalar(select(Message.auto).where(Message.message_id == "r4@merchant.example")) == "bulk"
    new_id = await desk.ticket_of("r4@merchant.example")
    assert new_id != ticket_id
    assert (await desk.agent.get(f"/tickets/{new_id}")).json()["previous_ticket_id"] == ticket_id
    assert (await desk.agent.get(f"/tickets/{ticket_id}")).json()["status"] == "solved"


async def test_auto_reply_does_not_reopen_a_solved_ticket(desk: Desk) -> None:
    ticket_id = await _solved(desk, days_ago=1)
    await desk.ingest(
        mail(
            subject="Out of office",
            message_id="<r3@merchant.example>",
            in_reply_to="<r1@merchant.example>",
            headers={"Auto-Submitted": "auto-replied"},
        )
    )
    assert (await desk.agent.get(f"/tickets/{ticket_id}")).json()["status"] == "solved"


# -- suggestions -------------------------------------------------------------------------------------


async def test_suggestions_are_the_top_three_macros_scored_and_rendered(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(
        mail(
            sender="Ana Silva <ana@merchant.example>",
            subject="Payout missing",
            body="My payout has not arrived in my bank account.",
        )
    )
    for title, body in [
        ("Payout delay", "Hi {customer_first_name}, payouts can take three bank days to arrive."),
        ("Payout missing", "Hi {customer_first_name}, we traced your missing payout to the bank."),
        ("Bank account", "Hi {customer_first_name}, please confirm the bank account for payouts."),
        ("Refund", "Hi {customer_first_name}, your refund is on its way."),
        ("API keys", "Rotate API keys in the dashboard."),
    ]:
        await _macro(desk, body, title)
    response = await desk.agent.get(f"/tickets/{ticket_id}/suggestions")
    suggestions = response.json()
    scores = [s["score"] for s in suggestions]
    assert response.status_code == 200
    assert len(suggestions) == 3
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert {s["title"] for s in suggestions} <= {"Payout delay", "Payout missing", "Bank account"}
    assert all(s["body"].startswith("Hi Ana, ") for s in suggestions)
