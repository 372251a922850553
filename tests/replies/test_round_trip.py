"""A reply goes out over real SMTP and the customer's answer comes back through a real IMAP server."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from sqlalchemy import func, select

from app.db import unit_of_work
from app.inbox.models import Mailbox
from app.inbox.poller import MailboxPoller, MailboxRef
from app.tickets.models import Ticket, TicketEvent
from tests.api.desk import SUPPORT, Desk
from tests.fixtures.smtp import Received
from tests.mailgen import mail


async def _poll(desk: Desk, mailbox_id: int) -> None:
    async with unit_of_work(desk.runtime.sessionmaker) as session:
        row = await session.get(Mailbox, mailbox_id)
        assert row is not None
        ref = MailboxRef.from_row(row, desk.runtime.secrets)
    poller = MailboxPoller(
        ref,
        sessionmaker=desk.runtime.sessionmaker,
        settings=desk.settings,
        router=desk.runtime.router,
        owner="round-trip",
    )
    counts = await poller.poll_once()
    assert counts.failed == 0, counts


async def _imap_mailbox(desk: Desk, imap_server: Any) -> int:
    endpoint = imap_server.endpoint
    response = await desk.admin.post(
        "/admin/mailboxes",
        json={
            "name": "inbound",
            "imap_host": endpoint.host,
            "imap_port": endpoint.port,
            "imap_security": endpoint.security,
            "imap_username": endpoint.username,
            "imap_password": endpoint.password,
            "folder": endpoint.folder,
            "address": "support@routedesk.example",
            "from_name": "Routedesk Support",
            "smtp_host": desk.smtp.host,
            "smtp_port": desk.smtp.port,
            "smtp_security": "none",
        },
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _answer(to: Received, *, body: str, keep_headers: bool = True) -> tuple[bytes, str]:
    """What the customer's mail client sends back when they press Reply, and its Message-ID."""
    ours = to.message
    msg = EmailMessage()
    msg["From"] = "Ana Silva <ana@merchant.example>"
    msg["To"] = str(ours["From"])
    msg["Subject"] = f"Re: {ours['Subject']}"
    msg["Message-ID"] = make_msgid(domain="merchant.example")
    if keep_headers:
        msg["In-Reply-To"] = str(ours["Message-ID"])
        msg["References"] = f"{ours['References']} {ours['Message-ID']}"
    quoted = "\n".join(f"> {line}" for line in ours.get_content().splitlines())
    msg.set_content(f"{body}\n\nOn Monday, Routedesk Support wrote:\n{quoted}\n")
    return msg.as_bytes(), str(msg["Message-ID"])


async def _reply_sent(desk: Desk, imap_server: Any) -> tuple[int, int, Received]:
    mailbox_id = await _imap_mailbox(desk, imap_server)
    await imap_server.append(mail(sender="Ana Silva <ana@merchant.example>", message_id="<rt1@merchant.example>"))
    await _poll(desk, mailbox_id)
    ticket_id = await desk.ticket_of("rt1@merchant.example")
    await desk.agent.post("/queues/triage/claim")
    reply = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "Your payout left on Tuesday."})
    assert reply.status_code == 200, reply.text
    await desk.send_due()
    [ours] = [m for m in desk.smtp.messages if m.message_id == reply.json()["message_id"]]
    return mailbox_id, ticket_id, ours


async def test_customer_answer_to_our_reply_lands_in_the_same_ticket(desk: Desk, imap_server: Any) -> None:
    mailbox_id, ticket_id, ours = await _reply_sent(desk, imap_server)
    answer, answer_id = _answer(ours, body="It arrived, thank you!")
    await imap_server.append(answer)
    await _poll(desk, mailbox_id)
    threaded = await desk.all(
        select(TicketEvent.data).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == "customer_message")
    )
    assert await desk.ticket_of(answer_id) == ticket_id
    assert await desk.scalar(select(func.count()).select_from(Ticket)) == 1
    assert [event["threaded_by"] for event in threaded] == ["header"]
    # The reply left the ticket pending; the customer's answer puts it back in front of the agent.
    assert (await desk.agent.get(f"/tickets/{ticket_id}")).json()["status"] == "open"


async def test_answer_without_threading_headers_finds_the_ticket_by_its_subject_token(
    desk: Desk, imap_server: Any
) -> None:
    mailbox_id, ticket_id, ours = await _reply_sent(desk, imap_server)
    answer, answer_id = _answer(ours, body="One more thing.", keep_headers=False)
    await imap_server.append(answer)
    await _poll(desk, mailbox_id)
    assert await desk.ticket_of(answer_id) == ticket_id


async def test_agent_reply_is_from_the_agent_at_the_mailbox_and_the_acknowledgement_from_the_mailbox(
    desk: Desk,
) -> None:
    ticket_id = await desk.new_ticket(mail(message_id="<dn1@merchant.example>"))
    reply = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "It left on Tuesday."})
    assert reply.status_code == 200, reply.text
    await desk.send_due()
    ack, ours = desk.smtp.messages
    assert ack.message["From"].addresses[0].display_name == "Routedesk Support"
    assert ours.message["From"].addresses[0].display_name == "Ana at Routedesk Support"
    assert {ack.message["From"].addresses[0].addr_spec, ours.message["From"].addresses[0].addr_spec} == {SUPPORT}


async def test_hostile_and_non_ascii_from_names_reach_the_smtp_server_intact_and_inert(desk: Desk) -> None:
    for index, from_name in enumerate(['Acme "Support", Inc.', "Señor Ünïcode Support", "Acme\rBcc: x@evil.example"]):
        patched = await desk.admin.patch(f"/admin/mailboxes/{desk.mailbox_id}", json={"from_name": from_name})
        if "\r" in from_name:
            # Refused at the API (a name is one line); the composer strips it anyway (tests/mail).
            assert patched.status_code == 422, patched.text
            continue
        assert patched.status_code == 200, patched.text
        ticket_id = await desk.new_ticket(
            mail(message_id=f"<dn-h{index}@merchant.example>", sender=f"c{index}@x.example")
        )
        assert (await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "Done."})).status_code == 200
    await desk.send_due()
    shown = [
        (m.message["From"].addresses[0].display_name, m.message["From"].addresses[0].addr_spec)
        for m in desk.smtp.messages
    ]
    assert shown == [
        ('Acme "Support", Inc.', SUPPORT),
        ('Ana at Acme "Support", Inc.', SUPPORT),
        ("Señor Ünïcode Support", SUPPORT),
        ("Ana at Señor Ünïcode Support", SUPPORT),
    ]
    assert all(m.message["Bcc"] is None for m in desk.smtp.messages)


async def test_without_a_from_name_replies_are_from_the_bare_address(desk: Desk) -> None:
    patched = await desk.admin.patch(f"/admin/mailboxes/{desk.mailbox_id}", json={"from_name": None})
    assert patched.status_code == 200, patched.text
    ticket_id = await desk.new_ticket(mail(message_id="<dn-bare@merchant.example>"))
    assert (await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "Done."})).status_code == 200
    await desk.send_due()
    assert [str(m.message["From"]) for m in desk.smtp.messages] == [SUPPORT, SUPPORT]
