from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.inbox.models import Message
from app.tickets.models import Customer, Participant, Ticket


async def customers_by_email(session: AsyncSession, emails: Collection[str]) -> dict[str, Customer]:
    if not emails:
        return {}
    rows = await session.scalars(select(Customer).where(Customer.email.in_(emails)))
    return {customer.email: customer for customer in rows}


async def tickets_by_message_id(session: AsyncSession, message_ids: Collection[str]) -> dict[str, Ticket]:
    """Stored messages (inbound or outbound) with these Message-IDs, mapped to their ticket."""
    if not message_ids:
        return {}
    rows = await session.execute(
        select(Message.message_id, Ticket)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(Message.message_id.in_(message_ids))
    )
    return {message_id: ticket for message_id, ticket in rows if message_id is not None}


async def tickets_by_reference(session: AsyncSession, references: Collection[str]) -> dict[str, Ticket]:
    if not references:
        return {}
    rows = await session.scalars(select(Ticket).where(Ticket.reference.in_(references)))
    return {ticket.reference: ticket for ticket in rows}


async def participants(session: AsyncSession, ticket_ids: Collection[int]) -> set[tuple[int, str]]:
    if not ticket_ids:
        return set()
    rows = await session.execute(
        select(Participant.ticket_id, Participant.email).where(Participant.ticket_id.in_(ticket_ids))
    )
    return {(ticket_id, email) for ticket_id, email in rows}


async def open_tickets_by_subject(
    session: AsyncSession, customer_ids: Collection[int], subject_keys: Collection[str], *, since: datetime
) -> Sequence[Ticket]:
    if not customer_ids or not subject_keys:
        return []
    rows = await session.scalars(
        select(Ticket)
        .where(
            Ticket.customer_id.in_(customer_ids),
            Ticket.subject_key.in_(subject_keys),
            Ticket.status != "solved",
            Ticket.updated_at >= since,
        )
        .order_by(Ticket.updated_at)
    )
    return rows.all()


def urgency() -> Any:
    """The ticket's next SLA deadline: first response until answered, then resolution."""
    return case(
        (Ticket.first_responded_at.is_(None), Ticket.first_response_due_at), else_=Ticket.resolution_due_at
    )


async def next_claimable(session: AsyncSession, area_id: int) -> int | None:
    # FOR UPDATE SKIP LOCKED on PostgreSQL: concurrent claimers each lock a different row and never wait.
    # SQLite ignores it; there BEGIN IMMEDIATE already serialises writers.
    return await session.scalar(
        select(Ticket.id)
        .where(Ticket.area_id == area_id, Ticket.status == "open", Ticket.assignee_id.is_(None))
        .order_by(urgency().asc().nulls_last(), Ticket.created_at, Ticket.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


async def assign_if_unassigned(session: AsyncSession, ticket_id: int, user_id: int, now: datetime) -> bool:
    result = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.assignee_id.is_(None))
        .values(assignee_id=user_id, claimed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def ticket(session: AsyncSession, ticket_id: int, *, for_update: bool = False) -> Ticket | None:
    query = select(Ticket).where(Ticket.id == ticket_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)
