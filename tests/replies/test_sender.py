from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from app.config import Settings
from app.db import unit_of_work, utcnow
from app.inbox.mailboxes import smtp_endpoint
from app.inbox.models import Mailbox
from app.mail.smtp import SmtpPermanentError, send
from app.replies import repository, sender
from app.replies import service as replies
from app.replies.models import Outbox
from app.replies.sender import retry_delay
from app.tickets import service as tickets
from app.tickets.models import TicketEvent
from tests.api.desk import Desk
from tests.mailgen import mail


async def _reply(desk: Desk, text: str = "Your payout was sent today.") -> tuple[int, int, str]:
    """A claimed ticket answered through the API, its acknowledgement already delivered:
    (ticket id, outbox id, Message-ID)."""
    ticket_id = await desk.new_ticket(mail(message_id="<first@merchant.example>"))
    await desk.send_due()
    desk.smtp.deliveries.clear()
    await desk.agent.post("/queues/triage/claim")
    result = (await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": text})).json()
    return ticket_id, result["outbox_id"], result["message_id"]


async def _send_at(desk: Desk, when: datetime, *, owner: str = "test-sender", **smtp: Any) -> int:
    """One pass of the outbox sender with its clock pinned at `when`."""
    settings = desk.settings.model_copy(update={"smtp": desk.settings.smtp.model_copy(update=smtp)})
    return await sender.send_due(
        desk.runtime.sessionmaker, settings, desk.runtime.secrets, owner=owner, clock=lambda: when
    )


async def _row(desk: Desk, outbox_id: int) -> Outbox:
    row: Outbox | None = await desk.scalar(select(Outbox).where(Outbox.id == outbox_id))
    assert row is not None
    return row


async def _events(desk: Desk, ticket_id: int, kind: str) -> list[TicketEvent]:
    return await desk.all(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == kind))


async def test_reply_is_sent_with_the_message_id_fixed_when_it_was_queued(desk: Desk) -> None:
    _ticket, outbox_id, message_id = await _reply(desk)
    assert await desk.send_due() == 1
    [received] = desk.smtp.messages
    row = await _row(desk, outbox_id)
    assert received.message_id == message_id
    assert received.data == row.raw
    assert (received.mail_from, received.rcpt_tos) == ("support@routedesk.example", ("ana@merchant.example",))
    assert (row.status, row.attempts, row.sent_at is not None) == ("sent", 1, True)


async def test_reply_threads_under_the_customer_message(desk: Desk) -> None:
    ticket_id, _outbox, _mid = await _reply(desk)
    await desk.send_due()
    sent = desk.smtp.messages[0].message
    reference = (await desk.agent.get(f"/tickets/{ticket_id}")).json()["reference"]
    assert sent["In-Reply-To"] == "<first@merchant.example>"
    assert str(sent["References"]).split()[0] == "<first@merchant.example>"
    assert sent["Subject"] == f"Re: Payout missing [{reference}]"
    assert sent["Auto-Submitted"] is None


async def test_sent_reply_shows_as_delivered_on_the_ticket(desk: Desk) -> None:
    ticket_id, _outbox, message_id = await _reply(desk)
    await desk.send_due()
    thread = (await desk.agent.get(f"/tickets/{ticket_id}")).json()["messages"]
    assert [m["delivery"] for m in thread if m["message_id"] == message_id] == ["sent"]


async def test_reply_rolled_back_with_its_transaction_leaves_no_outbox_row(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail())
    before = len(await desk.all(select(Outbox.id)))

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with unit_of_work(desk.runtime.sessionmaker) as session:
            ticket = await tickets.get_ticket(session, ticket_id, for_update=True)
            await replies.enqueue_reply(session, ticket, body="never")
            raise Abort  # whatever fails later in the request takes the reply with it
    assert len(await desk.all(select(Outbox.id))) == before
    assert (await desk.agent.get(f"/tickets/{ticket_id}")).json()["status"] == "open"


async def test_temporary_failure_leaves_the_reply_queued_with_backoff(desk: Desk) -> None:
    _ticket, outbox_id, _mid = await _reply(desk)
    desk.smtp.fail(451, times=1)
    started = utcnow()
    assert await desk.send_due() == 1
    row = await _row(desk, outbox_id)
    wait = (row.next_attempt_at - started).total_seconds()
    initial = desk.settings.smtp.retry_initial
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.last_error is not None and "451" in row.last_error
    assert 0.8 * initial - 1 <= wait <= 1.2 * initial + 1
    assert await desk.send_due() == 0  # not due again before its backoff


