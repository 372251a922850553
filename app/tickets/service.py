from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Row, RowWriter, insert_row, utcnow
from app.errors import Forbidden, InvalidInput, NotFound
from app.inbox.models import Message
from app.routing.models import TRIAGE, Area, Label
from app.tickets import repository
from app.tickets.models import Customer, Participant, Ticket, TicketEvent
from app.tickets.schemas import (
    AttachmentRead,
    EventRead,
    MessageRead,
    Page,
    QueueRead,
    RoutingRead,
    TicketRead,
    TicketSummary,
)
from app.users.models import User
from mailtext.headers import normalize_subject
from mailtext.html import sanitize_html
from mailtext.message import ParsedMessage

# Crockford's base32 without I, L, O, U: no look-alike characters for people reading references aloud.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_reference(prefix: str) -> str:
    # 40 random bits as 8 base-32 characters (one token_bytes call: this runs once per new ticket).
    bits = int.from_bytes(secrets.token_bytes(5), "big")
    return f"{prefix}-" + "".join(_ALPHABET[(bits >> shift) & 31] for shift in range(35, -1, -5))


@cache
def token_pattern(prefix: str) -> re.Pattern[str]:
    # Cached here: re's own cache is shared with every other pattern compiled at run time, and under
    # the redaction patterns of the logs it evicted this one (80 ms of a 5,000-message poll recompiling).
    return re.compile(rf"\[\s*({re.escape(prefix)}-[0-9A-Z]{{8}})\s*\]", re.IGNORECASE)


def subject_with_token(subject: str, reference: str) -> str:
    return subject if f"[{reference}]" in subject else f"{subject} [{reference}]".strip()


def subject_key(subject: str, prefix: str) -> str:
    return normalize_subject(token_pattern(prefix).sub(" ", subject))[:255]


def is_reply_subject(subject: str) -> bool:
    plain = " ".join(subject.split()).casefold()
    return bool(plain) and normalize_subject(subject) != plain


@dataclass
class ThreadIndex:
    """Everything one ingest batch needs to thread its messages, loaded in a few queries up front
    and kept current as the batch opens tickets, so a reply later in the same batch finds them.

    Tickets and customers are rows (column name to value), existing ones and those this batch
    creates alike; `writer` stores the new rows and the changes in the batch's transaction."""

    prefix: str
    writer: RowWriter = field(default_factory=RowWriter)
    by_message_id: dict[str, Row] = field(default_factory=dict)
    by_reference: dict[str, Row] = field(default_factory=dict)
    participants: dict[str, set[str]] = field(default_factory=dict)  # by ticket reference
    by_subject: dict[tuple[str, str], Row] = field(default_factory=dict)
    customers: dict[str, Row] = field(default_factory=dict)


async def load_thread_index(
    session: AsyncSession, messages: Sequence[ParsedMessage], *, prefix: str, subject_since: datetime
) -> ThreadIndex:
    pattern = token_pattern(prefix)
    message_ids: set[str] = set()
    references: set[str] = set()
    senders: set[str] = set()
    for parsed in messages:
        message_ids.update(parsed.in_reply_to)
        message_ids.update(parsed.references)
        message_ids.update(parsed.bounced_message_ids)
        references.update(match.upper() for match in pattern.findall(parsed.subject))
        if parsed.from_address:
            senders.add(parsed.from_address)
    index = ThreadIndex(prefix=prefix)
    by_id: dict[int, Row] = {}

    def one(ticket: Row) -> Row:
        # The same ticket reached two ways is one row, so a change made through one is seen through both.
        return by_id.setdefault(ticket["id"], ticket)

    index.by_message_id = {
        mid: one(t) for mid, t in (await repository.tickets_by_message_id(session, message_ids)).items()
    }
    index.by_reference = {
        ref: one(t) for ref, t in (await repository.tickets_by_reference(session, references)).items()
    }
    index.customers = await repository.customers_by_email(session, senders)
    keys = {subject_key(p.subject, prefix) for p in messages if is_reply_subject(p.subject)}
    customers = {c["id"]: c["email"] for c in index.customers.values()}
    for ticket in await repository.open_tickets_by_subject(session, customers, keys, since=subject_since):
        if ticket["customer_id"] is not None:
            index.by_subject[(customers[ticket["customer_id"]], ticket["subject_key"])] = one(ticket)
    for ticket in by_id.values():
        index.participants[ticket["reference"]] = set()
    for ticket_id, email in await repository.participants(session, by_id):
        index.participants[by_id[ticket_id]["reference"]].add(email)
    return index


