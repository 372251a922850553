from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.replies.models import Outbox


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


async def claim_due(
    session: AsyncSession, *, owner: str, now: datetime, lease_until: datetime, limit: int
) -> Sequence[Outbox]:
    """Rows due now: queued ones, and 'sending' ones whose sender died before it could mark them."""
    ids = (
        await session.scalars(
            select(Outbox.id)
            .where(Outbox.status.in_(("queued", "sending")), Outbox.next_attempt_at <= now)
            .order_by(Outbox.next_attempt_at, Outbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not ids:
        return []
    await session.execute(
        update(Outbox)
        .where(Outbox.id.in_(ids), or_(Outbox.status == "queued", Outbox.status == "sending"))
        .values(status="sending", owner=owner, next_attempt_at=lease_until, attempts=Outbox.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return (
        await session.scalars(
            select(Outbox).where(Outbox.id.in_(ids), Outbox.owner == owner).execution_options(populate_existing=True)
        )
    ).all()


async def outbox_row(session: AsyncSession, outbox_id: int) -> Outbox | None:
    return await session.get(Outbox, outbox_id, populate_existing=True)


async def for_ticket(session: AsyncSession, ticket_id: int) -> Sequence[Outbox]:
    return (await session.scalars(select(Outbox).where(Outbox.ticket_id == ticket_id).order_by(Outbox.id))).all()