def test_backoff_doubles_per_attempt_up_to_the_maximum() -> None:
    settings = Settings(smtp={"retry_initial": 10, "retry_max": 100})
    delays = [retry_delay(attempt, settings) for attempt in (1, 2, 3, 4, 5, 9)]
    bounds = [(8, 12), (16, 24), (32, 48), (64, 96), (80, 120), (80, 120)]
    assert all(low <= delay <= high for delay, (low, high) in zip(delays, bounds, strict=True))


async def test_temporary_failures_are_retried_until_the_reply_is_sent(desk: Desk) -> None:
    _ticket, outbox_id, message_id = await _reply(desk)
    desk.smtp.fail(451, times=2)
    start = utcnow()
    # Each pass two hours later than the last: past any backoff (retry_max is one hour).
    for n in range(3):
        assert await _send_at(desk, start + timedelta(hours=2 * n)) == 1
    row = await _row(desk, outbox_id)
    assert (row.status, row.attempts) == ("sent", 3)
    # Every attempt carried the very same message.
    assert {d.data for d in desk.smtp.deliveries} == {row.raw}
    assert [d.accepted for d in desk.smtp.deliveries] == [False, False, True]
    assert desk.smtp.messages[0].message_id == message_id


async def test_permanent_failure_shows_on_the_ticket(desk: Desk) -> None:
    ticket_id, outbox_id, message_id = await _reply(desk)
    desk.smtp.fail(550)
    await desk.send_due()
    row = await _row(desk, outbox_id)
    [event] = await _events(desk, ticket_id, "delivery_failed")
    thread = (await desk.agent.get(f"/tickets/{ticket_id}")).json()
    assert (row.status, row.attempts) == ("failed", 1)
    assert event.data["outbox"] == outbox_id and "550" in event.data["error"]
    assert [m["delivery"] for m in thread["messages"] if m["message_id"] == message_id] == ["failed"]
    assert "delivery_failed" in [e["kind"] for e in thread["events"]]


async def test_refused_recipient_is_a_permanent_failure(desk: Desk) -> None:
    ticket_id, outbox_id, _mid = await _reply(desk)
    desk.smtp.fail(550, stage="rcpt", text="5.1.1 No such user")
    await desk.send_due()
    assert (await _row(desk, outbox_id)).status == "failed"
    assert len(await _events(desk, ticket_id, "delivery_failed")) == 1


async def test_failed_reply_is_not_sent_again(desk: Desk) -> None:
    _ticket, _outbox, _mid = await _reply(desk)
    desk.smtp.fail(554)
    await desk.send_due()
    desk.smtp.reset()
    await desk.execute(update(Outbox).values(next_attempt_at=utcnow() - timedelta(hours=1)))
    assert await desk.send_due() == 0
    assert desk.smtp.messages == []


async def test_temporary_failures_become_permanent_after_the_last_attempt(desk: Desk) -> None:
    ticket_id, outbox_id, _mid = await _reply(desk)
    desk.smtp.fail(421)
    start = utcnow()
    for n in range(3):
        assert await _send_at(desk, start + timedelta(hours=2 * n), max_attempts=3) == 1
    assert await _send_at(desk, start + timedelta(hours=10), max_attempts=3) == 0
    row = await _row(desk, outbox_id)
    assert (row.status, row.attempts) == ("failed", 3)
    assert len(desk.smtp.deliveries) == 3
    assert len(await _events(desk, ticket_id, "delivery_failed")) == 1


