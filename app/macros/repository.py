from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Subquery, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.inbox.models import Message
from app.macros.models import Macro, MacroUse
from app.routing.models import Area
from app.tickets.models import Ticket

# Keeps each IN list well under SQLite's and asyncpg's bound-parameter limits.
_CHUNK = 500


async def macro(session: AsyncSession, macro_id: int) -> Macro | None:
    return await session.get(Macro, macro_id)


async def macro_with_area_name(session: AsyncSession, macro_id: int) -> tuple[Macro, str | None] | None:
    row = (
        await session.execute(
            select(Macro, Area.name).outerjoin(Area, Area.id == Macro.area_id).where(Macro.id == macro_id)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def listing(
    session: AsyncSession, *, area_id: int | None, include_inactive: bool, offset: int, limit: int
) -> list[tuple[Macro, str | None]]:
    query = select(Macro, Area.name).outerjoin(Area, Area.id == Macro.area_id)
    if area_id is not None:
        query = query.where(Macro.area_id == area_id)
    if not include_inactive:
        query = query.where(Macro.active.is_(True))
    rows = await session.execute(query.order_by(Macro.id).offset(offset).limit(limit))
    return [(macro, name) for macro, name in rows]


async def area_name(session: AsyncSession, area_id: int) -> str | None:
    return await session.scalar(select(Area.name).where(Area.id == area_id))


UseStamp = tuple[int | None, int | None, int]


async def suggestion_versions(
    session: AsyncSession, *, use_window: int
) -> tuple[list[tuple[int, datetime, int | None]], UseStamp | None]:
    """What cached suggestion indexes are checked against, in one round trip: (id, updated_at, area_id) of
    every active macro, and the stamp of the window of recent uses; no stamp when no macro is active."""
    stamp = _use_window_stamp(use_window)
    rows = (
        await session.execute(
            select(Macro.id, Macro.updated_at, Macro.area_id, stamp.c.newest, stamp.c.oldest, stamp.c.uses)
            .join(stamp, true())
            .where(Macro.active.is_(True))
            .order_by(Macro.id)
        )
    ).all()
    if not rows:
        return [], None
    versions = [(macro_id, updated_at, area_id) for macro_id, updated_at, area_id, *_ in rows]
    _, _, _, newest, oldest, uses = rows[0]
    return versions, (newest, oldest, uses)


async def active_macro_texts(session: AsyncSession) -> list[tuple[int, datetime, int | None, str, str]]:
    """(id, updated_at, area_id, title, body) of every active macro, read from the database even when
    the session holds older copies of the rows."""
    rows = await session.execute(
        select(Macro.id, Macro.updated_at, Macro.area_id, Macro.title, Macro.body)
        .where(Macro.active.is_(True))
        .order_by(Macro.id)
    )
    return [(macro_id, updated_at, area_id, title, body) for macro_id, updated_at, area_id, title, body in rows]


def _use_window_stamp(limit: int) -> Subquery:
    """(newest id, oldest id, count) of the most recent `limit` uses.

    Use rows are only ever inserted (with growing ids) or deleted, so any change to the window changes
    this triple: an insert raises the newest id, a delete shrinks the count or slides the oldest id.
    """
    window = select(MacroUse.id).order_by(MacroUse.id.desc()).limit(limit).subquery()
    return select(
        func.max(window.c.id).label("newest"),
        func.min(window.c.id).label("oldest"),
        func.count().label("uses"),
    ).subquery()


async def recent_uses(session: AsyncSession, *, limit: int) -> list[tuple[int, int, int]]:
    """(id, macro_id, ticket_id) of the most recent `limit` uses, newest first."""
    rows = await session.execute(
        select(MacroUse.id, MacroUse.macro_id, MacroUse.ticket_id).order_by(MacroUse.id.desc()).limit(limit)
    )
    return [(use_id, macro_id, ticket_id) for use_id, macro_id, ticket_id in rows]


async def first_inbound_texts(session: AsyncSession, ticket_ids: Collection[int]) -> dict[int, tuple[str, str]]:
    """(subject, new_text) of each ticket's first inbound message; the ticket's subject when it has none."""
    ids = sorted(ticket_ids)
    texts: dict[int, tuple[str, str]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        first = (
            select(Message.ticket_id, func.min(Message.id).label("message_id"))
            .where(Message.ticket_id.in_(chunk), Message.direction == "inbound")
            .group_by(Message.ticket_id)
            .subquery()
        )
        rows = await session.execute(
            select(Ticket.id, Ticket.subject, Message.subject, Message.new_text)
            .outerjoin(first, first.c.ticket_id == Ticket.id)
            .outerjoin(Message, Message.id == first.c.message_id)
            .where(Ticket.id.in_(chunk))
        )
        for ticket_id, ticket_subject, message_subject, new_text in rows:
            subject = ticket_subject if message_subject is None else message_subject
            texts[ticket_id] = (subject, new_text or "")
    return texts
