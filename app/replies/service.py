from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import TicketSettings
from app.db import RowWriter, utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.inbox import messages
from app.inbox.models import Mailbox, Message, MessageRow
from app.mail.addresses import address_problem, first_name
from app.mail.compose import OutgoingFile, compose, new_message_id
from app.replies import repository
from app.replies.models import Outbox, OutboxRow, OutboxStatus
from app.routing.models import Area
from app.tickets import lifecycle
from app.tickets import service as tickets
from app.tickets.models import Customer, Ticket, TicketRow
from mailtext.message import ParsedMessage
from mailtext.trust import Verdict

if TYPE_CHECKING:
    from app.kb.deflection import SuggestedArticle

ACK_BODY = (
    "Hello{name},\n\n"
    "Thank you for writing to us. Your request has the reference {reference}; keep it in the subject "
    "when you write about this again and it reaches the same person.\n\n"
    "We answer as soon as we can.\n\n"
    "{team}\n"
)


# Mail no person wrote for this message: marked Auto-Submitted, so that auto-responders do not answer it.
AUTOMATIC_KINDS = frozenset({"acknowledgement", "survey"})


def reply_subject(subject: str, reference: str) -> str:
    subject = subject.strip() or "Your request"
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    return subject if f"[{reference}]" in subject else f"{subject} [{reference}]"


def _thread_headers(thread: Sequence[Message]) -> tuple[str | None, list[str]]:
    """In-Reply-To is the newest message the customer sent; References the whole thread in order."""
    ids = [m.message_id for m in thread if m.message_id]
    inbound = [m.message_id for m in thread if m.direction == "inbound" and m.message_id]
    parent = inbound[-1] if inbound else (ids[-1] if ids else None)
    return parent, ids


def _from(mailbox: Mailbox) -> str:
    if not mailbox.address:
        raise InvalidInput(f"mailbox {mailbox.name!r} has no from address: set one before replying")
    return mailbox.address


def sender_name(from_name: str | None, *, agent: str | None = None) -> str | None:
    """The display name of outgoing mail: "Ana at Acme Support" for an agent's reply, the mailbox's from
    name ("Acme Support") for an acknowledgement, none (the bare address) when the mailbox has none."""
    if not from_name:
        return None
    first = first_name(agent)
    if not first:
        return from_name
    # Users are named by their login ("ana"): a lower-case one is capitalised as a name would be.
    if first.islower():
        first = first[:1].upper() + first[1:]
    return f"{first} at {from_name}"


def outbound_rows(
    *,
    subject: str,
    reference: str,
    kind: str,
    body: str,
    mailbox: Mailbox,
    to: Sequence[str],
    now: datetime,
    in_reply_to: str | None,
    references: Sequence[str],
    files: Sequence[OutgoingFile] = (),
    agent: str | None = None,
) -> tuple[MessageRow, OutboxRow]:
    """The column values of an outbound message and of its outbox row, bytes composed; the caller
    links them to the ticket and to each other, and stores them in its transaction."""
    from_address = _from(mailbox)
    from_name = sender_name(mailbox.from_name, agent=agent)
    message_id = new_message_id(from_address)
    subject = reply_subject(subject, reference)
    raw = compose(
        from_address=from_address,
        from_name=from_name,
        to=to,
        subject=subject,
        body=body,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        date=now,
        automatic=kind in AUTOMATIC_KINDS,
        files=files,
    )
    message: MessageRow = {
        "direction": "outbound",
        "mailbox_id": mailbox.id,
        "message_id": message_id,
        "raw_sha256": hashlib.sha256(raw).hexdigest(),
        "raw": raw,
        "size": len(raw),
        "subject": subject,
        "from_address": from_address,
        "from_name": from_name,
        "to_addresses": ", ".join(to),
        "cc_addresses": "",
        "parse_status": "ok",
        "headers_text": "",
        "sent_at": now,
        "in_reply_to": in_reply_to,
        "references": " ".join(references) or None,
        "body_text": body,
        "new_text": body,
        "auto": "auto_reply" if kind in AUTOMATIC_KINDS else None,
        "created_at": now,
    }
    outbox: OutboxRow = {
        "mailbox_id": mailbox.id,
        "kind": kind,
        "mail_from": from_address,
        "rcpt_to": ", ".join(to),
        "raw": raw,
        "next_attempt_at": now,
        "created_at": now,
    }
    return message, outbox


