"""Threading: which ticket a new message belongs to, read for a whole ingest batch at once."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import RowWriter, utcnow
from app.sla import service as sla
from app.tickets import repository
from app.tickets.models import Customer, CustomerRow, Participant, ParticipantRow, TicketRow, TicketStatus
from mailtext.headers import normalize_subject
from mailtext.message import ParsedMessage
from mailtext.trust import Verdict

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


def without_tokens(subject: str, prefix: str) -> str:
    """A new ticket's subject: the message's, without ticket tokens of our prefix. Those name other
    tickets (a stranger's copy of someone's reply, an answer to a ticket solved too long ago), and left
    in, every mail about the new ticket would carry two references."""
    stripped, found = token_pattern(prefix).subn(" ", subject)
    return " ".join(stripped.split()) if found else subject


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
    creates alike; `writer`, the batch's, stores the new rows and the changes in its transaction."""

    prefix: str
    writer: RowWriter
    by_message_id: dict[str, TicketRow] = field(default_factory=dict)
    by_reference: dict[str, TicketRow] = field(default_factory=dict)
    participants: dict[str, set[str]] = field(default_factory=dict)  # by ticket reference
    by_subject: dict[tuple[str, str], TicketRow] = field(default_factory=dict)
    customers: dict[str, CustomerRow] = field(default_factory=dict)
    # The SLA clocks of the batch's tickets, written with its rows (see lifecycle._record).
    sla: sla.Ledger | None = None
    # Each known customer's latest ticket per area solved within the repeat-contact window: a new
    # ticket of theirs in that area is a repeat contact of it (lifecycle.open_ticket). (id, reference)
    recently_solved: dict[tuple[int, int], tuple[int, str]] = field(default_factory=dict)
    # Possible-spoof tickets whose claimed ticket the batch itself opened (no id before it is written):
    # linked by `lifecycle.write_batch` once both have their ids. (spoof, claimed)
    spoof_links: list[tuple[TicketRow, TicketRow]] = field(default_factory=list)


async def load_thread_index(
    session: AsyncSession,
    messages: Sequence[ParsedMessage],
    *,
    writer: RowWriter,
    prefix: str,
    subject_since: datetime,
    repeat_since: datetime | None = None,
    now: datetime | None = None,
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
    index = ThreadIndex(prefix=prefix, writer=writer)
    by_id: dict[int, TicketRow] = {}

    def one(ticket: TicketRow) -> TicketRow:
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
        customer_id = ticket["customer_id"]
        if isinstance(customer_id, int):  # a stored ticket's: an id or None
            index.by_subject[(customers[customer_id], ticket["subject_key"])] = one(ticket)
    for ticket in by_id.values():
        index.participants[ticket["reference"]] = set()
    for ticket_id, email in await repository.participants(session, by_id):
        index.participants[by_id[ticket_id]["reference"]].add(email)
    index.sla = await sla.ledger(session, by_id, writer=writer)
    if repeat_since is not None:
        index.recently_solved = await repository.recently_solved(
            session, customers, since=repeat_since, until=now or utcnow()
        )
    return index


def find_ticket(index: ThreadIndex, parsed: ParsedMessage) -> tuple[TicketRow | None, str | None]:
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
        if ticket is not None and ticket["status"] != TicketStatus.SOLVED:
            return ticket, "subject"
    return None, None


def customer_for(index: ThreadIndex, parsed: ParsedMessage, *, now: datetime) -> CustomerRow | None:
    email = parsed.from_address
    if not email:
        return None
    customer = index.customers.get(email)
    if customer is None:
        customer = index.writer.add(CUSTOMER, CustomerRow(email=email, name=parsed.from_name, created_at=now))
        index.customers[email] = customer
    elif not customer["name"] and parsed.from_name and parsed.trust.verdict != Verdict.FAILED:
        # (a sender who failed authentication does not name the customer whose address it claims)
        customer["name"] = parsed.from_name
        index.writer.changed(CUSTOMER, customer, "name")
    return customer


def add_participants(index: ThreadIndex, ticket: TicketRow, emails: Iterable[str | None]) -> None:
    known = index.participants.setdefault(ticket["reference"], set())
    for email in emails:
        if email and email not in known:
            known.add(email)
            index.writer.add(PARTICIPANT, ParticipantRow(ticket_id=ticket, email=email))


CUSTOMER = Customer.__table__
PARTICIPANT = Participant.__table__
