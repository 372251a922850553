from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import unit_of_work
from app.inbox import repository
from app.inbox.ingest import IngestCounts, Source, ingest_batch
from app.inbox.models import Message
from app.inbox.parsing import prepare
from app.routing.service import Router
from app.runtime import Runtime
from app.tickets.models import Ticket, TicketEvent, TicketStatus
from tests.mailgen import bounce, mail

SOURCE = Source(mailbox_id=None, uidvalidity=None, own_addresses=frozenset({"support@routedesk.example"}))


async def ingest(runtime: Runtime, *raws: bytes, source: Source = SOURCE) -> IngestCounts:
    batch = [prepare(raw, None, max_attachment_bytes=1024 * 1024) for raw in raws]
    async with unit_of_work(runtime.sessionmaker) as session:
        return await ingest_batch(session, batch, source=source, settings=runtime.settings, router=Router())


async def tickets(session: AsyncSession) -> Sequence[Ticket]:
    return (await session.scalars(select(Ticket).order_by(Ticket.id))).all()


async def message_ticket(runtime: Runtime, message_id: str) -> int | None:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await session.scalar(select(Message.ticket_id).where(Message.message_id == message_id.strip("<>")))


async def count(runtime: Runtime, model: type) -> int:
    async with unit_of_work(runtime.sessionmaker) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_new_message_opens_ticket_in_triage_with_sla_due_times(runtime: Runtime) -> None:
    counts = await ingest(runtime, mail(message_id="<first@merchant.example>"))
    assert counts.as_dict() == {
        "fetched": 1,
        "ingested": 1,
        "duplicates": 0,
        "threaded": 0,
        "auto_replies": 0,
        "failed": 0,
    }
    async with unit_of_work(runtime.sessionmaker) as session:
        [ticket] = await tickets(session)
        area_name = (await session.execute(select(Ticket.area_id))).scalar_one()
        assert ticket.status == "open"
        assert ticket.routed_by == "fallback"
        assert area_name is not None
        assert ticket.first_response_due_at is not None and ticket.first_response_due_at > ticket.created_at
        assert ticket.reference.startswith("RD-")


async def test_reply_by_in_reply_to_joins_the_ticket(runtime: Runtime) -> None:
    await ingest(runtime, mail(message_id="<a1@merchant.example>"))
    counts = await ingest(
        runtime,
        mail(subject="Re: Payout missing", message_id="<a2@merchant.example>", in_reply_to="<a1@merchant.example>"),
    )
    assert counts.threaded == 1
    assert await count(runtime, Ticket) == 1
    assert await message_ticket(runtime, "a1@merchant.example") == await message_ticket(runtime, "a2@merchant.example")


async def test_reply_by_references_alone_joins_the_ticket(runtime: Runtime) -> None:
    await ingest(runtime, mail(message_id="<b1@merchant.example>"))
    await ingest(
        runtime,
        mail(
            subject="Something else entirely",
            message_id="<b2@merchant.example>",
            in_reply_to="<unknown@elsewhere.example>",
            references="<b1@merchant.example> <unknown@elsewhere.example>",
        ),
    )
    assert await count(runtime, Ticket) == 1


async def test_reply_to_an_outbound_message_joins_its_ticket(runtime: Runtime) -> None:
    await ingest(runtime, mail(message_id="<c1@merchant.example>"))
    async with unit_of_work(runtime.sessionmaker) as session:
        [ticket] = await tickets(session)
        session.add(
            Message(
                direction="outbound",
                message_id="our-reply-1@routedesk.example",
                raw_sha256="x" * 64,
                raw=b"",
                size=0,
                ticket_id=ticket.id,
            )
        )
    await ingest(
        runtime,
        mail(subject="Thanks", message_id="<c2@merchant.example>", in_reply_to="<our-reply-1@routedesk.example>"),
    )
    assert await count(runtime, Ticket) == 1


async def test_reply_in_the_same_batch_threads_into_the_ticket_it_opened(runtime: Runtime) -> None:
    counts = await ingest(
        runtime,
        mail(message_id="<d1@merchant.example>"),
        mail(subject="Re: Payout missing", message_id="<d2@merchant.example>", in_reply_to="<d1@merchant.example>"),
    )
    assert (counts.ingested, counts.threaded) == (2, 1)
    assert await count(runtime, Ticket) == 1


