"""Reading tickets: one ticket, the thread, searches and queues, and what macros may say about them.
Every change of a ticket's state is in app/tickets/lifecycle.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.inbox.models import Message
from app.macros import render
from app.routing.models import Area
from app.tickets import repository
from app.tickets.lifecycle import Event
from app.tickets.models import ClaimedRow, Customer, Ticket, TicketEvent, TicketRow
from app.tickets.schemas import (
    AttachmentRead,
    EventRead,
    MessageRead,
    Page,
    QueueRead,
    RerouteResult,
    RoutingRead,
    TicketRead,
    TicketSummary,
    TrustRead,
)
from app.users.models import User
from mailtext.html import sanitize_html
from mailtext.text import routing_text
from mailtext.trust import Verdict


@dataclass(frozen=True, slots=True)
class QueueCounts:
    area: str
    open: int
    unassigned: int
    breached: int
    at_risk: int
    # The nearest SLA due time of a waiting (open, unassigned) ticket: the one `claim` takes first.
    next_due_at: datetime | None = None


async def get_ticket(session: AsyncSession, ticket_id: int, *, for_update: bool = False) -> Ticket:
    ticket = await repository.ticket(session, ticket_id, for_update=for_update)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}")
    return ticket


async def opt_out_of_surveys(session: AsyncSession, customer_id: int) -> bool:
    """The customer asked for no more CSAT surveys (their survey's opt-out link). False: no such customer."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return False
    customer.survey_opt_out = True
    await session.flush()
    return True


_TICKET_FIELDS = tuple(
    name for name in TicketSummary.model_fields if name not in {"area", "customer_email", "assignee"}
)


def _summary(ticket: Ticket | TicketRow, area: str, customer_email: str | None, assignee: str | None) -> TicketSummary:
    """A ticket's summary from the ORM object or a plain row of the ticket table."""
    if isinstance(ticket, dict):
        row: Mapping[str, Any] = ticket
        values = {name: row[name] for name in _TICKET_FIELDS}
    else:
        values = {name: getattr(ticket, name) for name in _TICKET_FIELDS}
    return TicketSummary(area=area, customer_email=customer_email, assignee=assignee, **values)


def claimed_summary(ticket: ClaimedRow, *, area: str, agent: User) -> TicketSummary:
    """The summary of a ticket as a claim returns it: the claim's row, with its customer's address."""
    return _summary(ticket, area, ticket["customer_email"], agent.name)


def summary(ticket: Ticket) -> TicketSummary:
    """The summary of a ticket loaded by get_ticket (which brings its area, customer and assignee)."""
    return _summary(
        ticket,
        ticket.area.name,
        ticket.customer.email if ticket.customer is not None else None,
        ticket.assignee.name if ticket.assignee is not None else None,
    )


def rerouted_summary(ticket: Ticket, event: Event[Ticket] | None) -> RerouteResult:
    """A re-route's answer: the summary, and whether the re-route took the ticket from its assignee
    (False when it changed nothing)."""
    unassigned = bool(event.data["unassigned"]) if event is not None else False
    return RerouteResult(**summary(ticket).model_dump(), unassigned=unassigned)


async def search(session: AsyncSession, *, offset: int, limit: int, **filters: Any) -> Page[TicketSummary]:
    rows, total = await repository.search(session, offset=offset, limit=limit, **filters)
    return Page(items=[_summary(*r) for r in rows], total=total, offset=offset, limit=limit)


async def queues(session: AsyncSession, *, now: datetime) -> list[QueueRead]:
    """Each listed queue with its counts at `now` (`queue_counts`), its title and its oldest waiting ticket."""
    out = []
    rows = await _queue_rows(session, now)
    oldest_ids = await repository.oldest_waiting_by_area(session) if any(c.unassigned for _a, c, _o in rows) else {}
    for area, counts, oldest in rows:
        oldest_id = oldest_ids.get(area.id) if counts.unassigned else None
        out.append(
            QueueRead(
                area=area.name,
                title=area.title or area.name,
                open=counts.open,
                unassigned=counts.unassigned,
                breaching=counts.breached,
                at_risk=counts.at_risk,
                oldest_waiting_at=oldest,
                oldest_waiting_ticket_id=oldest_id,
                next_due_at=counts.next_due_at,
                archived=not area.active,
            )
        )
    return out


def claim_order(counts: Sequence[QueueCounts], areas: Sequence[str]) -> list[str]:
    """Of `areas`, those with a waiting ticket, the most urgent first (nearest due, then none due): the
    order in which "next ticket" over several queues tries their claims."""
    chosen = set(areas)
    waiting = [c for c in counts if c.area in chosen and c.unassigned]
    far = datetime.max.replace(tzinfo=UTC)
    return [c.area for c in sorted(waiting, key=lambda c: (c.next_due_at or far, c.area))]


async def queue_counts(session: AsyncSession, *, now: datetime) -> list[QueueCounts]:
    """Each listed queue's open, unassigned, breached and at-risk tickets: the counts GET /queues shows."""
    return [counts for _area, counts, _oldest in await _queue_rows(session, now)]


async def _queue_rows(session: AsyncSession, now: datetime) -> list[tuple[Area, QueueCounts, datetime | None]]:
    return [
        (
            area,
            QueueCounts(
                area=area.name,
                open=n_open or 0,
                unassigned=unassigned or 0,
                breached=breaching or 0,
                at_risk=at_risk or 0,
                next_due_at=next_due,
            ),
            oldest,
        )
        for area, n_open, unassigned, breaching, at_risk, oldest, next_due in await repository.queue_stats(session, now)
    ]


async def thread(session: AsyncSession, ticket_id: int) -> Sequence[Message]:
    return await repository.thread(session, ticket_id)


async def detail(session: AsyncSession, ticket_id: int, *, delivery: dict[int, str]) -> TicketRead:
    ticket = await get_ticket(session, ticket_id)
    messages = await repository.thread(session, ticket_id)
    truncated = {m.id for m in messages if m.parse_status == "too_large"}
    files: dict[int, list[AttachmentRead]] = {}
    for att_id, message_id, filename, content_type, size, stored in await repository.attachments(
        session, [m.id for m in messages]
    ):
        files.setdefault(message_id, []).append(
            AttachmentRead(
                id=att_id,
                filename=filename,
                content_type=content_type,
                size=size,
                stored=stored,
                truncated=message_id in truncated,
                url=f"/api/v1/tickets/{ticket_id}/attachments/{att_id}",
            )
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
        possible_spoof=ticket.possible_spoof,
        spoof_of_ticket_id=ticket.spoof_of_ticket_id,
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
                trust=trust_read(m),
            )
            for m in messages
        ],
        events=[event_read(e) for e in await repository.events(session, ticket_id)],
    )


