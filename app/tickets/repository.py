from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, case, func, insert, literal, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from app.inbox.models import Attachment, Message
from app.routing.models import Area
from app.tickets.models import (
    ClaimedRow,
    Customer,
    CustomerRow,
    EventKind,
    Participant,
    Ticket,
    TicketEvent,
    TicketRow,
    TicketStatus,
    breached,
    urgency,
)
from app.users.models import User

# The ingest path reads tickets and customers as plain rows (dicts): it writes with Core, not the ORM,
# and a few thousand ORM objects per batch cost more than the queries that load them.


async def customers_by_email(session: AsyncSession, emails: Collection[str]) -> dict[str, CustomerRow]:
    if not emails:
        return {}
    table = Customer.__table__
    rows = await session.execute(select(table.c.id, table.c.email, table.c.name).where(table.c.email.in_(emails)))
    return {row["email"]: cast(CustomerRow, dict(row)) for row in rows.mappings()}


async def tickets_by_message_id(session: AsyncSession, message_ids: Collection[str]) -> dict[str, TicketRow]:
    """Stored messages (inbound or outbound) with these Message-IDs, mapped to their ticket."""
    if not message_ids:
        return {}
    rows = await session.execute(
        select(Message.message_id.label("_message_id"), Ticket.__table__)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(Message.message_id.in_(message_ids))
    )
    found: dict[str, TicketRow] = {}
    for row in rows.mappings():
        ticket = dict(row)
        message_id = ticket.pop("_message_id")
        if message_id is not None:
            found[message_id] = cast(TicketRow, ticket)
    return found


async def tickets_by_reference(session: AsyncSession, references: Collection[str]) -> dict[str, TicketRow]:
    if not references:
        return {}
    rows = await session.execute(select(Ticket.__table__).where(Ticket.reference.in_(references)))
    return {row["reference"]: cast(TicketRow, dict(row)) for row in rows.mappings()}


async def participants(session: AsyncSession, ticket_ids: Collection[int]) -> set[tuple[int, str]]:
    if not ticket_ids:
        return set()
    rows = await session.execute(
        select(Participant.ticket_id, Participant.email).where(Participant.ticket_id.in_(ticket_ids))
    )
    return {(ticket_id, email) for ticket_id, email in rows}


async def open_tickets_by_subject(
    session: AsyncSession, customer_ids: Collection[int], subject_keys: Collection[str], *, since: datetime
) -> list[TicketRow]:
    if not customer_ids or not subject_keys:
        return []
    rows = await session.execute(
        select(Ticket.__table__)
        .where(
            Ticket.customer_id.in_(customer_ids),
            Ticket.subject_key.in_(subject_keys),
            Ticket.status != TicketStatus.SOLVED,
            Ticket.updated_at >= since,
            # A possible spoof's subject is the spoofer's: the customer's replies by subject never go there.
            Ticket.possible_spoof.is_(False),
        )
        .order_by(Ticket.updated_at)
    )
    return [cast(TicketRow, dict(row)) for row in rows.mappings()]


async def recently_solved(
    session: AsyncSession, customer_ids: Collection[int], *, since: datetime, until: datetime
) -> dict[tuple[int, int], tuple[int, str]]:
    """The latest ticket of each (customer, area) solved between `since` and `until`: (id, reference)."""
    if not customer_ids:
        return {}
    rows = await session.execute(
        select(Ticket.customer_id, Ticket.area_id, Ticket.id, Ticket.reference)
        .where(
            Ticket.customer_id.in_(customer_ids),
            Ticket.status == TicketStatus.SOLVED,
            Ticket.solved_at >= since,
            Ticket.solved_at <= until,
        )
        .order_by(Ticket.solved_at)
    )
    return {
        (customer_id, area_id): (ticket_id, reference)
        for customer_id, area_id, ticket_id, reference in rows
        if customer_id is not None
    }


def _next_waiting() -> Any:
    """The id of an area's (by name) most urgent waiting ticket, locked for the claim that takes it.

    PostgreSQL: FOR UPDATE SKIP LOCKED locks the chosen row, so concurrent claimers each take a
    different one and never wait on each other; the row is re-checked once locked. SQLite renders no
    FOR UPDATE; there BEGIN IMMEDIATE has already serialised writers."""
    ticket = cast(Table, Ticket.__table__)
    area_id = select(Area.__table__.c.id).where(Area.__table__.c.name == bindparam("area")).scalar_subquery()
    # 'open' and 1 are written into the SQL, not bound: PostgreSQL's cached (generic) plan of the
    # prepared statement can then prove the partial index applies and that one row is wanted. Bound,
    # it re-planned every claim (about 0.7 ms) to see the values.
    return (
        select(ticket.c.id)
        .where(
            ticket.c.area_id == area_id,
            ticket.c.status == literal(TicketStatus.OPEN.value, literal_execute=True),
            ticket.c.assignee_id.is_(None),
        )
        .order_by(urgency().asc().nulls_last(), ticket.c.created_at, ticket.c.id)
        .limit(literal_column("1"))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )


