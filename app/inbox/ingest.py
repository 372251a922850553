"""Ingest: a fetched batch of mail into tickets, in the caller's transaction.

The flow of each batch reads top to bottom: parse (done before, in app.inbox.parsing) -> dedupe ->
thread -> route -> store -> plan replies, each step a call into the domain that owns it: tickets
thread, open and reopen (app.tickets.lifecycle), routing decides, replies plan acknowledgements.
Ingest writes no table itself: the inbox stores the messages (app.inbox.messages)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta

import structlog
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import RowWriter, utcnow
from app.inbox import messages, repository
from app.inbox.parsing import Incoming
from app.kb import deflection
from app.replies import service as replies
from app.routing import service as routing
from app.tickets import lifecycle, threads
from app.tickets.models import TicketRow
from mailtext.text import routing_text
from mailtext.trust import Verdict

log = structlog.get_logger()


@dataclass
class IngestCounts:
    fetched: int = 0
    ingested: int = 0  # stored: new ticket, threaded reply, ticketless automatic mail, or failed-and-kept
    duplicates: int = 0
    threaded: int = 0
    auto_replies: int = 0  # automatic mail of every kind: auto-replies, bounces, bulk
    failed: int = 0  # stored raw because they could not be parsed

    def add(self, other: IngestCounts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Source:
    mailbox_id: int | None
    uidvalidity: int | None
    own_addresses: frozenset[str] = field(default_factory=frozenset)


async def ingest_batch(
    session: AsyncSession,
    batch: Sequence[Incoming],
    *,
    source: Source,
    settings: Settings,
    router: routing.Router,
    suggester: deflection.Suggester | None = None,
) -> IngestCounts:
    """Store a batch of messages in the caller's transaction.

    The fast path threads the whole batch and writes it with one statement per table. Should that
    fail (another worker stored the same Message-ID a moment ago, a customer row raced, the database
    refused some value), it is rolled back and the batch goes again one message per savepoint, so one
    message can only ever cost itself: a message that fails alone is kept raw as a problem message,
    and the rest of the batch commits."""
    try:
        async with session.begin_nested():
            return await _store(session, batch, source=source, settings=settings, router=router, suggester=suggester)
    except Exception as exc:
        _reraise_if_transient(exc)
        log.info("ingest_batch_retry_one_by_one", mailbox=source.mailbox_id, size=len(batch), error=_kind(exc))
    counts = IngestCounts()
    for item in batch:
        try:
            async with session.begin_nested():
                counts.add(
                    await _store(session, [item], source=source, settings=settings, router=router, suggester=suggester)
                )
        except Exception as exc:
            _reraise_if_transient(exc)
            if await repository.is_stored(session, sha256=item.sha256, message_id=_message_id(item)):
                counts.add(IngestCounts(fetched=1, duplicates=1))
                continue
            # Only the error's class goes to the log: a database's message may quote the mail's values.
            log.warning("message_not_stored", mailbox=source.mailbox_id, uid=item.uid, error=_kind(exc))
            counts.add(await _store_failed(session, item, source, f"could not be stored: {_reason(exc)}"))
    return counts


def _reraise_if_transient(exc: Exception) -> None:
    """A lost connection, a deadlock or a lock wait is no fault of the message: the batch fails and is
    fetched again next time, rather than its messages being parked."""
    if not isinstance(exc, DBAPIError):
        return
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    if (
        exc.connection_invalidated
        or sqlstate.startswith("40")  # serialization failure, deadlock
        or sqlstate in ("55P03", "57P01")  # lock not available, server shutting down
        or (isinstance(exc, OperationalError) and "database is locked" in str(exc.orig))  # SQLite
    ):
        raise exc


def _kind(exc: Exception) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc).__name__}({type(exc.orig).__name__})"
    return type(exc).__name__


def _reason(exc: Exception) -> str:
    # The driver's own message names the value's column or constraint; SQLAlchemy's wrapper adds the
    # statement, which says nothing to an admin.
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return str(exc.orig)
    return f"{type(exc).__name__}: {exc}"


def _message_id(item: Incoming) -> str | None:
    return item.parsed.message_id if item.parsed else None


async def _store_failed(session: AsyncSession, item: Incoming, source: Source, error: str) -> IngestCounts:
    async with session.begin_nested():
        writer = RowWriter()
        messages.add_failed(writer, item, mailbox_id=source.mailbox_id, uidvalidity=source.uidvalidity, error=error)
        await writer.write(session)
    return IngestCounts(fetched=1, ingested=1, failed=1)


async def _store(
    session: AsyncSession,
    batch: Sequence[Incoming],
    *,
    source: Source,
    settings: Settings,
    router: routing.Router,
    suggester: deflection.Suggester | None,
) -> IngestCounts:
    counts = IngestCounts(fetched=len(batch))
    now = utcnow()
    writer = RowWriter()
    seen_sha, seen_ids = await repository.stored_keys(
        session,
        shas=[item.sha256 for item in batch],
        message_ids=[mid for item in batch if (mid := _message_id(item))],
    )
    parsed_items = [item.parsed for item in batch if item.parsed is not None]
    index = await threads.load_thread_index(
        session,
        parsed_items,
        writer=writer,
        prefix=settings.ingest.ticket_prefix,
        subject_since=now - timedelta(days=settings.ingest.subject_thread_days),
        repeat_since=now - timedelta(days=settings.tickets.repeat_contact_days),
        now=now,
    )
    acks = await replies.acknowledgements_for(
        session,
        parsed_items,
        mailbox_id=source.mailbox_id,
        own_addresses=source.own_addresses,
        settings=settings.tickets,
        now=now,
    )
    areas = await routing.areas_for_routing(session)
    # Cheap unless its interval has passed: picks up rules, thresholds and a newly activated model.
    await router.refresh(session)
    # Route every candidate in one call: a model predicts a batch far faster than one at a time.
    candidates = [p for p in parsed_items if lifecycle.may_open(p.auto)]
    decisions = dict(
        zip(
            map(id, candidates),
            router.decide(
                [
                    routing.RouteRequest(text=routing_text(p.subject, p.new_text), sender=p.from_address)
                    for p in candidates
                ]
            ),
            strict=True,
        )
    )
    for item in batch:
        mid = _message_id(item)
        if item.sha256 in seen_sha or (mid is not None and mid in seen_ids):
            counts.duplicates += 1
            continue
        seen_sha.add(item.sha256)
        if mid is not None:
            seen_ids.add(mid)
        counts.ingested += 1
        parsed = item.parsed
        if parsed is None:
            counts.failed += 1
            messages.add_failed(
                writer,
                item,
                mailbox_id=source.mailbox_id,
                uidvalidity=source.uidvalidity,
                error=item.error or "unparseable message",
            )
            log.warning("message_parse_failed", mailbox=source.mailbox_id, uid=item.uid)
            continue
        if parsed.auto is not None:
            counts.auto_replies += 1
        customer = threads.customer_for(index, parsed, now=now)
        placement = lifecycle.place(index, parsed, now=now, reopen_days=settings.tickets.reopen_days)
        ticket: TicketRow | None = None
        opened: routing.Route | None = None
        spoof = False
        if placement.ticket is not None and placement.how is not None:
            counts.threaded += 1
            ticket = placement.ticket
            lifecycle.add_message(index, ticket, parsed=parsed, how=placement.how, now=now)
        elif lifecycle.may_open(parsed.auto):
            opened = routing.route(areas, decisions[id(parsed)])
            spoof = parsed.trust.verdict == Verdict.FAILED
            if spoof:
                opened = routing.hold_failed(areas, opened)
            ticket = lifecycle.open_ticket(
                index,
                parsed=parsed,
                customer=customer,
                mailbox_id=source.mailbox_id,
                route=opened,
                own_addresses=source.own_addresses,
                previous=placement.previous,
                placement=placement,
                now=now,
            ).ticket
        messages.add_inbound(
            writer,
            item,
            parsed,
            mailbox_id=source.mailbox_id,
            uidvalidity=source.uidvalidity,
            customer=customer,
            ticket=ticket,
            now=now,
        )
        if opened is not None and ticket is not None:
            # After the customer's message: the acknowledgement answers it, and is stored after it.
            # A possible spoof is offered no help-centre link: whoever wrote it is not the customer.
            offered = (
                deflection.offer(
                    suggester,
                    text=routing_text(parsed.subject, parsed.new_text),
                    area=opened.area,
                    reference=ticket["reference"],
                )
                if suggester is not None and not spoof
                else []
            )
            if (
                replies.plan_acknowledgement(
                    acks, writer, ticket, parsed=parsed, area=opened.area, now=now, articles=offered
                )
                and offered
            ):
                deflection.record(writer, ticket, offered, area_id=opened.area.id, now=now)
    await lifecycle.write_batch(session, index)
    return counts