def find_ticket(index: ThreadIndex, parsed: ParsedMessage) -> tuple[Row | None, str | None]:
    """The ticket a message belongs to, and how we know: by header, by token, or by subject."""
    # In-Reply-To first, then References from the newest back, as mail clients order them.
    for message_id in [*parsed.in_reply_to, *reversed(parsed.references), *parsed.bounced_message_ids]:
        ticket = index.by_message_id.get(message_id)
        if ticket is not None:
            return ticket, "header"
    sender = parsed.from_address
    for reference in token_pattern(index.prefix).findall(parsed.subject):
        ticket = index.by_reference.get(reference.upper())
        # A token alone is guessable from a forwarded mail: only someone already on the ticket may use it.
        if ticket is not None and sender and sender in index.participants.get(ticket["reference"], set()):
            return ticket, "token"
    if sender and is_reply_subject(parsed.subject):
        ticket = index.by_subject.get((sender, subject_key(parsed.subject, index.prefix)))
        if ticket is not None and ticket["status"] != "solved":
            return ticket, "subject"
    return None, None


def customer_for(index: ThreadIndex, parsed: ParsedMessage, *, now: datetime) -> Row | None:
    email = parsed.from_address
    if not email:
        return None
    customer = index.customers.get(email)
    if customer is None:
        customer = index.writer.add(Customer.__table__, {"email": email, "name": parsed.from_name, "created_at": now})
        index.customers[email] = customer
    elif not customer["name"] and parsed.from_name:
        if "id" in customer:
            index.writer.update(Customer.__table__, customer, name=parsed.from_name)
        else:
            customer["name"] = parsed.from_name  # created by this batch: not written yet
    return customer


def _add_participants(index: ThreadIndex, ticket: Row, emails: Iterable[str | None]) -> None:
    known = index.participants.setdefault(ticket["reference"], set())
    for email in emails:
        if email and email not in known:
            known.add(email)
            index.writer.add(Participant.__table__, {"ticket_id": ticket, "email": email})


def open_ticket(
    index: ThreadIndex,
    *,
    parsed: ParsedMessage,
    customer: Row | None,
    mailbox_id: int | None,
    area: Area,
    routed_by: str,
    probability: float | None,
    model_version: str | None,
    own_addresses: frozenset[str],
    now: datetime,
    previous: Row | None = None,
) -> Row:
    key = subject_key(parsed.subject, index.prefix)
    ticket = index.writer.add(
        Ticket.__table__,
        {
            "reference": new_reference(index.prefix),
            "subject": parsed.subject[:2000],
            "subject_key": key,
            "status": "open",
            "area_id": area.id,
            "customer_id": customer,
            "mailbox_id": mailbox_id,
            "previous_ticket_id": previous["id"] if previous is not None else None,
            "routed_by": routed_by,
            "route_probability": probability,
            "model_version": model_version,
            "created_at": now,
            "updated_at": now,
            "last_customer_message_at": now,
            "first_response_due_at": now + timedelta(minutes=area.first_response_minutes),
            "resolution_due_at": now + timedelta(minutes=area.resolution_minutes),
            "solved_at": None,
        },
    )
    index.writer.add(
        TicketEvent.__table__,
        {
            "ticket_id": ticket,
            "kind": "created",
            "data": {
                "area": area.name,
                "routed_by": routed_by,
                "probability": probability,
                "model_version": model_version,
                "previous_ticket": previous["reference"] if previous is not None else None,
            },
            "created_at": now,
        },
    )
    index.by_reference[ticket["reference"]] = ticket
    if parsed.from_address:
        index.by_subject[(parsed.from_address, key)] = ticket
    others = [a for a in [*parsed.to, *parsed.cc] if a not in own_addresses]
    _add_participants(index, ticket, [parsed.from_address, *others])
    return ticket


def add_inbound(index: ThreadIndex, ticket: Row, *, parsed: ParsedMessage, how: str, now: datetime) -> None:
    """A further message on an existing ticket. Automatic mail is recorded but changes no status."""
    events = TicketEvent.__table__
    if parsed.auto in ("auto_reply", "bounce"):
        kind = "delivery_failed" if parsed.auto == "bounce" else "auto_reply"
        index.writer.add(events, {"ticket_id": ticket, "kind": kind, "data": {"threaded_by": how}, "created_at": now})
        return
    event = {"threaded_by": how}
    changes: dict[str, Any] = {"updated_at": now, "last_customer_message_at": now}
    if ticket["status"] in ("pending", "solved"):
        event["reopened_from"] = ticket["status"]
        changes.update(status="open", solved_at=None)
    if "id" in ticket:
        index.writer.update(Ticket.__table__, ticket, **changes)
    else:
        ticket.update(changes)  # opened by this batch: written with these values
    index.writer.add(events, {"ticket_id": ticket, "kind": "customer_message", "data": event, "created_at": now})
    _add_participants(index, ticket, [parsed.from_address])


