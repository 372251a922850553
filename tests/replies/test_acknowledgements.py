from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from app.db import utcnow
from app.replies.models import Outbox
from app.tickets.models import Ticket
from tests.api.desk import Desk
from tests.mailgen import mail


async def _acknowledgements(desk: Desk) -> list[Outbox]:
    return await desk.all(select(Outbox).where(Outbox.kind == "acknowledgement").order_by(Outbox.id))


async def test_first_message_is_acknowledged_with_the_ticket_reference(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(
        mail(sender="Ana Silva <ana@merchant.example>", message_id="<ack1@merchant.example>")
    )
    await desk.send_due()
    [received] = desk.smtp.messages
    sent = received.message
    reference = await desk.scalar(select(Ticket.reference).where(Ticket.id == ticket_id))
    assert received.rcpt_tos == ("ana@merchant.example",)
    assert f"[{reference}]" in sent["Subject"]
    assert reference in sent.get_content() and sent.get_content().startswith("Hello Ana,")
    assert sent["In-Reply-To"] == "<ack1@merchant.example>"
    assert sent["Auto-Submitted"] == "auto-replied"


async def test_acknowledgement_is_on_the_ticket_thread(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail())
    [ack] = await _acknowledgements(desk)
    thread = (await desk.agent.get(f"/tickets/{ticket_id}")).json()["messages"]
    assert ack.ticket_id == ticket_id
    assert [(m["direction"], m["auto"]) for m in thread] == [("inbound", None), ("outbound", "auto_reply")]


async def test_follow_up_message_is_not_acknowledged_again(desk: Desk) -> None:
    await desk.ingest(mail(message_id="<f1@merchant.example>"))
    await desk.ingest(
        mail(subject="Re: Payout missing", message_id="<f2@merchant.example>", in_reply_to="<f1@merchant.example>")
    )
    assert len(await _acknowledgements(desk)) == 1


async def test_area_that_wants_no_acknowledgement_gets_none(desk: Desk) -> None:
    await desk.new_ticket(mail(message_id="<n1@merchant.example>"))
    response = await desk.admin.patch("/admin/areas/triage", json={"acknowledge": False})
    assert response.status_code == 200
    await desk.new_ticket(
        mail(subject="Another question", message_id="<n2@merchant.example>", sender="bo@shop.example")
    )
    assert [a.rcpt_to for a in await _acknowledgements(desk)] == ["ana@merchant.example"]


async def test_automatic_mail_is_never_acknowledged(desk: Desk) -> None:
    await desk.ingest(
        mail(subject="Out of office", headers={"Auto-Submitted": "auto-replied"}),
        mail(subject="Weekly digest", sender="news@shop.example", headers={"Precedence": "bulk"}),
        mail(subject="Your order", sender="noreply@shop.example"),
        mail(subject="Loop", sender="support@routedesk.example"),
    )
    assert await _acknowledgements(desk) == []


async def test_acknowledgements_per_sender_are_capped_per_hour(desk: Desk) -> None:
    cap = desk.settings.tickets.acknowledgements_per_hour
    await desk.ingest(*(mail(subject=f"Question {i}") for i in range(cap + 1)))
    await desk.ingest(mail(subject="One more question"))
    await desk.ingest(mail(subject="Someone else's question", sender="bo@shop.example"))
    recipients = [a.rcpt_to for a in await _acknowledgements(desk)]
    assert recipients.count("ana@merchant.example") == cap
    assert recipients.count("bo@shop.example") == 1


async def test_acknowledgement_cap_frees_up_after_an_hour(desk: Desk) -> None:
    cap = desk.settings.tickets.acknowledgements_per_hour
    await desk.ingest(*(mail(subject=f"Question {i}") for i in range(cap)))
    await desk.execute(update(Outbox).values(created_at=utcnow() - timedelta(minutes=61)))
    await desk.ingest(mail(subject="A new day"))
    assert len(await _acknowledgements(desk)) == cap + 1


def _raw(from_line: str, message_id: str) -> bytes:
    """A mail with its From line exactly as given (mailgen's EmailMessage would rewrite a broken one)."""
    return (
        f"From: {from_line}\r\nTo: support@routedesk.example\r\nSubject: Help\r\n"
        f"Message-ID: {message_id}\r\nDate: Mon, 02 Nov 2026 09:00:00 +0000\r\n\r\nMy payout is late.\r\n"
    ).encode()


# Malformed From lines seen in real mail, as the parser reads their address.
JUNK_FROM = {
    "a": "a",
    "@powerupdev.com": "@powerupdev.com",
    "=?utf-8?b?QmlnIEJ1Zw==?=": "=?utf-8?b?qmlniej1zw==?=",
    "Big Bug bb@bug.com": "big bug bb@bug.com",
}


async def test_sender_that_is_no_address_gets_no_acknowledgement_and_the_ticket_says_why(desk: Desk) -> None:
    for n, from_line in enumerate(JUNK_FROM):
        ticket_id = await desk.new_ticket(_raw(from_line, f"<junk{n}@merchant.example>"))
        detail = (await desk.agent.get(f"/tickets/{ticket_id}")).json()
        [skipped] = [e for e in detail["events"] if e["kind"] == "acknowledgement_skipped"]
        assert skipped["data"]["reason"] == "invalid_address"
        assert skipped["data"]["address"] == JUNK_FROM[from_line]
        assert skipped["data"]["detail"]
        assert [m["direction"] for m in detail["messages"]] == ["inbound"]
    assert await _acknowledgements(desk) == []
    assert await desk.send_due() == 0
    assert desk.smtp.deliveries == []


async def test_acknowledgement_held_back_by_the_hourly_cap_is_noted_on_the_ticket(desk: Desk) -> None:
    cap = desk.settings.tickets.acknowledgements_per_hour
    await desk.ingest(*(mail(subject=f"Question {i}") for i in range(cap)))
    ticket_id = await desk.new_ticket(mail(subject="One too many", message_id="<cap@merchant.example>"))
    events = (await desk.agent.get(f"/tickets/{ticket_id}")).json()["events"]
    [skipped] = [e["data"] for e in events if e["kind"] == "acknowledgement_skipped"]
    assert (skipped["reason"], skipped["address"]) == ("rate_limited", "ana@merchant.example")


async def test_acknowledged_ticket_has_no_skip_event(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail())
    events = (await desk.agent.get(f"/tickets/{ticket_id}")).json()["events"]
    assert "acknowledgement_skipped" not in [e["kind"] for e in events]
    assert len(await _acknowledgements(desk)) == 1


async def test_reply_to_a_customer_address_that_cannot_receive_mail_is_refused(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(_raw("Big Bug bb@bug.com", "<bigbug@merchant.example>"))
    await desk.agent.post("/queues/triage/claim")
    response = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "We are on it."})
    assert response.status_code == 422, response.text
    assert "cannot receive mail" in response.text and "space" in response.text
    assert await desk.all(select(Outbox.id).where(Outbox.ticket_id == ticket_id)) == []
    assert (await desk.agent.get(f"/tickets/{ticket_id}")).json()["status"] == "open"


async def test_unattended_sender_is_noted_as_the_reason_for_no_acknowledgement(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail(subject="Your order", sender="noreply@shop.example"))
    events = (await desk.agent.get(f"/tickets/{ticket_id}")).json()["events"]
    [skipped] = [e["data"] for e in events if e["kind"] == "acknowledgement_skipped"]
    assert (skipped["reason"], skipped["address"]) == ("unattended_address", "noreply@shop.example")
    assert await _acknowledgements(desk) == []


async def test_acknowledgement_greets_by_the_first_name_from_a_family_name_first_sender(desk: Desk) -> None:
    await desk.new_ticket(mail(sender='"Silva, Ana" <ana@merchant.example>', message_id="<ack-fn@merchant.example>"))
    await desk.send_due()
    [received] = desk.smtp.messages
    assert received.message.get_content().startswith("Hello Ana,")


async def test_acknowledgement_greets_without_a_name_when_the_name_is_an_address(desk: Desk) -> None:
    await desk.new_ticket(
        mail(sender='"ana@merchant.example" <ana@merchant.example>', message_id="<ack-a@merchant.example>")
    )
    await desk.send_due()
    [received] = desk.smtp.messages
    assert received.message.get_content().splitlines()[0] == "Hello,"
