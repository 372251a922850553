"""Every query of the csat domain: surveys, ratings, denominators, and the figures read from them (and
from the tickets they are about)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, distinct, exists, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.csat.models import CsatSurvey, Denominator, Rating, SurveyStatus
from app.routing.models import Area
from app.sla.models import Priority
from app.tickets.models import Ticket, TicketStatus
from app.users.models import User


async def due_tickets(
    session: AsyncSession, *, area_id: int, solved_from: datetime, solved_until: datetime, limit: int
) -> list[tuple[int, datetime]]:
    """Tickets of an area solved between the two times and still solved, whose current cycle (their
    `solved_at`) has no survey row yet: (id, solved_at), oldest first."""
    surveyed = exists().where(CsatSurvey.ticket_id == Ticket.id, CsatSurvey.solved_at == Ticket.solved_at)
    rows = await session.execute(
        select(Ticket.id, Ticket.solved_at)
        .where(
            Ticket.area_id == area_id,
            Ticket.status == TicketStatus.SOLVED,
            Ticket.solved_at >= solved_from,
            Ticket.solved_at <= solved_until,
            ~surveyed,
        )
        .order_by(Ticket.solved_at, Ticket.id)
        .limit(limit)
    )
    return [(ticket_id, solved_at) for ticket_id, solved_at in rows if solved_at is not None]


async def next_cycle(session: AsyncSession, ticket_id: int) -> int:
    found = await session.scalar(select(func.max(CsatSurvey.cycle)).where(CsatSurvey.ticket_id == ticket_id))
    return int(found or 0) + 1


async def insert_survey(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """The new survey row's id, or None when the cycle has its row already: written by another
    scheduler meanwhile (on PostgreSQL this waits for that one's transaction, then inserts nothing)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(CsatSurvey).values(**values).on_conflict_do_nothing().returning(CsatSurvey.id)
    found = await session.scalar(statement)
    return int(found) if found is not None else None


async def surveyed_since(session: AsyncSession, customer_ids: Collection[int], *, since: datetime) -> set[int]:
    """Of these customers, those sent a survey since `since`."""
    if not customer_ids:
        return set()
    rows = await session.scalars(
        select(CsatSurvey.customer_id)
        .distinct()
        .where(
            CsatSurvey.customer_id.in_(customer_ids),
            CsatSurvey.status == SurveyStatus.SENT,
            CsatSurvey.sent_at >= since,
        )
    )
    return {int(c) for c in rows if c is not None}


async def survey(session: AsyncSession, ticket_id: int, cycle: int, *, for_update: bool = False) -> CsatSurvey | None:
    statement = select(CsatSurvey).where(CsatSurvey.ticket_id == ticket_id, CsatSurvey.cycle == cycle)
    if for_update:
        statement = statement.with_for_update()
    found: CsatSurvey | None = await session.scalar(statement)
    return found


async def surveys_of(session: AsyncSession, ticket_id: int) -> Sequence[CsatSurvey]:
    rows = await session.scalars(select(CsatSurvey).where(CsatSurvey.ticket_id == ticket_id).order_by(CsatSurvey.cycle))
    return rows.all()


async def ratings_of(session: AsyncSession, ticket_ids: Collection[int]) -> dict[int, Rating]:
    """Each rated ticket's rating of its latest rated cycle, in one query (a ticket rated after a reopen
    and a new solve is shown with what the customer said last)."""
    if not ticket_ids:
        return {}
    rows = await session.execute(
        select(CsatSurvey.ticket_id, CsatSurvey.rating)
        .where(CsatSurvey.ticket_id.in_(ticket_ids), CsatSurvey.rating.is_not(None))
        .order_by(CsatSurvey.ticket_id, CsatSurvey.cycle)
    )
    return {ticket_id: rating for ticket_id, rating in rows if rating is not None}


# --- Figures ----------------------------------------------------------------------------------------

RatedArea = aliased(Area)
RatedUser = aliased(User)
SentArea = aliased(Area)
SentUser = aliased(User)
TicketArea = aliased(Area)
TicketUser = aliased(User)


def _filtered(
    statement: Any,
    *,
    area: Any,
    user: Any,
    area_name: str | None,
    agent: str | None,
    priority: str | None,
) -> Any:
    if area_name is not None:
        statement = statement.where(area.name == area_name)
    if agent is not None:
        statement = statement.where(user.name == agent)
    if priority is not None:
        statement = statement.where(Ticket.priority == Priority(priority))
    return statement


async def rating_counts(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    area: str | None,
    agent: str | None,
    priority: str | None,
) -> list[tuple[str | None, str | None, int, int]]:
    """Ratings given in [start, end) by the area and assignee at the time of rating: (area, agent,
    good, bad)."""
    statement = (
        select(
            RatedArea.name,
            RatedUser.name,
            func.count().filter(CsatSurvey.rating == Rating.GOOD),
            func.count().filter(CsatSurvey.rating == Rating.BAD),
        )
        .select_from(CsatSurvey)
        .join(Ticket, Ticket.id == CsatSurvey.ticket_id)
        .outerjoin(RatedArea, RatedArea.id == CsatSurvey.area_id)
        .outerjoin(RatedUser, RatedUser.id == CsatSurvey.assignee_id)
        .where(CsatSurvey.rated_at >= start, CsatSurvey.rated_at < end, CsatSurvey.rating.is_not(None))
        .group_by(RatedArea.name, RatedUser.name)
    )
    statement = _filtered(statement, area=RatedArea, user=RatedUser, area_name=area, agent=agent, priority=priority)
    rows: Any = await session.execute(statement)
    return [(a, u, int(g), int(b)) for a, u, g, b in rows]


async def sent_counts(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    area: str | None,
    agent: str | None,
    priority: str | None,
) -> list[tuple[str | None, str | None, int, int]]:
    """Surveys sent in [start, end) by the area and assignee when sent: (area, agent, sent, rated)."""
    statement = (
        select(
            SentArea.name,
            SentUser.name,
            func.count(),
            func.count().filter(CsatSurvey.rating.is_not(None)),
        )
        .select_from(CsatSurvey)
        .join(Ticket, Ticket.id == CsatSurvey.ticket_id)
        .outerjoin(SentArea, SentArea.id == CsatSurvey.sent_area_id)
        .outerjoin(SentUser, SentUser.id == CsatSurvey.sent_assignee_id)
        .where(CsatSurvey.status == SurveyStatus.SENT, CsatSurvey.sent_at >= start, CsatSurvey.sent_at < end)
        .group_by(SentArea.name, SentUser.name)
    )
    statement = _filtered(statement, area=SentArea, user=SentUser, area_name=area, agent=agent, priority=priority)
    rows: Any = await session.execute(statement)
    return [(a, u, int(n), int(r)) for a, u, n, r in rows]


def _contacts(
    *, start: datetime, end: datetime, area: str | None, agent: str | None, priority: str | None
) -> Select[Any]:
    statement: Select[Any] = (
        select()
        .select_from(Ticket)
        .join(TicketArea, TicketArea.id == Ticket.area_id)
        .outerjoin(TicketUser, TicketUser.id == Ticket.assignee_id)
        .where(Ticket.created_at >= start, Ticket.created_at < end, Ticket.customer_id.is_not(None))
    )
    found: Select[Any] = _filtered(
        statement, area=TicketArea, user=TicketUser, area_name=area, agent=agent, priority=priority
    )
    return found


async def contact_counts(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    by: str | None,
    area: str | None = None,
    agent: str | None = None,
    priority: str | None = None,
) -> dict[str | None, tuple[int, int, int]]:
    """Tickets created from customers in [start, end), grouped by `by` ("area", "agent" or None: all):
    {group: (tickets, distinct customers, repeat contacts)}. Distinct customers do not add up across
    groups, so each grouping is its own query."""
    key: Any = {"area": TicketArea.name, "agent": TicketUser.name, None: literal(None)}[by]
    statement = _contacts(start=start, end=end, area=area, agent=agent, priority=priority).add_columns(
        key.label("key"),
        func.count(),
        func.count(distinct(Ticket.customer_id)),
        func.count(Ticket.repeat_of_ticket_id),
    )
    if by is not None:
        statement = statement.group_by(key)
    rows = await session.execute(statement)
    return {group: (int(n), int(net), int(repeat)) for group, n, net, repeat in rows if n}


async def comments(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    area: str | None,
    agent: str | None,
    rating: str | None,
    limit: int,
    offset: int,
) -> tuple[int, list[tuple[str, int, str, str, str | None, str | None, datetime]]]:
    """Ratings with a comment, given in [start, end), newest first: the total, and one page of
    (reference, cycle, rating, comment, area, agent, rated_at)."""
    base = (
        select()
        .select_from(CsatSurvey)
        .join(Ticket, Ticket.id == CsatSurvey.ticket_id)
        .outerjoin(RatedArea, RatedArea.id == CsatSurvey.area_id)
        .outerjoin(RatedUser, RatedUser.id == CsatSurvey.assignee_id)
        .where(
            CsatSurvey.rated_at >= start,
            CsatSurvey.rated_at < end,
            CsatSurvey.comment.is_not(None),
            CsatSurvey.comment != "",
        )
    )
    base = _filtered(base, area=RatedArea, user=RatedUser, area_name=area, agent=agent, priority=None)
    if rating is not None:
        base = base.where(CsatSurvey.rating == Rating(rating))
    total = int(await session.scalar(base.add_columns(func.count())) or 0)
    rows = await session.execute(
        base.add_columns(
            Ticket.reference,
            CsatSurvey.cycle,
            CsatSurvey.rating,
            CsatSurvey.comment,
            RatedArea.name,
            RatedUser.name,
            CsatSurvey.rated_at,
        )
        .order_by(CsatSurvey.rated_at.desc(), CsatSurvey.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return total, [(r, c, str(g), str(m), a, u, t) for r, c, g, m, a, u, t in rows]


# --- Denominators -----------------------------------------------------------------------------------


async def denominators(
    session: AsyncSession, *, area_ids: Collection[int | None] | None = None, limit: int = 1000, offset: int = 0
) -> Sequence[Denominator]:
    # The whole desk's (`*`, no area) before the areas', on both engines.
    statement = select(Denominator).order_by(
        Denominator.starts_on, Denominator.area_id.is_not(None), Denominator.area_id, Denominator.id
    )
    if area_ids is not None:
        wanted = [a for a in area_ids if a is not None]
        condition: Any = Denominator.area_id.in_(wanted)
        if None in area_ids:
            condition = or_(condition, Denominator.area_id.is_(None))
        statement = statement.where(condition)
    rows = await session.scalars(statement.limit(limit).offset(offset))
    return rows.all()


async def denominators_for(session: AsyncSession, *, starts_on: date, ends_on: date) -> Sequence[Denominator]:
    """The denominators of exactly this period, every scope."""
    rows = await session.scalars(
        select(Denominator).where(and_(Denominator.starts_on == starts_on, Denominator.ends_on == ends_on))
    )
    return rows.all()


async def denominator(session: AsyncSession, denominator_id: int) -> Denominator | None:
    return await session.get(Denominator, denominator_id)


async def delete_denominator(session: AsyncSession, row: Denominator) -> None:
    await session.delete(row)
    await session.flush()