def actor(user: User) -> str:
    return f"{user.role}:{user.name}"


async def get_ticket(session: AsyncSession, ticket_id: int, *, for_update: bool = False) -> Ticket:
    ticket = await repository.ticket(session, ticket_id, for_update=for_update)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}")
    return ticket


async def claim_next(session: AsyncSession, area: str, *, agent: User) -> TicketSummary | None:
    """Assign the most urgent unassigned open ticket of the area to the agent; no ticket goes to two.
    None when no ticket of that area waits (or no such area)."""
    now = utcnow()
    row = await repository.claim(session, area, agent.id, actor(agent), now)
    if row is None:
        return None
    return _summary(row, area, row["customer_email"], agent.name)


def check_can_work(ticket: Ticket, user: User) -> None:
    if user.role != "admin" and ticket.assignee_id is not None and ticket.assignee_id != user.id:
        raise Forbidden("this ticket is claimed by another agent")


async def release(session: AsyncSession, ticket: Ticket, *, user: User) -> Ticket:
    check_can_work(ticket, user)
    ticket.assignee_id, ticket.assignee, ticket.claimed_at, ticket.updated_at = None, None, None, utcnow()
    await _log(session, ticket, "released", user)
    await session.flush()
    return ticket


async def add_note(session: AsyncSession, ticket: Ticket, *, body: str, user: User) -> TicketEvent:
    event = TicketEvent(ticket_id=ticket.id, kind="note", actor=actor(user), note=body)
    session.add(event)
    ticket.updated_at = utcnow()
    await session.flush()
    return event


async def set_status(session: AsyncSession, ticket: Ticket, *, status: str, user: User) -> Ticket:
    check_can_work(ticket, user)
    if status not in ("open", "pending", "solved"):
        raise InvalidInput("status must be open, pending or solved")
    now = utcnow()
    previous = ticket.status
    ticket.status, ticket.updated_at = status, now
    if status == "solved":
        ticket.solved_at = now
        # Solving without a re-route is an agent confirming the area: a training label.
        if ticket.area.name != TRIAGE:
            await _label(session, ticket, area=ticket.area.name, previous=None, source="confirmed", user=user)
    else:
        ticket.solved_at = None
    await _log(session, ticket, "status", user, {"from": previous, "to": status})
    await session.flush()
    return ticket


async def reroute(session: AsyncSession, ticket: Ticket, *, area: Area, user: User) -> Ticket:
    check_can_work(ticket, user)
    previous_name = ticket.area.name
    if previous_name == area.name:
        return ticket
    ticket.area_id, ticket.area, ticket.routed_by, ticket.updated_at = area.id, area, "agent", utcnow()
    # Whoever works the new area claims it afresh.
    ticket.assignee_id, ticket.assignee, ticket.claimed_at = None, None, None
    if area.name != TRIAGE:
        await _label(session, ticket, area=area.name, previous=previous_name, source="corrected", user=user)
    await _log(session, ticket, "rerouted", user, {"from": previous_name, "to": area.name})
    await session.flush()
    return ticket


async def _log(
    session: AsyncSession, ticket: Ticket, kind: str, user: User, data: dict[str, Any] | None = None
) -> None:
    await insert_row(session, TicketEvent, ticket_id=ticket.id, kind=kind, actor=actor(user), data=data or {})


async def _label(
    session: AsyncSession, ticket: Ticket, *, area: str, previous: str | None, source: str, user: User
) -> None:
    await insert_row(
        session, Label, ticket_id=ticket.id, area=area, previous_area=previous, source=source, actor=actor(user)
    )


_TICKET_FIELDS = tuple(
    name for name in TicketSummary.model_fields if name not in {"area", "customer_email", "assignee"}
)


def _summary(ticket: Ticket | Row, area: str, customer_email: str | None, assignee: str | None) -> TicketSummary:
    """A ticket's summary from the ORM object or a plain row of the ticket table."""
    if isinstance(ticket, dict):
        values = {name: ticket[name] for name in _TICKET_FIELDS}
    else:
        values = {name: getattr(ticket, name) for name in _TICKET_FIELDS}
    return TicketSummary(area=area, customer_email=customer_email, assignee=assignee, **values)


