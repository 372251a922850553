"""The outbox under faults and hostile data, against the real aiosmtpd sink on SQLite and PostgreSQL:
addresses that cannot be sent, servers with and without SMTPUTF8, senders killed mid-send, slow
batches that outlive their lease, connections dropped mid-batch. Every outcome is per row."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from app.config import Settings
from app.db import unit_of_work, utcnow
from app.inbox.models import Mailbox, Message
from app.replies import repository, sender
from app.replies import service as replies
from app.replies.models import Outbox
from app.tickets import service as tickets
from app.tickets.models import TicketEvent
from tests.api.desk import Desk
from tests.mailgen import mail

REPO = Path(__file__).resolve().parents[2]


async def _ticket(desk: Desk, sender: str = "ana@merchant.example") -> int:
    """A ticket whose acknowledgement is already delivered (and cleared from the sink)."""
    ticket_id = await desk.new_ticket(mail(sender=sender))
    await desk.send_due()
    desk.smtp.deliveries.clear()
    return ticket_id


async def _queue(desk: Desk, ticket_id: int, to: str, body: str = "Your payout was sent today.") -> Outbox:
    """An outbox row for `to`, written the way the reply path writes it (as one queued before addresses
    were checked at enqueue time would be)."""
    async with unit_of_work(desk.runtime.sessionmaker) as session:
        ticket = await tickets.get_ticket(session, ticket_id)
        mailbox = await session.get(Mailbox, desk.mailbox_id)
        assert mailbox is not None
        row = await replies.enqueue(session, ticket, kind="reply", body=body, mailbox=mailbox, to=[to], now=utcnow())
        await session.flush()
        return row


async def _row(desk: Desk, outbox_id: int) -> Outbox:
    row: Outbox | None = await desk.scalar(select(Outbox).where(Outbox.id == outbox_id))
    assert row is not None
    return row


async def _events(desk: Desk, ticket_id: int, kind: str) -> list[TicketEvent]:
    return await desk.all(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == kind))


def _at(when: datetime) -> Callable[[], datetime]:
    return lambda: when


async def _send(desk: Desk, *, owner: str = "test-sender", clock: Callable[[], datetime] = utcnow, **smtp: Any) -> int:
    """One pass of the outbox sender on the clock given, with SMTP settings changed by `smtp`."""
    settings = desk.settings.model_copy(update={"smtp": desk.settings.smtp.model_copy(update=smtp)})
    return await sender.send_due(desk.runtime.sessionmaker, settings, desk.runtime.secrets, owner=owner, clock=clock)


async def _delivery(desk: Desk, ticket_id: int, outbox: Outbox) -> str | None:
    detail = (await desk.agent.get(f"/tickets/{ticket_id}")).json()
    message_id = await desk.scalar(select(Outbox.message_id).where(Outbox.id == outbox.id))
    [shown] = [m["delivery"] for m in detail["messages"] if m["id"] == message_id]
    return shown  # type: ignore[no-any-return]


# -- one bad address --------------------------------------------------------------------------------


async def test_address_with_spaces_fails_its_row_alone_and_the_rest_of_the_batch_is_sent(desk: Desk) -> None:
    good = await _ticket(desk)
    bad = await _ticket(desk, sender="bo@shop.example")
    # The bad row is first in the batch, the agent's reply queued behind it.
    stuck = await _queue(desk, bad, "big bug bb@bug.com")
    reply = await _queue(desk, good, "ana@merchant.example", body="Your payout left on Tuesday.")
    assert await desk.send_due() == 2
    failed, sent = await _row(desk, stuck.id), await _row(desk, reply.id)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error is not None and "space" in failed.last_error
    assert (sent.status, sent.attempts) == ("sent", 1)
    assert [m.rcpt_tos for m in desk.smtp.messages] == [("ana@merchant.example",)]
    [event] = await _events(desk, bad, "delivery_failed")
    assert event.data["outbox"] == stuck.id and "space" in event.data["error"]
    assert await _delivery(desk, bad, stuck) == "failed"
    assert await desk.send_due() == 0  # nothing left to retry


async def test_non_ascii_address_is_sent_with_smtputf8_where_the_server_offers_it(desk: Desk) -> None:
    ticket_id = await _ticket(desk)
    row = await _queue(desk, ticket_id, "jdöe@mächine.example")
    assert await desk.send_due() == 1
    [received] = desk.smtp.messages
    assert received.rcpt_tos == ("jdöe@xn--mchine-bua.example",)
    assert received.data == (await _row(desk, row.id)).raw
    assert (await _row(desk, row.id)).status == "sent"


async def test_non_ascii_address_is_a_permanent_failure_when_the_server_has_no_smtputf8(desk: Desk) -> None:
    desk.smtp.smtputf8 = False
    ticket_id = await _ticket(desk)
    row = await _queue(desk, ticket_id, "jdöe@mächine.example")
    after = await _queue(desk, ticket_id, "ana@merchant.example")
    assert await desk.send_due() == 2
    failed = await _row(desk, row.id)
    assert failed.status == "failed"
    assert failed.last_error is not None and "does not offer SMTPUTF8" in failed.last_error
    assert "jdöe@" in failed.last_error
    [event] = await _events(desk, ticket_id, "delivery_failed")
    assert "SMTPUTF8" in event.data["error"]
    assert (await _row(desk, after.id)).status == "sent"
    assert [m.rcpt_tos for m in desk.smtp.messages] == [("ana@merchant.example",)]


async def test_international_domain_is_sent_as_idna_to_a_server_without_smtputf8(desk: Desk) -> None:
    desk.smtp.smtputf8 = False
    ticket_id = await _ticket(desk)
    row = await _queue(desk, ticket_id, "ana@mächine.example")
    await desk.send_due()
    assert (await _row(desk, row.id)).status == "sent"
    assert [m.rcpt_tos for m in desk.smtp.messages] == [("ana@xn--mchine-bua.example",)]


async def test_mailbox_whose_smtp_settings_cannot_be_used_fails_only_its_own_rows(desk: Desk) -> None:
    ticket_id = await _ticket(desk)
    other = await desk.admin.post(
        "/admin/mailboxes",
        json={
            "name": "billing",
            "imap_host": "127.0.0.1",
            "imap_username": "billing@routedesk.example",
            "imap_password": "imap-secret",
            "address": "billing@routedesk.example",
            "smtp_host": desk.smtp.host,
            "smtp_port": desk.smtp.port,
            "smtp_security": "none",
            "smtp_username": "billing@routedesk.example",
            "smtp_password": "relay-password",
        },
    )
    assert other.status_code == 201, other.text
    broken = await _queue(desk, ticket_id, "ana@merchant.example", body="From the broken mailbox")
    # Its password was saved under another secret key (or corrupted): it cannot be decrypted.
    await desk.execute(update(Outbox).where(Outbox.id == broken.id).values(mailbox_id=other.json()["id"]))
    await desk.execute(
        update(Mailbox).where(Mailbox.id == other.json()["id"]).values(smtp_password_encrypted="not-a-fernet-token")
    )
    fine = await _queue(desk, ticket_id, "ana@merchant.example", body="From the working mailbox")
    assert await desk.send_due() == 2
    row = await _row(desk, broken.id)
    assert (row.status, row.attempts) == ("queued", 1)  # retried (the admin may fix the key), capped
    assert row.last_error is not None and "cannot be used" in row.last_error
    assert "relay-password" not in row.last_error
    assert (await _row(desk, fine.id)).status == "sent"
    assert len(desk.smtp.messages) == 1


# -- attempts are capped, counted at claim ------------------------------------------------------------


async def test_row_whose_sender_died_during_each_attempt_fails_after_max_attempts(desk: Desk) -> None:
    ticket_id = await _ticket(desk)
    row = await _queue(desk, ticket_id, "ana@merchant.example")
    start = utcnow()
    # Three senders in turn claim the row and die before they can record anything.
    for n in range(3):
        now = start + timedelta(minutes=n)
        async with unit_of_work(desk.runtime.sessionmaker) as session:
            claim = await repository.claim_due(
                session,
                owner=f"killed-{n}",
                now=now,
                lease_until=now + timedelta(seconds=30),
                limit=10,
                max_attempts=3,
            )
            assert [r.id for r in claim.rows] == [row.id]
    assert await _send(desk, max_attempts=3, clock=_at(start + timedelta(minutes=10))) == 1
    failed = await _row(desk, row.id)
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert failed.last_error is not None and "gave up after 3 attempts" in failed.last_error
    assert "stopped before it finished" in failed.last_error
    [event] = await _events(desk, ticket_id, "delivery_failed")
    assert event.data["outbox"] == row.id
    assert desk.smtp.deliveries == []  # no fourth send
    assert await _send(desk, max_attempts=3, clock=_at(start + timedelta(hours=10))) == 0


# -- takeover after kill -9, and a live slow sender keeps its rows --------------------------------------


def test_default_lease_lets_another_sender_take_over_within_a_minute() -> None:
    smtp = Settings().smtp
    # A dead sender's rows are free at most one lease after its last heartbeat.
    assert smtp.send_lease_seconds < 60
    assert smtp.send_heartbeat_seconds * 2 <= smtp.send_lease_seconds


def _sender_env(desk: Desk, **smtp: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEDESK_")}
    env.update(
        ROUTEDESK_DATABASE_URL=desk.settings.database_url,
        ROUTEDESK_DATA_DIR=str(desk.settings.data_dir),
        PYTHONPATH=str(REPO),
    )
    env.update({f"ROUTEDESK_SMTP__{name.upper()}": str(value) for name, value in smtp.items()})
    return env


async def _wait_until(check: Callable[[], Any], *, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def test_sender_killed_mid_send_is_taken_over_within_one_short_lease(desk: Desk) -> None:
    ticket_id = await _ticket(desk)
    row = await _queue(desk, ticket_id, "ana@merchant.example")
    lease = 2.0
    desk.smtp.hold()  # the relay has the message and has not answered yet when the sender dies
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.replies.sender_process",
        "doomed-sender",
        env=_sender_env(desk, send_lease_seconds=lease, send_heartbeat_seconds=0.1, poll_interval=0.05),
        cwd=REPO,
    )
    try:
        await desk.smtp.wait_held(1, timeout=60)
        claimed = await _row(desk, row.id)
        assert (claimed.status, claimed.owner) == ("sending", "doomed-sender")

        async def renewed() -> bool:
            return (await _row(desk, row.id)).next_attempt_at > claimed.next_attempt_at

        await _wait_until(renewed)  # alive, it keeps its lease
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.wait()
    killed_at = utcnow()
    await desk.smtp.wait_none_held()  # the relay saw the connection go
    desk.smtp.release()
    lease_until = (await _row(desk, row.id)).next_attempt_at
    # Free one lease after the last heartbeat at the latest: well under a minute with the defaults.
    assert lease_until <= killed_at + timedelta(seconds=lease)
    assert await _send(desk, owner="survivor", clock=_at(lease_until - timedelta(milliseconds=1))) == 0
    assert await _send(desk, owner="survivor", clock=_at(lease_until)) == 1
    taken = await _row(desk, row.id)
    assert (taken.status, taken.owner, taken.attempts) == ("sent", "survivor", 2)
    assert [m.message_id for m in desk.smtp.messages] == [desk.smtp.deliveries[-1].message_id]
    assert len(desk.smtp.messages) == 1


async def test_live_sender_holding_rows_past_its_lease_keeps_them_by_heartbeat(desk: Desk) -> None:
    ticket_id = await _ticket(desk)
    rows = [await _queue(desk, ticket_id, "ana@merchant.example", body=f"Answer {i}") for i in range(3)]
    desk.smtp.hold()  # a slow relay: the first message waits in DATA
    slow = asyncio.create_task(_send(desk, owner="slow-sender", send_lease_seconds=1.0, send_heartbeat_seconds=0.05))
    await desk.smtp.wait_held(1)
    first_lease = (await _row(desk, rows[-1].id)).next_attempt_at

    async def renewed() -> bool:
        return (await _row(desk, rows[-1].id)).next_attempt_at > first_lease + timedelta(milliseconds=10)

    await _wait_until(renewed)
    renewed_lease = (await _row(desk, rows[-1].id)).next_attempt_at
    # Another sender comes by after the first lease ran out: the heartbeat moved it, so nothing is due.
    later = first_lease + (renewed_lease - first_lease) / 2
    assert await _send(desk, owner="eager-sender", clock=_at(later)) == 0
    desk.smtp.release()
    assert await slow == 3
    sent = [await _row(desk, r.id) for r in rows]
    assert [(r.status, r.owner, r.attempts) for r in sent] == [("sent", "slow-sender", 1)] * 3
    message_ids = [m.message_id for m in desk.smtp.messages]
    assert len(message_ids) == len(set(message_ids)) == 3
    queued = await desk.all(
        select(Message.message_id)
        .join(Outbox, Outbox.message_id == Message.id)
        .where(Outbox.id.in_([r.id for r in rows]))
    )
    assert sorted(message_ids) == sorted(queued)


# -- a connection dropped mid-batch -------------------------------------------------------------------


async def test_connection_dropped_mid_batch_neither_doubles_nor_loses_a_row(desk: Desk) -> None:
    ticket_id = await _ticket(desk)
    rows = [await _queue(desk, ticket_id, "ana@merchant.example", body=f"Answer {i}") for i in range(3)]
    desk.smtp.drop(stage="data", skip=1)  # the relay goes away while taking the second message
    assert await desk.send_due() == 3
    first, second, third = [await _row(desk, r.id) for r in rows]
    assert (first.status, second.status, third.status) == ("sent", "queued", "sent")
    assert second.last_error is not None and "Disconnected" in second.last_error
    later = utcnow() + timedelta(seconds=2 * desk.settings.smtp.retry_initial)
    assert await _send(desk, clock=_at(later)) == 1
    assert [(await _row(desk, r.id)).status for r in rows] == ["sent"] * 3
    accepted = [m.message_id for m in desk.smtp.messages]
    assert len(accepted) == len(set(accepted)) == 3
    assert [d.accepted for d in desk.smtp.deliveries] == [True, False, True, True]


async def test_connection_dropped_after_the_message_was_accepted_is_not_sent_again(desk: Desk) -> None:
    ticket_id = await _ticket(desk)
    row = await _queue(desk, ticket_id, "ana@merchant.example")
    desk.smtp.drop(stage="quit")  # 250 for the message, then the connection breaks before 221
    assert await desk.send_due() == 1
    assert (await _row(desk, row.id)).status == "sent"
    assert await _send(desk, clock=_at(utcnow() + timedelta(hours=2))) == 0
    assert len(desk.smtp.deliveries) == 1