def trust_read(message: Message) -> TrustRead | None:
    if message.trust_verdict is None:
        return None
    return TrustRead(
        verdict=message.trust_verdict,
        reason=message.trust_reason,
        spf=message.trust_spf,
        dkim=message.trust_dkim,
        dkim_domain=message.trust_dkim_domain,
        dmarc=message.trust_dmarc,
        aligned=message.trust_aligned,
    )


async def sender_warnings(session: AsyncSession, ticket: Ticket) -> list[str]:
    """What an agent acting on the ticket (a reply, a status change) is told about its sender (issue
    14): that the ticket is a possible spoof, and which of the customer's messages since the last reply
    by a person (what the agent answers) are unverified. A reply asks before it is stored."""
    found: list[str] = []
    if ticket.possible_spoof:
        claimed = f" claiming ticket {ticket.spoof_of_ticket_id}" if ticket.spoof_of_ticket_id is not None else ""
        found.append(f"possible spoof: this ticket was opened by a message whose sender failed authentication{claimed}")
    unverified = await repository.unanswered_with_verdict(session, ticket.id, Verdict.UNVERIFIED)
    for message_id, from_address, reason in unverified[-3:]:
        found.append(
            f"the customer message (id {message_id}, from {from_address or 'no address'}) is"
            f" unverified: {reason or 'no reason recorded'}"
        )
    if len(unverified) > 3:
        found.append(f"and {len(unverified) - 3} earlier unanswered customer messages are unverified")
    return found


def event_read(event: TicketEvent) -> EventRead:
    return EventRead(
        id=event.id,
        kind=event.kind,
        actor=event.actor,
        data=event.data or {},
        note=event.note,
        created_at=event.created_at,
    )


async def replies_after(session: AsyncSession, ticket_id: int, message_id: int) -> Sequence[Message]:
    return await repository.replies_after(session, ticket_id, message_id)


async def ticket_text(session: AsyncSession, ticket: Ticket) -> str:
    """What the router and the macro ranker read: the subject and the customer's own words."""
    first = await repository.first_inbound(session, ticket.id)
    return routing_text(ticket.subject, first.new_text if first else "")


async def placeholders(session: AsyncSession, ticket: Ticket, *, agent: User) -> dict[str, str]:
    """The values a macro may use for this ticket. Plain strings: rendering inserts them literally."""
    customer = await session.get(Customer, ticket.customer_id) if ticket.customer_id else None
    area = await session.get(Area, ticket.area_id)
    return render.placeholder_values(
        customer_name=customer.name if customer else None,
        customer_email=customer.email if customer else None,
        ticket_reference=ticket.reference,
        ticket_subject=ticket.subject,
        agent_name=agent.name,
        area_title=(area.title or area.name) if area else None,
    )


async def ticket_id_for_reference(session: AsyncSession, reference: str) -> int | None:
    return await repository.ticket_id_by_reference(session, reference)


async def ticket_by_reference(session: AsyncSession, reference: str) -> Ticket | None:
    """The ticket with that reference, locked for the change the caller makes (or None)."""
    ticket_id = await repository.ticket_id_by_reference(session, reference)
    return None if ticket_id is None else await repository.ticket(session, ticket_id, for_update=True)


async def routing_texts(
    session: AsyncSession, *, start: datetime, end: datetime, area_id: int | None
) -> AsyncIterator[list[tuple[int, str, int, str]]]:
    """(id, reference, area id, routing text) of the tickets created in [start, end), a chunk at a time:
    the text the router read (the subject and the first message's own words)."""
    async for chunk in repository.routing_texts(session, start=start, end=end, area_id=area_id):
        yield [(i, ref, area, routing_text(subject, text)) for i, ref, area, subject, text in chunk]