def _claim_statement(chosen: Any) -> Any:
    """One statement takes the ticket `chosen` (an id, or a subquery that picks one) for an agent, if
    nobody holds it, and returns it with its customer's address. Built once per use: the hot path only
    binds parameters. `assignee_id IS NULL` is the guarantee: of two claims of one ticket, one updates
    no row, whichever engine serialised them and however."""
    ticket = cast(Table, Ticket.__table__)
    customer_email = (
        select(Customer.__table__.c.email).where(Customer.__table__.c.id == ticket.c.customer_id).scalar_subquery()
    )
    now = bindparam("now", type_=ticket.c.updated_at.type)
    return (
        update(ticket)
        .where(ticket.c.id == chosen, ticket.c.assignee_id.is_(None))
        .values(assignee_id=bindparam("user_id", type_=ticket.c.assignee_id.type), claimed_at=now, updated_at=now)
        .returning(*ticket.c, customer_email.label("customer_email"))
    )


def _claim_and_log_statement(claim: Any) -> Any:
    """PostgreSQL: a claim and its `claimed` event in one statement (a data-modifying CTE), one round
    trip instead of two. SQLite has no data-modifying CTEs; there the lifecycle writes the event."""
    claimed = claim.cte("claimed")
    event = cast(Table, TicketEvent.__table__)
    logged = (
        insert(event)
        .from_select(
            ["ticket_id", "kind", "actor", "data", "created_at"],
            select(
                claimed.c.id,
                literal(EventKind.CLAIMED.value),
                bindparam("actor", type_=event.c.actor.type),
                literal({}, type_=event.c.data.type),
                bindparam("now", type_=event.c.created_at.type),
            ),
        )
        .cte("logged")
    )
    return select(claimed).add_cte(logged)


# The claim from a queue (the area's next ticket), and the claim of one ticket an agent acts on.
_CLAIM = _claim_statement(_next_waiting())
_CLAIM_AND_LOG = _claim_and_log_statement(_CLAIM)
_CLAIM_TICKET = _claim_statement(bindparam("ticket_id", type_=Integer))
_CLAIM_TICKET_AND_LOG = _claim_and_log_statement(_CLAIM_TICKET)


def claim_writes_event(session: AsyncSession) -> bool:
    """Whether `claim` writes the `claimed` event itself, in the claim's statement (PostgreSQL)."""
    return session.get_bind().dialect.name == "postgresql"


async def claim(session: AsyncSession, area: str, user_id: int, actor: str, now: datetime) -> ClaimedRow | None:
    """Claim the area's most urgent waiting ticket; where `claim_writes_event`, its `claimed` event by
    `actor` too. Returns the ticket's row (with `customer_email`), or None when no ticket of the area waits."""
    params = {"area": area, "user_id": user_id, "actor": actor, "now": now}
    statement = _CLAIM_AND_LOG if claim_writes_event(session) else _CLAIM
    row = (await session.execute(statement, params)).mappings().first()
    return cast(ClaimedRow, dict(row)) if row is not None else None


async def claim_ticket(
    session: AsyncSession, ticket_id: int, user_id: int, actor: str, now: datetime
) -> ClaimedRow | None:
    """Claim this ticket, whatever its status, if nobody holds it; where `claim_writes_event`, its
    `claimed` event by `actor` too. Returns its row (with `customer_email`), or None when it has an
    assignee already."""
    params = {"ticket_id": ticket_id, "user_id": user_id, "actor": actor, "now": now}
    statement = _CLAIM_TICKET_AND_LOG if claim_writes_event(session) else _CLAIM_TICKET
    row = (await session.execute(statement, params)).mappings().first()
    return cast(ClaimedRow, dict(row)) if row is not None else None


# Built once, bound per call: every ticket action starts with one of these. The ticket comes with its
# area, customer and assignee, which is all its summary needs, so the action answers without reading again.
_TICKET = (
    select(Ticket)
    .options(joinedload(Ticket.area), joinedload(Ticket.customer), joinedload(Ticket.assignee))
    .where(Ticket.id == bindparam("id"))
    .execution_options(populate_existing=True)
)
_TICKET_FOR_UPDATE = _TICKET.with_for_update(of=Ticket)  # the ticket's row only, not its area's


