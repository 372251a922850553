from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.inbox.models import Mailbox, MailboxState, Message


async def stored_keys(
    session: AsyncSession, *, shas: Collection[str], message_ids: Collection[str]
) -> tuple[set[str], set[str]]:
    """Which of these raw digests and Message-IDs are stored already."""
    if not shas and not message_ids:
        return set(), set()
    rows = await session.execute(
        select(Message.raw_sha256, Message.message_id).where(
            or_(Message.raw_sha256.in_(shas), Message.message_id.in_(message_ids))
        )
    )
    seen_sha: set[str] = set()
    seen_ids: set[str] = set()
    for sha, message_id in rows:
        seen_sha.add(sha)
        if message_id is not None:
            seen_ids.add(message_id)
    return seen_sha, seen_ids


async def is_stored(session: AsyncSession, *, sha256: str, message_id: str | None) -> bool:
    condition = Message.raw_sha256 == sha256
    if message_id is not None:
        condition = or_(condition, Message.message_id == message_id)
    return (await session.scalar(select(Message.id).where(condition).limit(1))) is not None


async def mailbox_by_name(session: AsyncSession, name: str) -> Mailbox | None:
    return await session.scalar(select(Mailbox).where(Mailbox.name == name))


async def mailboxes(session: AsyncSession, *, enabled_only: bool = False) -> Sequence[Mailbox]:
    query = select(Mailbox).order_by(Mailbox.id)
    if enabled_only:
        query = query.where(Mailbox.enabled.is_(True))
    return (await session.scalars(query)).all()


async def state(session: AsyncSession, mailbox_id: int) -> MailboxState | None:
    return await session.get(MailboxState, mailbox_id, populate_existing=True)


async def take_lease(session: AsyncSession, mailbox_id: int, *, owner: str, now: datetime, until: datetime) -> bool:
    """One atomic UPDATE: succeeds for the holder, or for anyone once the lease has run out."""
    result = await session.execute(
        update(MailboxState)
        .where(
            MailboxState.mailbox_id == mailbox_id,
            or_(
                MailboxState.lease_owner.is_(None),
                MailboxState.lease_owner == owner,
                MailboxState.lease_expires_at < now,
            ),
        )
        .values(lease_owner=owner, lease_expires_at=until)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release_lease(session: AsyncSession, mailbox_id: int, *, owner: str) -> None:
    await session.execute(
        update(MailboxState)
        .where(MailboxState.mailbox_id == mailbox_id, MailboxState.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


async def advance_checkpoint(
    session: AsyncSession,
    mailbox_id: int,
    *,
    owner: str,
    uidvalidity: int,
    last_uid: int,
    now: datetime,
    lease_until: datetime,
) -> bool:
    """Move the checkpoint in the caller's transaction, only while the lease is still ours: a worker
    that stalled past its lease must not commit over the one that took over."""
    result = await session.execute(
        update(MailboxState)
        .where(MailboxState.mailbox_id == mailbox_id, MailboxState.lease_owner == owner)
        .values(
            uidvalidity=uidvalidity,
            last_uid=last_uid,
            last_poll_at=now,
            lease_expires_at=lease_until,
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def record_error(session: AsyncSession, mailbox_id: int, *, error: str, now: datetime) -> None:
    await session.execute(
        update(MailboxState)
        .where(MailboxState.mailbox_id == mailbox_id)
        .values(last_error=error[:2000], last_error_at=now)
        .execution_options(synchronize_session=False)
    )


async def messages(
    session: AsyncSession, *, problems_only: bool = False, limit: int = 50, offset: int = 0
) -> Sequence[Message]:
    query = select(Message).order_by(Message.id.desc()).offset(offset).limit(limit)
    if problems_only:
        # An empty message is no problem: it was read whole, and there was nothing in it.
        query = query.where(Message.parse_status.not_in(("ok", "empty")))
    return (await session.scalars(query)).all()


async def message(session: AsyncSession, message_id: int) -> Message | None:
    return await session.get(Message, message_id)