async def enqueue(
    session: AsyncSession,
    ticket: Ticket,
    *,
    kind: str,
    body: str,
    mailbox: Mailbox,
    to: Sequence[str],
    now: datetime,
    thread: Sequence[Message] | None = None,
    files: Sequence[OutgoingFile] = (),
    agent: str | None = None,
) -> Outbox:
    """Write the outbound message and its outbox row in the caller's transaction. The bytes, and so
    the Message-ID, are fixed now: a retry after an unknown outcome resends the very same message."""
    if thread is None:
        thread = await tickets.thread(session, ticket.id)
    in_reply_to, references = _thread_headers(thread)
    message_values, outbox_values = outbound_rows(
        subject=ticket.subject,
        reference=ticket.reference,
        kind=kind,
        body=body,
        mailbox=mailbox,
        to=to,
        now=now,
        in_reply_to=in_reply_to,
        references=references,
        files=files,
        agent=agent,
    )
    message = messages.add_outbound(session, message_values, ticket=ticket, files=files)
    outbox = Outbox(**outbox_values, ticket=ticket, message=message)
    session.add(outbox)
    return outbox


async def enqueue_reply(
    session: AsyncSession,
    ticket: Ticket,
    *,
    body: str,
    now: datetime | None = None,
    files: Sequence[OutgoingFile] = (),
    agent: str | None = None,
) -> Outbox:
    """The agent's reply, From "<agent's first name> at <the mailbox's from name>" when it has one."""
    now = now or utcnow()
    if ticket.mailbox_id is None:
        raise InvalidInput("this ticket came from no mailbox, so there is nothing to reply from")
    mailbox = await session.get(Mailbox, ticket.mailbox_id)
    customer = await session.get(Customer, ticket.customer_id) if ticket.customer_id else None
    if mailbox is None or customer is None:
        raise InvalidInput("this ticket has no mailbox or no customer address to reply to")
    problem = address_problem(customer.email)
    if problem is not None:
        # Refused now, while the agent is here, rather than queued to fail: no mail can reach it.
        raise InvalidInput(f"the customer's address cannot receive mail: {problem}")
    outbox = await enqueue(
        session,
        ticket,
        kind="reply",
        body=body,
        mailbox=mailbox,
        to=[customer.email],
        now=now,
        files=files,
        agent=agent,
    )
    await session.flush()
    return outbox


async def acknowledgements_allowed(
    session: AsyncSession, recipients: Sequence[str], *, per_hour: int, now: datetime
) -> dict[str, int]:
    """How many more acknowledgements each address may get this hour (a loop guard)."""
    sent = await repository.acknowledgements_since(session, recipients, since=now - timedelta(hours=1))
    return {r: max(0, per_hour - sent.get(r, 0)) for r in recipients}


_UNATTENDED = re.compile(r"^(no-?reply|do-?not-?reply|mailer-daemon|postmaster|bounces?)([+.-].*)?@", re.I)


def is_unattended_address(address: str, own: frozenset[str]) -> bool:
    """Addresses nobody reads, or our own: acknowledging them at best wastes mail, at worst loops."""
    return address in own or bool(_UNATTENDED.match(address))


def acknowledgement_skip_reason(
    sender: str | None, *, auto: str | None, remaining: int, own: frozenset[str]
) -> dict[str, str] | None:
    """Why the sender of a new ticket's first message gets no acknowledgement (the data of the ticket's
    acknowledgement_skipped event), or None when one goes. `remaining` is what acknowledgements_allowed
    left for the sender. What is the admin's choice rather than the message's (an area that wants no
    acknowledgements, a mailbox without a from address) is no reason to note: the caller checks it."""
    if auto is not None:
        return {"reason": "automatic_mail", "detail": f"the message is {auto.replace('_', ' ')} mail"}
    if not sender:
        return {"reason": "no_sender", "detail": "the message has no sender address"}
    problem = address_problem(sender)
    if problem is not None:
        return {"reason": "invalid_address", "address": sender[:320], "detail": problem}
    if is_unattended_address(sender, own):
        return {"reason": "unattended_address", "address": sender, "detail": "nobody reads mail sent there"}
    if remaining <= 0:
        return {
            "reason": "rate_limited",
            "address": sender,
            "detail": "the hourly acknowledgement limit for this address is reached (a loop guard)",
        }
    return None


ARTICLES_INTRO = "While you wait, these articles of our help centre may answer your question already:\n\n"
ARTICLE_ITEM = "- {title}\n  {url}\n  This answered my question: {answered_url}\n\n"


def acknowledgement_body(
    *, name: str | None, reference: str, team: str, articles: Sequence[SuggestedArticle] = ()
) -> str:
    """The acknowledgement's text; with suggested articles, each with its page and its signed "this
    answered my question" link (which only opens a page asking to confirm)."""
    first = first_name(name) or ""
    body = ACK_BODY.format(name=f" {first}" if first else "", reference=reference, team=team)
    if not articles:
        return body
    listed = "".join(
        ARTICLE_ITEM.format(title=" ".join(a.title.split()), url=a.url, answered_url=a.answered_url) for a in articles
    )
    head, sign_off = body.rsplit("\n\n", 1)
    return f"{head}\n\n{ARTICLES_INTRO}{listed}{sign_off}"


