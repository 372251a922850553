"""An agent's reply, the flow that spans domains: the text (macros), the guard and the status
(the ticket's lifecycle), the outbound message (replies), and the macro's use (macros)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import Conflict, InvalidInput
from app.inbox.models import Message
from app.macros import service as macros
from app.mail.compose import OutgoingFile
from app.replies import service as replies
from app.tickets import lifecycle
from app.tickets import service as tickets
from app.tickets.models import Ticket
from app.tickets.schemas import ReplyCreate, ReplyResult
from app.users.models import User


async def reply(
    session: AsyncSession, ticket: Ticket, data: ReplyCreate, *, user: User, files: Sequence[OutgoingFile] = ()
) -> ReplyResult:
    """`files` are checked against their limits already (app.tickets.attachments.reply_files)."""
    text = await _reply_text(session, ticket, data, user)
    lifecycle.check_can_work(ticket, user)
    if data.seen_message_id is not None:
        # The ticket's row is locked (the caller read it FOR UPDATE): a reply racing this one is either
        # stored already, and found here, or waits for this transaction.
        newer = await tickets.replies_after(session, ticket.id, data.seen_message_id)
        if newer:
            raise StaleReply(newer[-1])
    # What the agent answers, before the reply is stored: the customer's messages since the last reply.
    warnings = await tickets.sender_warnings(session, ticket)
    now = utcnow()
    # The transition first: it claims an unassigned ticket, and a lost race is refused before any mail.
    await lifecycle.replied(session, ticket, user=user, now=now)
    outbox = await replies.enqueue_reply(session, ticket, body=text, now=now, files=files, agent=user.name)
    if data.macro_id is not None:
        await macros.record_use(session, macro_id=data.macro_id, ticket_id=ticket.id, user_id=user.id)
    if data.status != ticket.status:
        await lifecycle.set_status(session, ticket, status=data.status, user=user)
    summary = tickets.summary(ticket)
    assert outbox.message is not None and outbox.message.message_id is not None
    return ReplyResult(
        ticket=summary,
        outbox_id=outbox.id,
        message_id=outbox.message.message_id,
        warnings=warnings,
    )


class StaleReply(Conflict):
    """Someone replied after the message the replier had seen: their reply is in `reply`."""

    def __init__(self, reply: Message) -> None:
        who = reply.from_name or reply.from_address or "someone"
        super().__init__(
            f"{who} replied at {reply.created_at:%Y-%m-%d %H:%M} UTC, after the newest message you had seen "
            f"(message {reply.id}): read it, then send yours again if it still applies"
        )
        self.reply = reply


async def _reply_text(session: AsyncSession, ticket: Ticket, data: ReplyCreate, user: User) -> str:
    text = (data.text or "").strip()
    if data.macro_id is not None:
        values = await tickets.placeholders(session, ticket, agent=user)
        rendered = await macros.render_macro(session, data.macro_id, values=values)
        text = f"{text}\n\n{rendered}".strip() if text else rendered
    if not text:
        raise InvalidInput("a reply needs text or a macro_id")
    return text
