"""A ticket's life: every change of its state, each with its guard, recorded as a ticket_event.

Ingest calls it on the rows of its batch (through the ThreadIndex and its RowWriter), the API and
the worker on ORM objects in their session; nothing else changes a ticket's status, assignee or area,
or writes a ticket_event. Each transition returns the Event it recorded, and every one of them
passes through `_record`: the one place to listen at for what happens to tickets. The SLA clocks
(app/sla) move there and nowhere else: `_record` hands each event that moves them to the ledger of
its transaction, and keeps the ticket's due times from what the clocks say."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, cast, overload

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.db import RowWriter, utcnow
from app.errors import Forbidden, InvalidInput
from app.reports import facts
from app.routing import service as routing
from app.routing.models import TRIAGE, Area
from app.sla import service as sla
from app.sla.clocks import Fact, FactKind
from app.sla.models import Priority
from app.tickets import repository, threads
from app.tickets.models import (
    ClaimedRow,
    CustomerRow,
    EventKind,
    Ticket,
    TicketEvent,
    TicketEventRow,
    TicketRow,
    TicketStatus,
)
from app.tickets.threads import ThreadIndex
from app.users.models import User
from mailtext.message import ParsedMessage
from mailtext.trust import Verdict

SYSTEM = "system"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Event(Generic[T]):
    """What a transition did to a ticket: the ticket_event it wrote, and the status it moved the ticket
    from and to (both None when the status stayed). `ticket` is the ORM object in the API, the row in
    an ingest batch (one the batch opened has no id before the batch is written), or just the id."""

    kind: EventKind
    ticket: T
    at: datetime
    actor: str = SYSTEM
    data: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    status_from: TicketStatus | None = None
    status_to: TicketStatus | None = None


def actor(user: User) -> str:
    return f"{user.role}:{user.name}"


# --- Ingest: the rows of one batch --------------------------------------------------------------


def may_open(auto: str | None) -> bool:
    """Whether a message counts as the customer's: it opens a ticket when it threads nowhere, and
    reopens one it threads into (within `place`'s window). Mail a person wrote and bulk mail do;
    auto-replies and bounces never do, since answering them is how mail loops start."""
    return auto in (None, "bulk")


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a new message goes: onto `ticket` (threaded by `how`: header, token or subject), or else
    into a new ticket, which points back at `previous` when the message answers a ticket solved too
    long ago to reopen. A message whose sender failed authentication goes onto no ticket: `claimed` is
    the one it would have threaded into (by `how`), which it never reaches."""

    ticket: TicketRow | None
    how: str | None
    previous: TicketRow | None = None
    claimed: TicketRow | None = None


def place(index: ThreadIndex, parsed: ParsedMessage, *, now: datetime, reopen_days: float) -> Placement:
    """The reopen rule, whole: a customer's message on a pending or solved ticket reopens it (see
    `add_message`), unless the ticket was solved more than `reopen_days` ago; then the ticket stays
    solved and the message opens a new one pointing at it (bulk mail too). An auto-reply or a bounce
    threads onto any ticket.
    The sender-trust rule (issue 14): a `failed` message never threads into an existing ticket, by
    header, token or subject: anyone can write a customer's address and a reference."""
    ticket, how = threads.find_ticket(index, parsed)
    if ticket is None or how is None:
        return Placement(None, None)
    if parsed.trust.verdict == Verdict.FAILED:
        return Placement(None, how, claimed=ticket)
    solved_at = ticket["solved_at"]
    if (
        may_open(parsed.auto)
        and ticket["status"] == TicketStatus.SOLVED
        and solved_at is not None
        and solved_at < now - timedelta(days=reopen_days)
    ):
        return Placement(None, None, previous=ticket)
    return Placement(ticket, how)


def open_ticket(
    index: ThreadIndex,
    *,
    parsed: ParsedMessage,
    customer: CustomerRow | None,
    mailbox_id: int | None,
    route: routing.Route,
    own_addresses: frozenset[str],
    now: datetime,
    previous: TicketRow | None = None,
    placement: Placement | None = None,
) -> Event[TicketRow]:
    """None -> open (`created`), routed to `route`'s area with its SLA due times; the subject keeps no
    other ticket's token. A customer's ticket in an area where one of theirs was solved lately (the
    index's `recently_solved`) is a repeat contact of that one: `repeat_of_ticket_id`, `data.repeat_of`.
    A message whose sender failed authentication opens a possible spoof (`possible_spoof`, and
    `spoof_of_ticket_id`: the ticket `placement` says it claimed), recorded as `sender_failed` with the
    reason; replies by subject never thread into it (its subject is the spoofer's)."""
    area = route.area
    failed = parsed.trust.verdict == Verdict.FAILED
    claimed = placement.claimed if placement is not None else None
    key = threads.subject_key(parsed.subject, index.prefix)
    customer_id = customer.get("id") if customer is not None else None
    # A possible spoof is not the customer coming back: it never counts as their repeat contact.
    repeat = index.recently_solved.get((customer_id, area.id)) if customer_id is not None and not failed else None
    ticket: TicketRow = {
        "reference": threads.new_reference(index.prefix),
        "subject": threads.without_tokens(parsed.subject, index.prefix)[:2000],
        "subject_key": key,
        "status": TicketStatus.OPEN,
        "area_id": area.id,
        "customer_id": customer,
        "mailbox_id": mailbox_id,
        "assignee_id": None,
        "previous_ticket_id": previous["id"] if previous is not None else None,
        "repeat_of_ticket_id": repeat[0] if repeat is not None else None,
        "possible_spoof": failed,
        "spoof_of_ticket_id": claimed.get("id") if claimed is not None else None,
        "routed_by": route.routed_by,
        "route_probability": route.probability,
        "model_version": route.model_version,
        "priority": Priority(route.priority),
        "created_at": now,
        "updated_at": now,
        "last_customer_message_at": now,
        # Set by the SLA clocks as the event is recorded.
        "first_response_due_at": None,
        "resolution_due_at": None,
        "sla_due_at": None,
        "first_responded_at": None,
        "solved_at": None,
        "claimed_at": None,
    }
    index.writer.add(TICKET, ticket)
    event = Event(
        EventKind.CREATED,
        ticket,
        now,
        data={
            "area": area.name,
            "area_id": area.id,
            "priority": route.priority,
            "routed_by": route.routed_by,
            "probability": route.probability,
            "model_version": route.model_version,
            "previous_ticket": previous["reference"] if previous is not None else None,
            "repeat_of": repeat[1] if repeat is not None else None,
        },
        status_to=TicketStatus.OPEN,
    )
    _record(index.writer, event, ledger=index.sla)
    if failed:
        if claimed is not None and "id" not in claimed:
            index.spoof_links.append((ticket, claimed))
        trust = parsed.trust
        data = {
            "reason": trust.reason,
            "claimed_ticket": claimed["reference"] if claimed is not None else None,
            "claimed_by": placement.how if placement is not None and claimed is not None else None,
            "held_from": route.held_from,
            "spf": trust.spf,
            "dkim": trust.dkim,
            "dkim_domain": trust.dkim_domain,
            "dmarc": trust.dmarc,
            "aligned": trust.aligned,
        }
        _record(index.writer, Event(EventKind.SENDER_FAILED, ticket, now, data=data))
    index.by_reference[ticket["reference"]] = ticket
    if parsed.from_address and not failed:
        index.by_subject[(parsed.from_address, key)] = ticket
    if parsed.message_id is not None:
        index.by_message_id[parsed.message_id] = ticket
    others = [a for a in [*parsed.to, *parsed.cc] if a not in own_addresses]
    threads.add_participants(index, ticket, [parsed.from_address, *others])
    return event


def add_message(
    index: ThreadIndex, ticket: TicketRow, *, parsed: ParsedMessage, how: str, now: datetime
) -> Event[TicketRow]:
    """A further message threaded onto a ticket. A customer's (or bulk) message: open -> open, or
    pending/solved -> open (reopened), `customer_message`. An auto-reply (`auto_reply`) or a bounce
    (`delivery_failed`) is recorded but changes no status."""
    if parsed.message_id is not None:
        index.by_message_id[parsed.message_id] = ticket
    if not may_open(parsed.auto):
        kind = EventKind.DELIVERY_FAILED if parsed.auto == "bounce" else EventKind.AUTO_REPLY
        automatic = Event(kind, ticket, now, data={"threaded_by": how})
        _record(index.writer, automatic)
        return automatic
    data = {"threaded_by": how}
    ticket["updated_at"] = now
    ticket["last_customer_message_at"] = now
    previous = ticket["status"]
    reopened = previous in (TicketStatus.PENDING, TicketStatus.SOLVED)
    if reopened:
        data["reopened_from"] = str(previous)
        ticket["status"] = TicketStatus.OPEN
        ticket["solved_at"] = None
        index.writer.changed(TICKET, ticket, "updated_at", "last_customer_message_at", "status", "solved_at")
    else:
        index.writer.changed(TICKET, ticket, "updated_at", "last_customer_message_at")
    event = Event(
        EventKind.CUSTOMER_MESSAGE,
        ticket,
        now,
        data=data,
        status_from=previous if reopened else None,
        status_to=TicketStatus.OPEN if reopened else None,
    )
    _record(index.writer, event, ledger=index.sla)
    if parsed.trust.verdict == Verdict.UNVERIFIED and parsed.trust.assessed:
        # Let in as before sender trust, but said on the ticket: the agent acting on it is warned.
        marked = {"reason": parsed.trust.reason, "message": parsed.message_id, "from": parsed.from_address}
        _record(index.writer, Event(EventKind.SENDER_UNVERIFIED, ticket, now, data=marked))
    threads.add_participants(index, ticket, [parsed.from_address])
    return event


def acknowledgement_skipped(
    writer: RowWriter, ticket: TicketRow, reason: dict[str, str], *, now: datetime
) -> Event[TicketRow]:
    """Why the customer of a new ticket got no acknowledgement: recorded on the ticket, status unchanged."""
    event = Event(EventKind.ACKNOWLEDGEMENT_SKIPPED, ticket, now, data=reason)
    _record(writer, event)
    return event


# --- The API and the worker: ORM objects in their session ---------------------------------------


def check_can_work(ticket: Ticket, user: User) -> None:
    """The guard of an agent's actions: an unclaimed ticket, one's own, or any ticket for an admin.
    A refusal names who holds the ticket, so that the agent knows whom to ask."""
    if user.role != "admin" and ticket.assignee_id is not None and ticket.assignee_id != user.id:
        holder = ticket.assignee.name if ticket.assignee is not None else "another agent"
        raise Forbidden(f"this ticket is claimed by {holder}")


async def _take(session: AsyncSession, ticket: Ticket, *, user: User) -> Event[Ticket] | None:
    """The rule of working a ticket (a reply, a status change), the same for every caller: another
    agent's ticket is refused (see `check_can_work`); an unassigned one is claimed for whoever acts on
    it, admins included, through the same atomic claim as a queue's (`claimed`), so that of two agents
    racing to answer one ticket one wins and the other is refused. An admin acting on someone's ticket
    leaves it theirs. None when nothing was claimed."""
    check_can_work(ticket, user)
    if ticket.assignee_id is not None:
        return None
    now = utcnow()
    who = actor(user)
    row = await repository.claim_ticket(session, ticket.id, user.id, who, now)
    if row is None:
        # Someone claimed it after it was read (a caller that did not lock it): the guard again, on
        # the ticket as it is now.
        fresh = await repository.ticket(session, ticket.id)
        assert fresh is not None
        check_can_work(fresh, user)
        return None
    # The claim's statement wrote the row: tell the ORM object without making it dirty.
    for name, value in (("assignee_id", user.id), ("assignee", user), ("claimed_at", now), ("updated_at", now)):
        set_committed_value(ticket, name, value)
    event = Event(EventKind.CLAIMED, ticket, now, actor=who)
    _record(None if repository.claim_writes_event(session) else session, event)
    return event


async def claim(session: AsyncSession, area: str, *, agent: User) -> Event[ClaimedRow] | None:
    """The area's most urgent open and unassigned ticket -> assigned to the agent (`claimed`); no ticket
    goes to two agents. None when no ticket of that area waits (or no such area)."""
    now = utcnow()
    who = actor(agent)
    row = await repository.claim(session, area, agent.id, who, now)
    if row is None:
        return None
    event = Event(EventKind.CLAIMED, row, now, actor=who)
    # On PostgreSQL the claim's own statement wrote the event: one round trip for both.
    _record(None if repository.claim_writes_event(session) else session, event)
    await facts.refresh(session, [row["id"]])
    return event


async def release(session: AsyncSession, ticket: Ticket, *, user: User) -> Event[Ticket] | None:
    """Assigned -> unassigned (`released`); the status stays. None when nobody holds the ticket."""
    check_can_work(ticket, user)
    if ticket.assignee_id is None:
        return None
    now = utcnow()
    ticket.assignee_id, ticket.assignee, ticket.claimed_at, ticket.updated_at = None, None, None, now
    event = Event(EventKind.RELEASED, ticket, now, actor=actor(user))
    _record(session, event)
    await facts.refresh(session, [ticket.id])
    return event


async def replied(session: AsyncSession, ticket: Ticket, *, user: User, now: datetime) -> Event[Ticket]:
    """An agent's reply is queued (`replied`), by whoever may work the ticket (an unassigned one is
    claimed first, see `_take`): the first one is the ticket's first response."""
    await _take(session, ticket, user=user)
    if ticket.first_responded_at is None:
        ticket.first_responded_at = now
    ticket.updated_at = now
    event = Event(EventKind.REPLIED, ticket, now, actor=actor(user))
    await _log(session, event)
    return event


async def set_status(
    session: AsyncSession, ticket: Ticket, *, status: str | TicketStatus, user: User, now: datetime | None = None
) -> Event[Ticket] | None:
    """One status -> another of open, pending and solved (`status`), by whoever may work the ticket
    (an unassigned one is claimed first, see `_take`). Solving a ticket outside triage confirms its
    area: a training label. None when the ticket has that status already: nothing changes (nor is the
    ticket claimed), so solving twice neither moves `solved_at` nor labels twice."""
    check_can_work(ticket, user)
    try:
        new = TicketStatus(status)
    except ValueError:
        raise InvalidInput("status must be open, pending or solved") from None
    previous = TicketStatus(ticket.status)
    if previous == new:
        return None
    await _take(session, ticket, user=user)
    now = now or utcnow()
    ticket.status, ticket.updated_at = new, now
    if new == TicketStatus.SOLVED:
        ticket.solved_at = now
        if ticket.area.name != TRIAGE:
            await routing.record_label(
                session,
                ticket_id=ticket.id,
                area=ticket.area.name,
                previous=None,
                source="confirmed",
                actor=actor(user),
            )
    else:
        ticket.solved_at = None
    event = Event(
        EventKind.STATUS,
        ticket,
        now,
        actor=actor(user),
        data={"from": str(previous), "to": str(new)},
        status_from=previous,
        status_to=new,
    )
    await _log(session, event)
    await session.flush()
    return event


async def reroute(
    session: AsyncSession,
    ticket: Ticket,
    *,
    area: Area,
    user: User,
    keep_assignee: bool = False,
    now: datetime | None = None,
) -> Event[Ticket] | None:
    """Area -> another area (`rerouted`); a training label unless it goes to triage. The ticket is
    unassigned, so that whoever works the new area claims it, unless `keep_assignee` (asked by its
    assignee or an admin, the only ones the guard lets re-route a claimed ticket); an unassigned ticket
    is never claimed by a re-route. The event's data says who holds it after (`assignee`) and whether
    this re-route took it from someone (`unassigned`). None when the ticket is in that area already."""
    check_can_work(ticket, user)
    previous_name = ticket.area.name
    if previous_name == area.name:
        return None
    now = now or utcnow()
    ticket.area_id, ticket.area, ticket.routed_by, ticket.updated_at = area.id, area, "agent", now
    unassigned = ticket.assignee_id is not None and not keep_assignee
    if unassigned:
        ticket.assignee_id, ticket.assignee, ticket.claimed_at = None, None, None
    if area.name != TRIAGE:
        await routing.record_label(
            session, ticket_id=ticket.id, area=area.name, previous=previous_name, source="corrected", actor=actor(user)
        )
    data = {
        "from": previous_name,
        "to": area.name,
        "area_id": area.id,
        "assignee": ticket.assignee.name if ticket.assignee is not None else None,
        "unassigned": unassigned,
    }
    event = Event(EventKind.REROUTED, ticket, now, actor=actor(user), data=data)
    await _log(session, event)
    await session.flush()
    return event


async def set_priority(
    session: AsyncSession, ticket: Ticket, *, priority: str | Priority, user: User, now: datetime | None = None
) -> Event[Ticket] | None:
    """A priority -> another (`priority`), by whoever may work the ticket; never claims. Its SLA
    clocks take the new priority's targets. None when the ticket has that priority already."""
    check_can_work(ticket, user)
    try:
        new = Priority(priority)
    except ValueError:
        raise InvalidInput("priority must be low, normal, high or urgent") from None
    previous = Priority(ticket.priority)
    if previous == new:
        return None
    now = now or utcnow()
    ticket.priority, ticket.updated_at = new, now
    event = Event(EventKind.PRIORITY, ticket, now, actor=actor(user), data={"from": str(previous), "to": str(new)})
    await _log(session, event)
    await session.flush()
    return event


async def add_note(session: AsyncSession, ticket: Ticket, *, body: str, user: User) -> TicketEvent:
    """An internal note (`note`), open to every agent on any ticket: it claims nothing and the status
    and assignee stay. Returns the stored event: the note's id is its id."""
    now = utcnow()
    ticket.updated_at = now
    stored = _record(session, Event(EventKind.NOTE, ticket, now, actor=actor(user), note=body))
    await session.flush()
    return stored


async def csat_received(
    session: AsyncSession, ticket: Ticket, *, cycle: int, rating: str, comment: str | None, now: datetime
) -> TicketEvent:
    """A customer's survey rating (`csat`), status and assignee unchanged. A bad one carries an internal
    note for the assignee, with the customer's comment, so that whoever held the ticket hears of it."""
    note = None
    if rating == "bad":
        note = "The customer rated this ticket bad in the satisfaction survey."
        if comment:
            note += f" Their comment: {comment}"
    data = {"cycle": cycle, "rating": rating, "assignee": ticket.assignee_id}
    stored = _record(session, Event(EventKind.CSAT, ticket, now, actor="customer", data=data, note=note))
    await session.flush()
    return stored


async def deflect(
    session: AsyncSession, ticket: Ticket, *, article_id: int, article: str, now: datetime
) -> Event[Ticket] | None:
    """Open, never answered by an agent -> solved and unassigned (`deflected`, with the article): the
    customer confirmed that a help-centre article the acknowledgement suggested answered the question.
    No training label (no agent confirmed the area). None, changing nothing, for a ticket an agent
    answered, one that is pending or solved, or one deflected before (the link was used already): the
    agent's work or the earlier deflection stands. A customer who writes again reopens it as any solved
    ticket (`add_message`)."""
    if ticket.status != TicketStatus.OPEN or ticket.first_responded_at is not None:
        return None
    if await repository.has_event(session, ticket.id, EventKind.DEFLECTED):
        return None
    unassigned = ticket.assignee_id is not None
    ticket.status, ticket.solved_at, ticket.updated_at = TicketStatus.SOLVED, now, now
    ticket.assignee_id, ticket.claimed_at = None, None
    set_committed_value(ticket, "assignee", None)
    event = Event(
        EventKind.DEFLECTED,
        ticket,
        now,
        actor="customer",
        data={"article_id": article_id, "article": article, "unassigned": unassigned},
        status_from=TicketStatus.OPEN,
        status_to=TicketStatus.SOLVED,
    )
    await _log(session, event)
    await session.flush()
    return event


def delivery_failed(
    session: AsyncSession, ticket_id: int | None, *, outbox_id: int, error: str, now: datetime
) -> Event[int] | None:
    """The outbox gave up on a message (`delivery_failed`): shown on the ticket, so that the agent knows
    the customer never got the answer. The status stays."""
    if ticket_id is None:
        return None
    event = Event(EventKind.DELIVERY_FAILED, ticket_id, now, data={"outbox": outbox_id, "error": error})
    _record(session, event)
    return event


# --- Where every transition passes ---------------------------------------------------------------

TICKET = Ticket.__table__
TICKET_EVENT = TicketEvent.__table__


@overload
def _record(into: AsyncSession, event: Event[Any], *, ledger: sla.Ledger | None = None) -> TicketEvent: ...
@overload
def _record(into: RowWriter | None, event: Event[Any], *, ledger: sla.Ledger | None = None) -> None: ...
def _record(
    into: AsyncSession | RowWriter | None, event: Event[Any], *, ledger: sla.Ledger | None = None
) -> TicketEvent | None:
    """Write the event's ticket_event: with an ingest batch's rows, or into the session, flushed with the
    change it records (then the stored event is returned). `into` is None where the transition's own
    statement wrote it (a claim on PostgreSQL). An event that moves SLA clocks moves them in `ledger`,
    the transaction's ledger, and the ticket keeps their due times."""
    fact = sla_fact(event.kind, event.at, reopened=event.status_from is not None, status_to=event.status_to)
    if fact is not None:
        assert ledger is not None, f"a {event.kind} event needs the SLA ledger"
        _move_clocks(ledger, event.ticket, fact, into if isinstance(into, RowWriter) else None)
    ticket = event.ticket
    row: TicketEventRow = {
        "ticket_id": ticket.id if isinstance(ticket, Ticket) else ticket if isinstance(ticket, int) else _key(ticket),
        "kind": event.kind,
        "actor": event.actor,
        "data": event.data,
        "note": event.note,
        "created_at": event.at,
    }
    if isinstance(into, RowWriter):
        into.add(TICKET_EVENT, row)
        return None
    if into is None:
        return None
    stored = TicketEvent(**row)
    into.add(stored)
    return stored


def sla_fact(
    kind: EventKind, at: datetime, *, reopened: bool = False, status_to: TicketStatus | None = None
) -> Fact | None:
    """What an event means to the SLA clocks; None for an event that moves none."""
    if kind == EventKind.CREATED:
        return Fact(FactKind.CREATED, at)
    if kind == EventKind.CUSTOMER_MESSAGE:
        return Fact(FactKind.CUSTOMER_MESSAGE, at, reopens=reopened)
    if kind == EventKind.REPLIED:
        return Fact(FactKind.REPLIED, at)
    if kind == EventKind.STATUS and status_to is not None:
        return Fact(_STATUS_FACTS[status_to], at)
    if kind in (EventKind.REROUTED, EventKind.PRIORITY):
        return Fact(FactKind.RETARGETED, at)
    if kind == EventKind.DEFLECTED:
        return Fact(FactKind.SOLVED, at)
    return None


_STATUS_FACTS = {
    TicketStatus.PENDING: FactKind.PENDING,
    TicketStatus.SOLVED: FactKind.SOLVED,
    TicketStatus.OPEN: FactKind.OPENED,
}
_DUE_COLUMNS = ("first_response_due_at", "resolution_due_at", "sla_due_at")


def _move_clocks(ledger: sla.Ledger, ticket: Ticket | TicketRow, fact: Fact, writer: RowWriter | None) -> None:
    if isinstance(ticket, Ticket):
        due = ledger.apply(ticket.id, fact, area_id=ticket.area_id, priority=ticket.priority)
        ticket.first_response_due_at, ticket.resolution_due_at = due.first_reply, due.resolution
        ticket.sla_due_at = due.nearest
        return
    due = ledger.apply(ticket, fact, area_id=ticket["area_id"], priority=ticket["priority"])
    ticket["first_response_due_at"], ticket["resolution_due_at"] = due.first_reply, due.resolution
    ticket["sla_due_at"] = due.nearest
    if writer is not None:
        writer.changed(TICKET, ticket, *_DUE_COLUMNS)


async def _log(session: AsyncSession, event: Event[Ticket]) -> TicketEvent:
    """`_record` in the API's session, with the ledger of the ticket's clocks: read before, written after."""
    ledger = await sla.ledger(session, [event.ticket.id])
    stored = _record(session, event, ledger=ledger)
    await ledger.flush(session)
    await facts.refresh(session, [event.ticket.id])
    return stored


async def write_batch(session: AsyncSession, index: ThreadIndex) -> None:
    """An ingest batch's rows written, and the fact rows of the tickets it opened or moved: one
    statement for the batch, as its clocks are written."""
    await index.writer.write(session)
    if index.spoof_links:
        # Both tickets have their ids now: the possible spoof points at the one it claimed.
        for spoof, claimed in index.spoof_links:
            spoof["spoof_of_ticket_id"] = claimed["id"]
            index.writer.changed(TICKET, spoof, "spoof_of_ticket_id")
        index.spoof_links.clear()
        await index.writer.write(session)
    if index.sla is not None:
        await facts.refresh(session, index.sla.tickets())


async def recompute_sla(session: AsyncSession, *, since: datetime | None = None, now: datetime | None = None) -> int:
    """Every ticket's SLA clocks and sla_events (those created since `since`, or all) rebuilt from
    its ticket_events under the policies as they are now, and its due times with them. Equals the
    live state when the policies have not changed. Returns how many tickets."""
    now = now or utcnow()
    count = 0
    areas = {a.name: a.id for a in await routing.list_areas(session)}
    async for chunk in repository.histories(session, since=since):
        steps: dict[int, list[sla.Step]] = {}
        for ticket_id, area_id, priority, history in chunk:
            found = _steps(history, areas, area_id=area_id, priority=priority)
            if found:  # a ticket without a `created` event keeps the clocks it has
                steps[ticket_id] = found
        dues = await sla.replace(session, steps, now=now)
        await repository.set_due(session, {t: (d.first_reply, d.resolution, d.nearest) for t, d in dues.items()})
        await facts.refresh(session, [ticket_id for ticket_id, *_ in chunk])
        count += len(steps)
    return count


def _steps(history: Any, areas: dict[str, int], *, area_id: int, priority: str) -> list[sla.Step]:
    """A ticket's events as SLA steps, with the area and priority it had after each. Events from
    before SLA policies carry area names only; a name no area has any more keeps the current area."""
    created = [e for e in history if e.kind == EventKind.CREATED]
    if not created:
        return []
    data = created[0].data
    area = cast(int, data.get("area_id") or areas.get(data.get("area", ""), area_id))
    level = str(data.get("priority") or Priority.NORMAL)
    steps: list[sla.Step] = []
    for event in history:
        kind, data = event.kind, event.data or {}
        if kind == EventKind.REROUTED:
            area = cast(int, data.get("area_id") or areas.get(data.get("to", ""), area))
        elif kind == EventKind.PRIORITY:
            level = str(data.get("to", level))
        status_to = TicketStatus(data["to"]) if kind == EventKind.STATUS and "to" in data else None
        fact = sla_fact(kind, event.created_at, reopened="reopened_from" in data, status_to=status_to)
        if fact is not None:
            steps.append(sla.Step(fact, area, level))
    return steps


def _key(ticket: TicketRow) -> int | TicketRow:
    # A ticket the batch opened has no id yet: the writer links the event to its row when it writes.
    return ticket.get("id", ticket)