async def test_ticket_token_joins_when_the_sender_takes_part(runtime: Runtime) -> None:
    await ingest(runtime, mail(message_id="<e1@merchant.example>"))
    async with unit_of_work(runtime.sessionmaker) as session:
        [ticket] = await tickets(session)
    await ingest(runtime, mail(subject=f"More details [{ticket.reference}]", message_id="<e2@merchant.example>"))
    assert await count(runtime, Ticket) == 1


async def test_ticket_token_from_a_stranger_opens_a_new_ticket(runtime: Runtime) -> None:
    await ingest(runtime, mail(message_id="<f1@merchant.example>"))
    async with unit_of_work(runtime.sessionmaker) as session:
        [ticket] = await tickets(session)
    await ingest(
        runtime,
        mail(subject=f"About [{ticket.reference}]", sender="mallory@attacker.example", message_id="<f2@x.example>"),
    )
    assert await count(runtime, Ticket) == 2
    assert await message_ticket(runtime, "f2@x.example") != ticket.id


@pytest.mark.parametrize("prefix", ["Re:", "RE:", "AW:", "Fwd:", "Re: Re:", "WG:"])
async def test_reply_prefixes_are_ignored_when_comparing_subjects(runtime: Runtime, prefix: str) -> None:
    await ingest(runtime, mail(subject="Payout missing", message_id="<g1@merchant.example>"))
    await ingest(runtime, mail(subject=f"{prefix} Payout missing", message_id="<g2@merchant.example>"))
    assert await count(runtime, Ticket) == 1


async def test_same_subject_without_a_reply_prefix_opens_a_new_ticket(runtime: Runtime) -> None:
    await ingest(runtime, mail(subject="Refund", message_id="<h1@merchant.example>"))
    await ingest(runtime, mail(subject="Refund", message_id="<h2@merchant.example>"))
    assert await count(runtime, Ticket) == 2


async def test_subject_match_from_another_sender_opens_a_new_ticket(runtime: Runtime) -> None:
    await ingest(runtime, mail(subject="Payout missing", message_id="<i1@merchant.example>"))
    await ingest(runtime, mail(subject="Re: Payout missing", sender="bo@other.example", message_id="<i2@o.example>"))
    assert await count(runtime, Ticket) == 2


async def test_byte_identical_message_is_stored_once(runtime: Runtime) -> None:
    raw = mail(message_id="<j1@merchant.example>")
    first = await ingest(runtime, raw)
    second = await ingest(runtime, raw, raw)
    assert (first.ingested, second.ingested, second.duplicates) == (1, 0, 2)
    assert await count(runtime, Message) == 1


async def test_byte_identical_message_without_message_id_is_stored_once(runtime: Runtime) -> None:
    raw = mail().replace(b"Message-ID:", b"X-Old-Id:")
    await ingest(runtime, raw, raw)
    await ingest(runtime, raw)
    assert await count(runtime, Message) == 1


async def test_same_message_id_arriving_in_two_mailboxes_is_stored_once(runtime: Runtime) -> None:
    first = mail(message_id="<k1@merchant.example>", to="support@routedesk.example")
    second = mail(message_id="<k1@merchant.example>", to="billing@routedesk.example")
    assert first != second
    await ingest(runtime, first)
    counts = await ingest(runtime, second)
    assert counts.duplicates == 1
    assert await count(runtime, Message) == 1


async def test_auto_reply_is_stored_flagged_and_opens_no_ticket(runtime: Runtime) -> None:
    counts = await ingest(
        runtime, mail(subject="Out of office", headers={"Auto-Submitted": "auto-replied"}, message_id="<l1@m.example>")
    )
    assert (counts.ingested, counts.auto_replies) == (1, 1)
    assert await count(runtime, Ticket) == 0
    async with unit_of_work(runtime.sessionmaker) as session:
        stored = await session.scalar(select(Message))
        assert stored is not None and stored.auto == "auto_reply" and stored.ticket_id is None