def summary(ticket: Ticket) -> TicketSummary:
    """The summary of a ticket loaded by get_ticket (which brings its area, customer and assignee)."""
    return _summary(
        ticket,
        ticket.area.name,
        ticket.customer.email if ticket.customer is not None else None,
        ticket.assignee.name if ticket.assignee is not None else None,
    )


async def search(session: AsyncSession, *, offset: int, limit: int, **filters: Any) -> Page[TicketSummary]:
    rows, total = await repository.search(session, offset=offset, limit=limit, **filters)
    return Page(items=[_summary(*r) for r in rows], total=total, offset=offset, limit=limit)


async def queues(session: AsyncSession) -> list[QueueRead]:
    now = utcnow()
    out = []
    for area, n_open, unassigned, breaching, oldest in await repository.queue_stats(session, now):
        out.append(
            QueueRead(
                area=area.name,
                title=area.title or area.name,
                open=n_open or 0,
                unassigned=unassigned or 0,
                breaching=breaching or 0,
                oldest_waiting_at=oldest,
                oldest_waiting_ticket_id=await repository.oldest_waiting(session, area.id) if unassigned else None,
            )
        )
    return out


async def thread(session: AsyncSession, ticket_id: int) -> Sequence[Message]:
    return await repository.thread(session, ticket_id)


async def detail(session: AsyncSession, ticket_id: int, *, delivery: dict[int, str]) -> TicketRead:
    ticket = await get_ticket(session, ticket_id)
    messages = await repository.thread(session, ticket_id)
    files: dict[int, list[AttachmentRead]] = {}
    for att_id, message_id, filename, content_type, size, stored in await repository.attachments(
        session, [m.id for m in messages]
    ):
        files.setdefault(message_id, []).append(
            AttachmentRead(id=att_id, filename=filename, content_type=content_type, size=size, stored=stored)
        )
    base = summary(ticket)
    return TicketRead(
        **base.model_dump(),
        routing=RoutingRead(
            area=base.area,
            routed_by=ticket.routed_by,
            probability=ticket.route_probability,
            model_version=ticket.model_version,
        ),
        previous_ticket_id=ticket.previous_ticket_id,
        messages=[
            MessageRead(
                id=m.id,
                direction=m.direction,
                message_id=m.message_id,
                from_address=m.from_address,
                from_name=m.from_name,
                to=m.to_addresses,
                cc=m.cc_addresses,
                subject=m.subject,
                sent_at=m.sent_at,
                created_at=m.created_at,
                text=m.body_text,
                # Sanitised again as it is read: HTML stored by an older sanitiser (which kept remote
                # images) must not load anything in an agent's browser either. Sanitising is idempotent.
                html=sanitize_html(m.body_html) if m.body_html else None,
                auto=m.auto,
                parse_status=m.parse_status,
                attachments=files.get(m.id, []),
                delivery=delivery.get(m.id),
            )
            for m in messages
        ],
        events=[
            EventRead(id=e.id, kind=e.kind, actor=e.actor, data=e.data or {}, note=e.note, created_at=e.created_at)
            for e in await repository.events(session, ticket_id)
        ],
    )


async def ticket_text(session: AsyncSession, ticket: Ticket) -> str:
    """What the router and the macro ranker read: the subject and the customer's own words."""
    first = await repository.first_inbound(session, ticket.id)
    return f"{ticket.subject}\n{first.new_text if first else ''}"


def first_name(display_name: str) -> str:
    """The name to greet a customer by: "Jane" from "Jane Doe", "Doe, Jane" and "'Jane Doe'"; nothing
    from an address used as a name, so that the macro's fallback is used instead of "Hi jane@x.example"."""
    name = display_name.strip().strip("'\"").strip()
    if "@" in name:
        return ""
    if "," in name:  # family name first, as directories and some mail clients write it
        name = name.split(",", 1)[1]
    words = name.split()
    return words[0] if words else ""


async def placeholders(session: AsyncSession, ticket: Ticket, *, agent: User) -> dict[str, str]:
    """The values a macro may use for this ticket. Plain strings: rendering inserts them literally."""
    customer = await session.get(Customer, ticket.customer_id) if ticket.customer_id else None
    area = await session.get(Area, ticket.area_id)
    name = (customer.name or "") if customer else ""
    return {
        "customer_name": name,
        "customer_first_name": first_name(name),
        "customer_email": customer.email if customer else "",
        "ticket_reference": ticket.reference,
        "ticket_subject": ticket.subject,
        "agent_name": agent.name,
        "area_title": (area.title or area.name) if area else "",
    }
