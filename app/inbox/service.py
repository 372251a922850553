from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import Row, RowWriter, utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.inbox import repository
from app.inbox.models import Attachment, Mailbox, MailboxState, Message

# Re-exported: the poller and tests call them as inbox.prepare and inbox.Incoming.
from app.inbox.parsing import Incoming as Incoming
from app.inbox.parsing import prepare as prepare
from app.inbox.schemas import MailboxCreate, MailboxRead, MailboxUpdate
from app.replies import service as replies
from app.replies.models import Outbox
from app.routing import service as routing
from app.routing.models import TRIAGE
from app.secrets import SecretBox
from app.tickets import service as tickets
from mailtext.message import ParsedMessage

if TYPE_CHECKING:
    from app.mail.imap import ImapEndpoint

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
) -> IngestCounts:
    """Store a batch of messages in the caller's transaction.

    The fast path threads the whole batch and writes it with one statement per table. Should that
    fail (another worker stored the same Message-ID a moment ago, a customer row raced, the database
    refused some value), it is rolled back and the batch goes again one message per savepoint, so one
    message can only ever cost itself: a message that fails alone is kept raw as a problem message,
    and the rest of the batch commits."""
    try:
        async with session.begin_nested():
            return await _store(session, batch, source=source, settings=settings, router=router)
    except Exception as exc:
        _reraise_if_transient(exc)
        log.info("ingest_batch_retry_one_by_one", mailbox=source.mailbox_id, size=len(batch), error=_kind(exc))
    counts = IngestCounts()
    for item in batch:
        try:
            async with session.begin_nested():
                counts.add(await _store(session, [item], source=source, settings=settings, router=router))
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
        writer.add(MESSAGE, _failed_row(item, source, error))
        await writer.write(session)
    return IngestCounts(fetched=1, ingested=1, failed=1)


MESSAGE = Message.__table__
ATTACHMENT = Attachment.__table__
OUTBOX = Outbox.__table__


def _failed_row(item: Incoming, source: Source, error: str) -> Row:
    return {
        "direction": "inbound",
        "mailbox_id": source.mailbox_id,
        "uidvalidity": source.uidvalidity,
        "uid": item.uid,
        "raw_sha256": item.sha256,
        "raw": item.raw,
        "size": item.size,
        "parse_status": "failed",
        "parse_error": error[:4000],
        "created_at": utcnow(),
    }