async def ticket(session: AsyncSession, ticket_id: int, *, for_update: bool = False) -> Ticket | None:
    found = await session.scalar(_TICKET_FOR_UPDATE if for_update else _TICKET, {"id": ticket_id})
    if for_update and found is not None and _joined_rows_stale(found):
        # PostgreSQL, after waiting for another transaction's lock on the ticket: the locked row is the
        # newest, but the rows joined to it are from the statement's snapshot (an assignee of None
        # beside a new assignee_id). The lock is held now, so a plain read is current.
        found = await session.scalar(_TICKET, {"id": ticket_id})
    return found


def _joined_rows_stale(ticket: Ticket) -> bool:
    assignee_id = ticket.assignee.id if ticket.assignee is not None else None
    return assignee_id != ticket.assignee_id or ticket.area.id != ticket.area_id


def _filtered(
    query: Any,
    *,
    area_id: int | None,
    status: str | None,
    assignee_id: int | None,
    unassigned: bool,
    customer: str | None,
    text: str | None,
    breached_at: datetime | None,
) -> Any:
    if breached_at is not None:
        query = query.where(breached(breached_at))
    if area_id is not None:
        query = query.where(Ticket.area_id == area_id)
    if status is not None:
        query = query.where(Ticket.status == status)
    if assignee_id is not None:
        query = query.where(Ticket.assignee_id == assignee_id)
    if unassigned:
        query = query.where(Ticket.assignee_id.is_(None))
    if customer is not None:
        query = query.where(Customer.email == customer.strip().lower())
    if text:
        # Bound parameters with LIKE wildcards escaped: user text is only ever data.
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        in_messages = select(Message.ticket_id).where(
            Message.ticket_id == Ticket.id, Message.body_text.ilike(pattern, escape="\\")
        )
        query = query.where(or_(Ticket.subject.ilike(pattern, escape="\\"), in_messages.exists()))
    return query


async def search(
    session: AsyncSession,
    *,
    area_id: int | None = None,
    status: str | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    customer: str | None = None,
    text: str | None = None,
    breached_at: datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[Any], int]:
    filtered = partial(
        _filtered,
        area_id=area_id,
        status=status,
        assignee_id=assignee_id,
        unassigned=unassigned,
        customer=customer,
        text=text,
        breached_at=breached_at,
    )
    base = _with_names()
    rows = (
        await session.execute(
            filtered(base).order_by(Ticket.updated_at.desc(), Ticket.id.desc()).offset(offset).limit(limit)
        )
    ).all()
    # The customer is joined only when it filters: a join per counted row costs most of the count.
    counting = select(func.count(Ticket.id))
    if customer is not None:
        counting = counting.outerjoin(Customer, Customer.id == Ticket.customer_id)
    counted = filtered(counting)
    return rows, int(await session.scalar(counted) or 0)


def _with_names() -> Any:
    """Tickets with their area's name, customer's address and assignee's name."""
    return (
        select(Ticket, Area.name, Customer.email, User.name)
        .join(Area, Area.id == Ticket.area_id)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(User, User.id == Ticket.assignee_id)
    )


async def queue_stats(session: AsyncSession, now: datetime) -> Sequence[Any]:
    """Per area: open, unassigned, breached (a running SLA clock past due) and at risk (due within the
    area's warning window) tickets, when the oldest waiting one arrived, and the nearest due time of a
    waiting one (what `claim` takes first)."""
    waiting = (Ticket.status == TicketStatus.OPEN) & Ticket.assignee_id.is_(None)
    breaching = breached(now)
    # Each area's end of its warning window, written into the query: areas are few.
    moment = Ticket.sla_due_at.type
    windows = {
        area_id: literal(now + timedelta(minutes=minutes), type_=moment)
        for area_id, minutes in (await session.execute(select(Area.id, Area.sla_warning_minutes))).all()
    }
    horizon = case(windows, value=Ticket.area_id, else_=now) if windows else literal(now, type_=Ticket.sla_due_at.type)
    at_risk = (Ticket.status != TicketStatus.SOLVED) & (urgency() >= now) & (urgency() < horizon)
    stats = (
        select(
            Ticket.area_id,
            func.count(Ticket.id).filter(Ticket.status == TicketStatus.OPEN).label("open"),
            func.count(Ticket.id).filter(waiting).label("unassigned"),
            func.count(Ticket.id).filter(breaching).label("breaching"),
            func.count(Ticket.id).filter(at_risk).label("at_risk"),
            func.min(Ticket.created_at).filter(waiting).label("oldest"),
            func.min(urgency()).filter(waiting).label("next_due"),
        )
        .where(Ticket.status != TicketStatus.SOLVED)
        .group_by(Ticket.area_id)
        .subquery()
    )
    return (
        await session.execute(
            select(
                Area,
                stats.c.open,
                stats.c.unassigned,
                stats.c.breaching,
                stats.c.at_risk,
                stats.c.oldest,
                stats.c.next_due,
            )
            .outerjoin(stats, stats.c.area_id == Area.id)
            # An archived area is listed while it still holds unsolved tickets: they stay workable.
            .where(Area.active.is_(True) | stats.c.area_id.is_not(None))
            .order_by(Area.name)
        )
    ).all()