async def test_auto_reply_to_a_ticket_is_recorded_without_reopening_it(runtime: Runtime) -> None:
    await ingest(runtime, mail(message_id="<m1@merchant.example>"))
    async with unit_of_work(runtime.sessionmaker) as session:
        [ticket] = await tickets(session)
        ticket.status = TicketStatus.PENDING
    await ingest(
        runtime,
        mail(
            subject="Automatic reply: Payout missing",
            in_reply_to="<m1@merchant.example>",
            headers={"X-Autoreply": "yes"},
            message_id="<m2@merchant.example>",
        ),
    )
    async with unit_of_work(runtime.sessionmaker) as session:
        [ticket] = await tickets(session)
        kinds = (await session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id))).all()
    assert ticket.status == "pending"
    assert "auto_reply" in kinds


async def test_bounce_of_our_own_mail_joins_its_ticket_and_opens_none(runtime: Runtime) -> None:
    await ingest(runtime, mail(message_id="<n1@merchant.example>"))
    async with unit_of_work(runtime.sessionmaker) as session:
        [ticket] = await tickets(session)
        session.add(
            Message(
                direction="outbound",
                message_id="out-7@routedesk.example",
                raw_sha256="y" * 64,
                raw=b"",
                size=0,
                ticket_id=ticket.id,
            )
        )
    counts = await ingest(runtime, bounce("<out-7@routedesk.example>"))
    assert counts.auto_replies == 1
    assert await count(runtime, Ticket) == 1
    async with unit_of_work(runtime.sessionmaker) as session:
        kinds = (await session.scalars(select(TicketEvent.kind))).all()
    assert "delivery_failed" in kinds


async def test_bounce_of_unknown_mail_opens_no_ticket(runtime: Runtime) -> None:
    counts = await ingest(runtime, bounce("<never-sent@routedesk.example>"))
    assert (counts.ingested, counts.auto_replies) == (1, 1)
    assert await count(runtime, Ticket) == 0


async def test_bulk_mail_opens_a_ticket_flagged_as_bulk(runtime: Runtime) -> None:
    await ingest(runtime, mail(headers={"Precedence": "bulk", "List-Id": "<news.merchant.example>"}))
    async with unit_of_work(runtime.sessionmaker) as session:
        stored = await session.scalar(select(Message))
    assert stored is not None and stored.auto == "bulk" and stored.ticket_id is not None


@pytest.mark.parametrize("raw", [b"", b"From: ana@merchant.example\r\nSubject: (no body)\r\n\r\n"])
async def test_an_empty_message_is_stored_as_empty_not_as_a_failure(runtime: Runtime, raw: bytes) -> None:
    counts = await ingest(runtime, raw)
    assert (counts.ingested, counts.failed) == (1, 0)
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await repository.messages(session, problems_only=True) == []
        [stored] = await repository.messages(session)
    assert stored.parse_status == "empty" and stored.raw == raw and stored.parse_error is None


async def test_customer_reply_reopens_a_solved_ticket(runtime: Runtime) -> None:
    await ingest(runtime, mail(message_id="<o1@merchant.example>"))
    async with unit_of_work(runtime.sessionmaker) as session:
        [ticket] = await tickets(session)
        ticket.status = TicketStatus.SOLVED
    await ingest(
        runtime,
        mail(subject="Re: Payout missing", in_reply_to="<o1@merchant.example>", message_id="<o2@merchant.example>"),
    )
    async with unit_of_work(runtime.sessionmaker) as session:
        [ticket] = await tickets(session)
    assert ticket.status == "open"


async def test_a_constraint_race_in_a_batch_costs_only_the_racing_message(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ingest(runtime, mail(message_id="<p1@merchant.example>"))

    # Another worker storing the same message between our dedupe read and our flush looks, to us,
    # exactly like a dedupe read that missed it.
    async def nothing_stored(*_args: object, **_kwargs: object) -> tuple[set[str], set[str]]:
        return set(), set()

    monkeypatch.setattr(repository, "stored_keys", nothing_stored)
    counts = await ingest(
        runtime,
        mail(message_id="<p0@merchant.example>", subject="Card declined"),
        mail(message_id="<p1@merchant.example>", to="other@routedesk.example"),
        mail(message_id="<p2@merchant.example>", subject="Invoice question"),
    )
    assert (counts.ingested, counts.duplicates, counts.failed) == (2, 1, 0)
    assert await count(runtime, Message) == 3