async def _store(
    session: AsyncSession,
    batch: Sequence[Incoming],
    *,
    source: Source,
    settings: Settings,
    router: routing.Router,
) -> IngestCounts:
    counts = IngestCounts(fetched=len(batch))
    now = utcnow()
    reopen_until = now - timedelta(days=settings.tickets.reopen_days)
    seen_sha, seen_ids = await repository.stored_keys(
        session,
        shas=[item.sha256 for item in batch],
        message_ids=[mid for item in batch if (mid := _message_id(item))],
    )
    parsed_items = [item.parsed for item in batch if item.parsed is not None]
    index = await tickets.load_thread_index(
        session,
        parsed_items,
        prefix=settings.ingest.ticket_prefix,
        subject_since=now - timedelta(days=settings.ingest.subject_thread_days),
    )
    writer = index.writer
    mailbox = await session.get(Mailbox, source.mailbox_id) if source.mailbox_id is not None else None
    acks = await replies.acknowledgements_allowed(
        session,
        sorted({p.from_address for p in parsed_items if p.from_address and p.auto is None}),
        per_hour=settings.tickets.acknowledgements_per_hour,
        now=now,
    )
    areas = await routing.areas_for_routing(session)
    # Cheap unless its interval has passed: picks up rules, thresholds and a newly activated model.
    await router.refresh(session)
    # Route every candidate in one call: a model predicts a batch far faster than one at a time.
    candidates = [p for p in parsed_items if p.auto in (None, "bulk")]
    decisions = dict(
        zip(
            map(id, candidates),
            router.decide(
                [routing.RouteRequest(text=p.subject + "\n" + p.new_text, sender=p.from_address) for p in candidates]
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
            writer.add(MESSAGE, _failed_row(item, source, item.error or "unparseable message"))
            log.warning("message_parse_failed", mailbox=source.mailbox_id, uid=item.uid)
            continue
        if parsed.auto is not None:
            counts.auto_replies += 1
        customer = tickets.customer_for(index, parsed, now=now)
        ticket, how = tickets.find_ticket(index, parsed)
        previous = None
        if (
            ticket is not None
            and parsed.auto is None
            and ticket["status"] == "solved"
            and ticket["solved_at"] is not None
            and ticket["solved_at"] < reopen_until
        ):
            # Too long after it was solved to reopen: a new ticket that points back at the old one.
            previous, ticket = ticket, None
        message = writer.add(MESSAGE, _message_row(item, parsed, source, now, customer=customer))
        for attachment in parsed.attachments:
            writer.add(
                ATTACHMENT,
                {
                    "message_id": message,
                    "filename": attachment.filename,
                    "content_type": attachment.content_type,
                    "size": attachment.size,
                    "content_id": attachment.content_id,
                    "inline": attachment.inline,
                    "content": attachment.content,
                },
            )
        if ticket is not None and how is not None:
            counts.threaded += 1
            tickets.add_inbound(index, ticket, parsed=parsed, how=how, now=now)
        elif parsed.auto in (None, "bulk"):
            # Auto-replies and bounces never open a ticket: answering them is how mail loops start.
            decision = decisions[id(parsed)]
            area = areas.get(decision.area) or areas[TRIAGE]
            ticket = tickets.open_ticket(
                index,
                parsed=parsed,
                customer=customer,
                mailbox_id=source.mailbox_id,
                area=area,
                routed_by=decision.routed_by if area.name == decision.area else "fallback",
                probability=decision.probability,
                model_version=decision.model_version,
                own_addresses=source.own_addresses,
                previous=previous,
                now=now,
            )
            sender = parsed.from_address
            skipped = replies.acknowledgement_skip_reason(
                sender, auto=parsed.auto, remaining=acks.get(sender or "", 0), own=source.own_addresses
            )
            if area.acknowledge and mailbox is not None and mailbox.address and skipped is not None:
                replies.note_acknowledgement_skipped(writer, ticket, skipped, now=now)
            elif area.acknowledge and mailbox is not None and mailbox.address and sender and skipped is None:
                acks[sender] -= 1
                ack, outbox = replies.outbound_rows(
                    subject=ticket["subject"],
                    reference=ticket["reference"],
                    kind="acknowledgement",
                    body=replies.acknowledgement_body(
                        name=parsed.from_name, reference=ticket["reference"], team=settings.tickets.team_name
                    ),
                    mailbox=mailbox,
                    to=[sender],
                    now=now,
                    # The thread so far is this one message: the acknowledgement answers it.
                    in_reply_to=mid,
                    references=[mid] if mid else [],
                )
                ack = writer.add(MESSAGE, {**ack, "ticket_id": ticket})
                writer.add(OUTBOX, {**outbox, "ticket_id": ticket, "message_id": ack})
        message["ticket_id"] = ticket
        if mid is not None and ticket is not None:
            index.by_message_id[mid] = ticket
    await writer.write(session)
    return counts


def _message_row(item: Incoming, parsed: ParsedMessage, source: Source, now: datetime, *, customer: Row | None) -> Row:
    defects = list(parsed.defects)
    if item.truncated:
        defects.insert(0, f"message of {item.size} bytes truncated to the size limit")
    return {
        "direction": "inbound",
        "mailbox_id": source.mailbox_id,
        "uidvalidity": source.uidvalidity,
        "uid": item.uid,
        "message_id": parsed.message_id,
        "raw_sha256": item.sha256,
        "raw": item.raw,
        "size": item.size,
        "parse_status": "too_large" if item.truncated else "ok",
        "defects": "\n".join(defects) or None,
        "subject": parsed.subject,
        "from_address": parsed.from_address,
        "from_name": parsed.from_name,
        "to_addresses": ", ".join(parsed.to),
        "cc_addresses": ", ".join(parsed.cc),
        "sent_at": parsed.date,
        "in_reply_to": " ".join(parsed.in_reply_to) or None,
        "references": " ".join(parsed.references) or None,
        "body_text": parsed.text,
        "body_html": parsed.html,
        "new_text": parsed.new_text,
        "headers_text": parsed.headers_text,
        "auto": parsed.auto,
        "created_at": now,
        "customer_id": customer,
        "ticket_id": None,
    }


async def add_mailbox(
    session: AsyncSession,
    *,
    name: str,
    endpoint: ImapEndpoint,
    secrets: SecretBox,
    address: str | None = None,
) -> Mailbox:
    """A mailbox from an IMAP URL (the CLI's form): the same checks and storage as the API's."""
    try:
        data = MailboxCreate(
            name=name,
            imap_host=endpoint.host,
            imap_port=endpoint.port,
            imap_security=endpoint.security,
            imap_username=endpoint.username,
            imap_password=endpoint.password,
            folder=endpoint.folder,
            address=address or (endpoint.username if "@" in endpoint.username else None),
        )
    except ValidationError as exc:
        # Never echo the input: it holds the password.
        fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors())
        raise InvalidInput(f"invalid mailbox settings: {fields}") from None
    return await create_mailbox(session, data, secrets=secrets)


async def remove_mailbox(session: AsyncSession, name: str) -> None:
    mailbox = await repository.mailbox_by_name(session, name)
    if mailbox is None:
        raise NotFound(f"no mailbox named {name!r}")
    await session.delete(mailbox)
    await session.flush()


async def create_mailbox(session: AsyncSession, data: MailboxCreate, *, secrets: SecretBox) -> Mailbox:
    if await repository.mailbox_by_name(session, data.name) is not None:
        raise Conflict(f"a mailbox named {data.name!r} exists already")
    fields = data.model_dump(exclude={"imap_password", "smtp_password", "smtp_security"}, exclude_none=True)
    mailbox = Mailbox(
        **fields,
        imap_password_encrypted=secrets.encrypt(data.imap_password.get_secret_value()),
        smtp_security=data.smtp_security or "starttls",
        smtp_password_encrypted=(
            secrets.encrypt(data.smtp_password.get_secret_value()) if data.smtp_password else None
        ),
    )
    session.add(mailbox)
    await session.flush()
    session.add(MailboxState(mailbox_id=mailbox.id))
    await session.flush()
    return mailbox


async def update_mailbox(
    session: AsyncSession, mailbox: Mailbox, data: MailboxUpdate, *, secrets: SecretBox
) -> Mailbox:
    changes = data.model_dump(exclude_unset=True, exclude={"imap_password", "smtp_password"})
    for key, value in changes.items():
        if value is None and key in (
            "imap_host",
            "imap_port",
            "imap_security",
            "imap_username",
            "folder",
            "smtp_security",
            "enabled",
        ):
            raise InvalidInput(f"{key} cannot be null")
        setattr(mailbox, key, value)
    if data.imap_password is not None:
        mailbox.imap_password_encrypted = secrets.encrypt(data.imap_password.get_secret_value())
    if "smtp_password" in data.model_fields_set:
        mailbox.smtp_password_encrypted = (
            secrets.encrypt(data.smtp_password.get_secret_value()) if data.smtp_password else None
        )
    await session.flush()
    return mailbox


async def get_mailbox(session: AsyncSession, mailbox_id: int) -> Mailbox:
    mailbox = await session.get(Mailbox, mailbox_id)
    if mailbox is None:
        raise NotFound(f"no mailbox {mailbox_id}")
    return mailbox


async def mailbox_read(session: AsyncSession, mailbox: Mailbox) -> MailboxRead:
    state = await repository.state(session, mailbox.id)
    return MailboxRead(
        id=mailbox.id,
        name=mailbox.name,
        imap_host=mailbox.imap_host,
        imap_port=mailbox.imap_port,
        imap_security=mailbox.imap_security,
        imap_username=mailbox.imap_username,
        folder=mailbox.folder,
        address=mailbox.address,
        from_name=mailbox.from_name,
        smtp_host=mailbox.smtp_host,
        smtp_port=mailbox.smtp_port,
        smtp_security=mailbox.smtp_security,
        smtp_username=mailbox.smtp_username,
        smtp_password_set=mailbox.smtp_password_encrypted is not None,
        enabled=mailbox.enabled,
        uidvalidity=state.uidvalidity if state else None,
        last_uid=state.last_uid if state else 0,
        last_poll_at=state.last_poll_at if state else None,
        last_error=state.last_error if state else None,
    )


async def list_mailboxes(session: AsyncSession) -> list[MailboxRead]:
    return [await mailbox_read(session, m) for m in await repository.mailboxes(session)]


async def problem_messages(session: AsyncSession, *, offset: int, limit: int) -> list[Message]:
    return list(await repository.messages(session, problems_only=True, limit=limit, offset=offset))


async def raw_message(session: AsyncSession, message_id: int) -> Message:
    message = await repository.message(session, message_id)
    if message is None:
        raise NotFound(f"no message {message_id}")
    return message