async def oldest_waiting_by_area(session: AsyncSession) -> dict[int, int]:
    """Each area's oldest waiting (open, unassigned) ticket, in one statement over the claim-order
    index (its WHERE is the same, written in as literals so that both engines see it applies); of tickets
    created at the same moment, the lowest id. PostgreSQL ranks each area's waiting tickets; SQLite finds
    each area's first creation time in the index, then the tickets created then (1 ms at 100,000
    tickets, where a window function sorted every waiting ticket: 8).
    One per area, not one query per area: at 100,000 tickets the ten queries took 39 ms on SQLite."""
    waiting = (Ticket.status == literal(TicketStatus.OPEN.value, literal_execute=True)) & Ticket.assignee_id.is_(None)
    found: list[tuple[int, int]]
    if session.get_bind().dialect.name == "postgresql":
        rank = func.row_number().over(partition_by=Ticket.area_id, order_by=(Ticket.created_at, Ticket.id))
        ranked = select(Ticket.area_id, Ticket.id, rank.label("n")).where(waiting).subquery()
        latest = select(ranked.c.area_id, ranked.c.id).where(ranked.c.n == 1)
        found = [(a, t) for a, t in (await session.execute(latest)).all()]
    else:
        # Each area's first creation time, then the lowest id created then: tickets of one ingest batch
        # share their created_at, and min()'s bare column would take whichever the scan met first.
        first = select(Ticket.area_id, func.min(Ticket.created_at).label("at")).where(waiting).group_by(Ticket.area_id)
        at = first.subquery()
        oldest = (
            select(Ticket.area_id, func.min(Ticket.id))
            .join(at, (at.c.area_id == Ticket.area_id) & (at.c.at == Ticket.created_at))
            .where(waiting)
            .group_by(Ticket.area_id)
        )
        found = [(a, t) for a, t in (await session.execute(oldest)).all()]
    return {int(area_id): int(ticket_id) for area_id, ticket_id in found}


async def thread(session: AsyncSession, ticket_id: int) -> Sequence[Message]:
    return (
        await session.scalars(
            select(Message).where(Message.ticket_id == ticket_id).order_by(Message.created_at, Message.id)
        )
    ).all()


async def attachments(session: AsyncSession, message_ids: Collection[int]) -> Sequence[Any]:
    if not message_ids:
        return []
    return (
        await session.execute(
            select(
                Attachment.id,
                Attachment.message_id,
                Attachment.filename,
                Attachment.content_type,
                Attachment.size,
                Attachment.content.is_not(None),
            )
            .where(Attachment.message_id.in_(message_ids))
            .order_by(Attachment.id)
        )
    ).all()


async def ticket_attachment(session: AsyncSession, ticket_id: int, attachment_id: int) -> tuple[Attachment, str] | None:
    """An attachment of one of the ticket's messages, with that message's parse status."""
    row = (
        await session.execute(
            select(Attachment, Message.parse_status)
            .join(Message, Message.id == Attachment.message_id)
            .where(Attachment.id == attachment_id, Message.ticket_id == ticket_id)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def events(session: AsyncSession, ticket_id: int) -> Sequence[TicketEvent]:
    return (
        await session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id))
    ).all()


async def histories(
    session: AsyncSession, *, since: datetime | None, chunk: int = 500
) -> AsyncIterator[list[tuple[int, int, str, list[TicketEvent]]]]:
    """Tickets (created since `since`, or all) with their area, priority and events in order, a chunk
    at a time: recomputing a year of tickets never holds them all."""
    after = 0
    while True:
        query = select(Ticket.id, Ticket.area_id, Ticket.priority).where(Ticket.id > after)
        if since is not None:
            query = query.where(Ticket.created_at >= since)
        tickets = (await session.execute(query.order_by(Ticket.id).limit(chunk))).all()
        if not tickets:
            return
        by_ticket: dict[int, list[TicketEvent]] = {t.id: [] for t in tickets}
        found = await session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id.in_(by_ticket)).order_by(TicketEvent.id)
        )
        for event in found:
            by_ticket[event.ticket_id].append(event)
        yield [(t.id, t.area_id, str(t.priority), by_ticket[t.id]) for t in tickets]
        after = tickets[-1].id