@dataclass(frozen=True, slots=True)
class Acknowledgements:
    """What one ingest batch may acknowledge: from its mailbox, and how many more acknowledgements each
    sender may get this hour (counted down as the batch plans them)."""

    mailbox: Mailbox | None
    remaining: dict[str, int]
    own_addresses: frozenset[str]
    team: str


async def acknowledgements_for(
    session: AsyncSession,
    messages: Sequence[ParsedMessage],
    *,
    mailbox_id: int | None,
    own_addresses: frozenset[str],
    settings: TicketSettings,
    now: datetime,
) -> Acknowledgements:
    senders = sorted({p.from_address for p in messages if p.from_address and p.auto is None})
    return Acknowledgements(
        mailbox=await session.get(Mailbox, mailbox_id) if mailbox_id is not None else None,
        remaining=await acknowledgements_allowed(
            session, senders, per_hour=settings.acknowledgements_per_hour, now=now
        ),
        own_addresses=own_addresses,
        team=settings.team_name,
    )


def plan_acknowledgement(
    acks: Acknowledgements,
    writer: RowWriter,
    ticket: TicketRow,
    *,
    parsed: ParsedMessage,
    area: Area,
    now: datetime,
    articles: Sequence[SuggestedArticle] = (),
) -> bool:
    """A new ticket's acknowledgement, queued with the batch's rows (True), listing `articles`; or, when
    it must not go, the reason recorded on the ticket. An area that wants none, or a mailbox without a
    from address, is the admin's choice: no reason to record."""
    mailbox = acks.mailbox
    if not area.acknowledge or mailbox is None or not mailbox.address:
        return False
    sender = parsed.from_address
    skipped = acknowledgement_skip_reason(
        sender, auto=parsed.auto, remaining=acks.remaining.get(sender or "", 0), own=acks.own_addresses
    )
    if parsed.trust.verdict == Verdict.FAILED:
        # A possible spoof (issue 14): an acknowledgement would tell the real customer's mailbox, or the
        # spoofer, what the ticket is; nothing goes.
        skipped = {"reason": "sender_failed", "detail": f"the sender failed authentication: {parsed.trust.reason}"}
    if skipped is not None:
        lifecycle.acknowledgement_skipped(writer, ticket, skipped, now=now)
    elif sender:
        acks.remaining[sender] -= 1
        mid = parsed.message_id
        values, outbox = outbound_rows(
            subject=ticket["subject"],
            reference=ticket["reference"],
            kind="acknowledgement",
            body=acknowledgement_body(
                name=parsed.from_name, reference=ticket["reference"], team=acks.team, articles=articles
            ),
            mailbox=mailbox,
            to=[sender],
            now=now,
            # The thread so far is this one message: the acknowledgement answers it.
            in_reply_to=mid,
            references=[mid] if mid else [],
        )
        outbox["ticket_id"] = ticket
        outbox["message_id"] = messages.add_outbound_row(writer, values, ticket=ticket)
        writer.add(OUTBOX, outbox)
        return True
    return False


OUTBOX = Outbox.__table__


async def delivery_by_message(session: AsyncSession, ticket_id: int) -> dict[int, str]:
    """Delivery state of each outbound message of a ticket, for the thread view."""
    return {row.message_id: row.status for row in await repository.for_ticket(session, ticket_id) if row.message_id}


async def outbox(
    session: AsyncSession, *, status: OutboxStatus | None = None, limit: int = 100, offset: int = 0
) -> Sequence[Outbox]:
    return await repository.rows(session, status=status, limit=limit, offset=offset)


async def backlog(session: AsyncSession) -> dict[str, int]:
    """Outbox rows not sent yet, by status: queued (waiting, or retrying later) and sending (claimed)."""
    wanted = (OutboxStatus.QUEUED, OutboxStatus.SENDING)
    found = await repository.counts_by_status(session, wanted)
    return {str(status): found.get(str(status), 0) for status in wanted}


async def retry(session: AsyncSession, outbox_id: int, *, now: datetime | None = None) -> Outbox:
    """A failed row back in the queue, due now, attempts and error reset: the very same bytes are sent
    again (say once the mailbox's SMTP settings are fixed). Any other status is a Conflict."""
    row = await repository.outbox_row(session, outbox_id)
    if row is None:
        raise NotFound(f"no outbox message {outbox_id}")
    if row.status != OutboxStatus.FAILED:
        raise Conflict(f"outbox message {outbox_id} is {row.status}, not failed: only a failed message is retried")
    if not await repository.requeue_failed(session, [outbox_id], now=now or utcnow()):
        raise Conflict(f"outbox message {outbox_id} changed meanwhile: it is no longer failed")
    row = await repository.outbox_row(session, outbox_id)
    assert row is not None
    return row


async def retry_failed(session: AsyncSession, *, now: datetime | None = None) -> list[int]:
    """Every failed row back in the queue, due now. Returns their ids."""
    return await repository.requeue_failed(session, None, now=now or utcnow())
