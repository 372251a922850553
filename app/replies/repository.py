from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.replies.models import Outbox, OutboxStatus


async def acknowledgements_since(
    session: AsyncSession, recipients: Collection[str], *, since: datetime
) -> dict[str, int]:
    if not recipients:
        return {}
    rows = await session.execute(
        select(Outbox.rcpt_to, func.count(Outbox.id))
        .where(Outbox.kind == "acknowledgement", Outbox.rcpt_to.in_(recipients), Outbox.created_at >= since)
        .group_by(Outbox.rcpt_to)
    )
    return {rcpt: int(n) for rcpt, n in rows}


@dataclass(frozen=True, slots=True)
class Exhausted:
    """A due row that had its last attempt: failed at claim instead of sent once more."""

    id: int
    ticket_id: int | None
    attempts: int
    error: str


@dataclass(frozen=True, slots=True)
class Claim:
    rows: Sequence[Outbox]
    exhausted: Sequence[Exhausted]


async def claim_due(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    max_attempts: int,
) -> Claim:
    """Rows due now: queued ones, and 'sending' ones whose sender died before it could mark them.
    Attempts are counted here, at claim: a row that already had max_attempts (say its sender was
    killed during each) is marked failed rather than claimed again, so no row is retried forever."""
    due = (
        await session.execute(
            select(Outbox.id, Outbox.ticket_id, Outbox.attempts, Outbox.status, Outbox.last_error)
            .where(Outbox.status.in_((OutboxStatus.QUEUED, OutboxStatus.SENDING)), Outbox.next_attempt_at <= now)
            .order_by(Outbox.next_attempt_at, Outbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    exhausted = []
    for row in due:
        if row.attempts < max_attempts:
            continue
        died = "; the sender of the last one stopped before it finished" if row.status == OutboxStatus.SENDING else ""
        last = f" (last error: {row.last_error})" if row.last_error else ""
        error = f"gave up after {row.attempts} attempts{died}{last}"[:2000]
        exhausted.append(Exhausted(id=row.id, ticket_id=row.ticket_id, attempts=row.attempts, error=error))
        await session.execute(
            update(Outbox)
            .where(Outbox.id == row.id)
            .values(status=OutboxStatus.FAILED, owner=owner, last_error=error)
            .execution_options(synchronize_session=False)
        )
    ids = [row.id for row in due if row.attempts < max_attempts]
    if not ids:
        return Claim(rows=[], exhausted=exhausted)
    await session.execute(
        update(Outbox)
        .where(Outbox.id.in_(ids), or_(Outbox.status == OutboxStatus.QUEUED, Outbox.status == OutboxStatus.SENDING))
        .values(status=OutboxStatus.SENDING, owner=owner, next_attempt_at=lease_until, attempts=Outbox.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    rows = (
        await session.scalars(
            select(Outbox)
            .where(Outbox.id.in_(ids), Outbox.owner == owner)
            .order_by(Outbox.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    return Claim(rows=rows, exhausted=exhausted)


async def renew_leases(session: AsyncSession, ids: Collection[int], *, owner: str, lease_until: datetime) -> int:
    """Extend the lease of the rows this sender still holds (the heartbeat of a live sender). A row
    another sender took over, or one already marked, is left alone. Returns how many were renewed."""
    if not ids:
        return 0
    result = await session.execute(
        update(Outbox)
        .where(Outbox.id.in_(list(ids)), Outbox.owner == owner, Outbox.status == OutboxStatus.SENDING)
        .values(next_attempt_at=lease_until)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def outbox_row(session: AsyncSession, outbox_id: int) -> Outbox | None:
    return await session.get(Outbox, outbox_id, populate_existing=True)


async def for_ticket(session: AsyncSession, ticket_id: int) -> Sequence[Outbox]:
    return (await session.scalars(select(Outbox).where(Outbox.ticket_id == ticket_id).order_by(Outbox.id))).all()


async def rows(session: AsyncSession, *, status: OutboxStatus | None, limit: int, offset: int = 0) -> Sequence[Outbox]:
    query = select(Outbox).order_by(Outbox.id).limit(limit).offset(offset)
    if status is not None:
        query = query.where(Outbox.status == status)
    return (await session.scalars(query)).all()


async def counts_by_status(session: AsyncSession, statuses: Collection[OutboxStatus]) -> dict[str, int]:
    query = select(Outbox.status, func.count(Outbox.id)).where(Outbox.status.in_(statuses)).group_by(Outbox.status)
    return {str(status): int(n) for status, n in (await session.execute(query)).all()}


async def requeue_failed(session: AsyncSession, ids: Collection[int] | None, *, now: datetime) -> list[int]:
    """Failed rows (those of `ids`, or every one) back to queued, due now, with their attempts and error
    reset. Only a row still failed is touched: one a sender took meanwhile is left alone. Returns the ids."""
    query = update(Outbox).where(Outbox.status == OutboxStatus.FAILED)
    if ids is not None:
        query = query.where(Outbox.id.in_(list(ids)))
    result = await session.execute(
        query.values(status=OutboxStatus.QUEUED, attempts=0, last_error=None, owner=None, next_attempt_at=now)
        .returning(Outbox.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars().all())