async def set_due(
    session: AsyncSession, dues: Mapping[int, tuple[datetime | None, datetime | None, datetime | None]]
) -> None:
    """The tickets' due times as their recomputed clocks say."""
    if not dues:
        return
    ticket = cast(Table, Ticket.__table__)
    await session.execute(
        update(ticket).where(ticket.c.id == bindparam("_id")),
        [
            {"_id": i, "first_response_due_at": a, "resolution_due_at": b, "sla_due_at": c}
            for i, (a, b, c) in dues.items()
        ],
    )


async def replies_after(session: AsyncSession, ticket_id: int, message_id: int) -> Sequence[Message]:
    """The ticket's replies by a person (outbound, not automatic) stored after message `message_id`."""
    return (
        await session.scalars(
            select(Message)
            .where(
                Message.ticket_id == ticket_id,
                Message.id > message_id,
                Message.direction == "outbound",
                Message.auto.is_(None),
            )
            .order_by(Message.id)
        )
    ).all()


async def first_inbound(session: AsyncSession, ticket_id: int) -> Message | None:
    return await session.scalar(
        select(Message)
        .where(Message.ticket_id == ticket_id, Message.direction == "inbound")
        .order_by(Message.created_at, Message.id)
        .limit(1)
    )


async def unanswered_with_verdict(
    session: AsyncSession, ticket_id: int, verdict: str
) -> Sequence[tuple[int, str | None, str | None]]:
    """The ticket's inbound messages a person wrote (or bulk mail) since its last reply by a person
    (what an agent acting now answers) whose sender-trust verdict is `verdict`: (id, from address,
    reason), oldest first. Only those columns: every status change asks, and a message row holds its
    raw bytes."""
    last_reply = (
        select(func.max(Message.id))
        .where(Message.ticket_id == ticket_id, Message.direction == "outbound", Message.auto.is_(None))
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Message.id, Message.from_address, Message.trust_reason)
        .where(
            Message.ticket_id == ticket_id,
            Message.direction == "inbound",
            or_(Message.auto.is_(None), Message.auto == "bulk"),
            Message.trust_verdict == verdict,
            Message.id > func.coalesce(last_reply, 0),
        )
        .order_by(Message.id)
    )
    return [(row.id, row.from_address, row.trust_reason) for row in rows]


async def has_event(session: AsyncSession, ticket_id: int, kind: EventKind) -> bool:
    found = await session.scalar(
        select(TicketEvent.id).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == kind).limit(1)
    )
    return found is not None


async def ticket_id_by_reference(session: AsyncSession, reference: str) -> int | None:
    return await session.scalar(select(Ticket.id).where(Ticket.reference == reference))


async def routing_texts(
    session: AsyncSession, *, start: datetime, end: datetime, area_id: int | None, chunk: int = 5000
) -> AsyncIterator[list[tuple[int, str, int, str, str]]]:
    """(ticket id, reference, area id, subject, the first customer message's new text) of the tickets
    created in [start, end), a chunk at a time, in id order. Two statements a chunk, each reading only
    the chunk's rows."""
    after = 0
    while True:
        query = select(Ticket.id, Ticket.reference, Ticket.area_id, Ticket.subject).where(
            Ticket.created_at >= start, Ticket.created_at < end, Ticket.id > after
        )
        if area_id is not None:
            query = query.where(Ticket.area_id == area_id)
        rows = (await session.execute(query.order_by(Ticket.id).limit(chunk))).all()
        if not rows:
            return
        first: dict[int, tuple[int, str]] = {}
        found = await session.execute(
            select(Message.ticket_id, Message.id, Message.new_text).where(
                Message.ticket_id.in_([r[0] for r in rows]), Message.direction == "inbound"
            )
        )
        for ticket_id, message_id, text in found:
            if ticket_id is None:
                continue
            if ticket_id not in first or message_id < first[ticket_id][0]:
                first[ticket_id] = (message_id, text or "")
        yield [(r[0], r[1], r[2], r[3] or "", first.get(r[0], (0, ""))[1]) for r in rows]
        after = rows[-1][0]