async def test_reply_held_by_a_dead_sender_is_resent_unchanged_after_its_lease(desk: Desk) -> None:
    _ticket, outbox_id, message_id = await _reply(desk)
    # A sender claims the row and sends it, then dies before it can record that it did.
    lease = desk.settings.smtp.send_lease_seconds
    now = utcnow()
    async with unit_of_work(desk.runtime.sessionmaker) as session:
        [claimed] = (
            await repository.claim_due(
                session,
                owner="dead-worker",
                now=now,
                lease_until=now + timedelta(seconds=lease),
                limit=10,
                max_attempts=8,
            )
        ).rows
        mailbox = await session.get(Mailbox, claimed.mailbox_id)
        assert mailbox is not None and mailbox.smtp_host and mailbox.smtp_port
        endpoint = smtp_endpoint(mailbox, desk.runtime.secrets)
        raw, mail_from, rcpt_to = claimed.raw, claimed.mail_from, claimed.rcpt_to
    assert endpoint is not None
    await send(endpoint, mail_from=mail_from, rcpt_to=[rcpt_to], raw=raw, settings=desk.settings.smtp)
    # While the dead sender's lease lasts, no other sender touches the row; then one takes it over.
    lease_end = now + timedelta(seconds=lease)
    assert await _send_at(desk, lease_end - timedelta(milliseconds=1), owner="live-worker") == 0
    assert await _send_at(desk, lease_end, owner="live-worker") == 1
    first, second = desk.smtp.messages
    row = await _row(desk, outbox_id)
    assert first.data == second.data == row.raw
    assert first.message_id == second.message_id == message_id
    assert (row.status, row.attempts, row.owner) == ("sent", 2, "live-worker")


async def test_sender_that_overran_its_lease_cannot_overwrite_the_outcome_of_the_one_that_took_over(
    desk: Desk,
) -> None:
    ticket_id, outbox_id, _message_id = await _reply(desk)
    now = utcnow()
    async with unit_of_work(desk.runtime.sessionmaker) as session:
        [claimed] = (
            await repository.claim_due(
                session,
                owner="slow-worker",
                now=now,
                lease_until=now + timedelta(seconds=30),
                limit=10,
                max_attempts=8,
            )
        ).rows
        attempts = claimed.attempts
    # Its lease ran out: another sender took the row over and delivered it.
    assert await _send_at(desk, now + timedelta(seconds=31), owner="live-worker") == 1
    # The slow sender comes back with a failure for the row it no longer holds.
    await sender._record(
        desk.runtime.sessionmaker,
        desk.settings,
        outbox_id,
        attempts,
        SmtpPermanentError("550 too late"),
        owner="slow-worker",
    )
    row = await _row(desk, outbox_id)
    assert (row.status, row.owner, row.last_error) == ("sent", "live-worker", None)
    assert await _events(desk, ticket_id, "delivery_failed") == []


async def test_concurrent_senders_send_each_reply_once(desk: Desk) -> None:
    for i in range(6):
        ticket_id = await desk.new_ticket(mail(message_id=f"<many{i}@merchant.example>", sender=f"c{i}@x.example"))
        await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": f"Answer {i}"})
    queued = len(await desk.all(select(Outbox.id)))
    handled = await asyncio.gather(*(desk.send_due(owner=f"worker-{n}", batch=2) for n in range(4)))
    while sum(handled) < queued:
        handled.append(await desk.send_due(owner="worker-late"))
    message_ids = [m.message_id for m in desk.smtp.messages]
    assert len(message_ids) == len(set(message_ids)) == queued == 12


async def test_reply_logs_in_with_the_mailbox_smtp_credentials(desk: Desk) -> None:
    desk.smtp.require_login("support@routedesk.example", "relay-password")
    response = await desk.admin.patch(
        f"/admin/mailboxes/{desk.mailbox_id}",
        json={"smtp_username": "support@routedesk.example", "smtp_password": "relay-password"},
    )
    assert response.status_code == 200
    _ticket, outbox_id, _mid = await _reply(desk)
    await desk.send_due()
    assert desk.smtp.logins and set(desk.smtp.logins) == {"support@routedesk.example"}
    assert (await _row(desk, outbox_id)).status == "sent"


async def test_wrong_smtp_password_fails_the_reply_permanently(desk: Desk) -> None:
    desk.smtp.require_login("support@routedesk.example", "relay-password")
    await desk.admin.patch(
        f"/admin/mailboxes/{desk.mailbox_id}",
        json={"smtp_username": "support@routedesk.example", "smtp_password": "wrong"},
    )
    _ticket, outbox_id, _mid = await _reply(desk)
    await desk.send_due()
    row = await _row(desk, outbox_id)
    assert row.status == "failed" and "wrong" not in (row.last_error or "")


async def test_reply_from_a_mailbox_without_smtp_settings_fails_visibly(desk: Desk) -> None:
    await desk.admin.patch(f"/admin/mailboxes/{desk.mailbox_id}", json={"smtp_host": None})
    ticket_id, outbox_id, _mid = await _reply(desk)
    await desk.send_due()
    assert (await _row(desk, outbox_id)).status == "failed"
    assert len(await _events(desk, ticket_id, "delivery_failed")) == 2  # the acknowledgement, then the reply
