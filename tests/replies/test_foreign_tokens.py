"""A new ticket's subject, and so its acknowledgement's, carries its own reference only: tokens of
other tickets in the message's subject are dropped (the message itself is stored as it came)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from app.db import utcnow
from app.inbox.models import Message
from app.tickets.models import Ticket
from tests.api.desk import Desk
from tests.mailgen import mail


def _tokens(subject: str) -> list[str]:
    return re.findall(r"\[RD-[0-9A-Z]{8}\]", subject)


async def _reference(desk: Desk, ticket_id: int) -> str:
    return str(await desk.scalar(select(Ticket.reference).where(Ticket.id == ticket_id)))


async def test_a_stranger_sending_a_customer_s_token_gets_an_acknowledgement_with_one_token(desk: Desk) -> None:
    theirs = await desk.new_ticket(mail(sender="ana@merchant.example", message_id="<t1@merchant.example>"))
    await desk.send_due()
    token = f"[{await _reference(desk, theirs)}]"
    subject = f"Re: Payout missing {token}"
    new = await desk.new_ticket(
        mail(subject=subject, sender="Mallory <mallory@elsewhere.example>", message_id="<t2@x.example>")
    )
    await desk.send_due()
    ours = f"[{await _reference(desk, new)}]"
    [acknowledgement] = [m.message for m in desk.smtp.messages if m.rcpt_tos == ("mallory@elsewhere.example",)]
    assert new != theirs
    assert await desk.scalar(select(Ticket.subject).where(Ticket.id == new)) == "Re: Payout missing"
    assert _tokens(acknowledgement["Subject"]) == [ours]
    assert acknowledgement["Subject"] == f"Re: Payout missing {ours}"
    # The stranger's message is kept as it came.
    assert await desk.scalar(select(Message.subject).where(Message.message_id == "t2@x.example")) == subject


async def test_an_answer_to_a_long_solved_ticket_opens_one_without_the_old_token(desk: Desk) -> None:
    old = await desk.new_ticket(mail(message_id="<s1@merchant.example>"))
    await desk.execute(
        update(Ticket).where(Ticket.id == old).values(status="solved", solved_at=utcnow() - timedelta(days=400))
    )
    token = f"[{await _reference(desk, old)}]"
    new = await desk.new_ticket(mail(subject=f"Re: {token} Payout missing", message_id="<s2@merchant.example>"))
    await desk.send_due()
    ours = f"[{await _reference(desk, new)}]"
    subjects = [m.message["Subject"] for m in desk.smtp.messages]
    assert new != old
    assert await desk.scalar(select(Ticket.subject).where(Ticket.id == new)) == "Re: Payout missing"
    assert [_tokens(s) for s in subjects] == [[token], [ours]]
