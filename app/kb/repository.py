from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import Table, case, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.kb.models import Article, ArticleDay, ArticleSuggestion, KbVersion
from app.routing.models import Area


async def article(session: AsyncSession, article_id: int) -> Article | None:
    return await session.get(Article, article_id)


async def article_by_slug(session: AsyncSession, slug: str) -> Article | None:
    return await session.scalar(select(Article).where(Article.slug == slug))


async def area_names(session: AsyncSession, area_ids: set[int]) -> dict[int, str]:
    if not area_ids:
        return {}
    rows = await session.execute(select(Area.id, Area.name).where(Area.id.in_(sorted(area_ids))))
    return {area_id: name for area_id, name in rows}


async def listing(
    session: AsyncSession, *, area_id: int | None, published: bool | None, offset: int, limit: int
) -> list[tuple[Article, str | None]]:
    query = select(Article, Area.name).outerjoin(Area, Area.id == Article.area_id)
    if area_id is not None:
        query = query.where(Article.area_id == area_id)
    if published is not None:
        query = query.where(Article.published.is_(published))
    rows = await session.execute(query.order_by(Article.id).offset(offset).limit(limit))
    return [(row, name) for row, name in rows]


async def version(session: AsyncSession) -> int:
    return await session.scalar(select(KbVersion.version).where(KbVersion.id == 1)) or 0


async def bump_version(session: AsyncSession) -> None:
    """Raise the counter in the caller's transaction: readers see the new version exactly when they see
    the change. Concurrent writers queue on the row's lock, so no increment is lost."""
    result = await session.execute(update(KbVersion).where(KbVersion.id == 1).values(version=KbVersion.version + 1))
    if result.rowcount == 0:  # type: ignore[attr-defined]  # a database made without the migration's row
        session.add(KbVersion(id=1, version=1))
    await session.flush()


PublishedRow = tuple[int, str, str, str, int | None, list[str], datetime]


async def published_articles(session: AsyncSession) -> list[PublishedRow]:
    """(id, slug, title, body, area_id, tags, updated_at) of every published article."""
    rows = await session.execute(
        select(Article.id, Article.slug, Article.title, Article.body, Article.area_id, Article.tags, Article.updated_at)
        .where(Article.published.is_(True))
        .order_by(Article.id)
    )
    return [(i, slug, title, body, area_id, list(tags or []), at) for i, slug, title, body, area_id, tags, at in rows]


async def suggestion(session: AsyncSession, ticket_id: int, article_id: int) -> ArticleSuggestion | None:
    return await session.scalar(
        select(ArticleSuggestion).where(
            ArticleSuggestion.ticket_id == ticket_id, ArticleSuggestion.article_id == article_id
        )
    )


async def ticket_deflected(session: AsyncSession, ticket_id: int) -> bool:
    found = await session.scalar(
        select(ArticleSuggestion.id)
        .where(ArticleSuggestion.ticket_id == ticket_id, ArticleSuggestion.deflected_at.is_not(None))
        .limit(1)
    )
    return found is not None


async def mark_deflected(session: AsyncSession, ticket_id: int, article_id: int, *, now: datetime) -> None:
    await session.execute(
        update(ArticleSuggestion)
        .where(ArticleSuggestion.ticket_id == ticket_id, ArticleSuggestion.article_id == article_id)
        .values(deflected_at=now)
    )


async def count(session: AsyncSession, article_id: int, day: date, *, column: str) -> None:
    """Add one to an article's views, helpful or unhelpful votes of the day: one upsert statement."""
    table = cast(Table, ArticleDay.__table__)
    values = {"article_id": article_id, "day": day, "views": 0, "helpful": 0, "unhelpful": 0, column: 1}
    dialect = session.get_bind().dialect.name
    build = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = build(table).values(values)
    await session.execute(
        statement.on_conflict_do_update(index_elements=["article_id", "day"], set_={column: table.c[column] + 1})
    )


async def deflected_tickets(session: AsyncSession, ticket_ids: list[int]) -> set[int]:
    """Those of the tickets that a suggested article deflected."""
    found: set[int] = set()
    for i in range(0, len(ticket_ids), 5000):
        chunk = ticket_ids[i : i + 5000]
        found.update(
            await session.scalars(
                select(ArticleSuggestion.ticket_id).where(
                    ArticleSuggestion.ticket_id.in_(chunk), ArticleSuggestion.deflected_at.is_not(None)
                )
            )
        )
    return found


async def suggestion_counts(
    session: AsyncSession, *, start: datetime, end: datetime, area_id: int | None
) -> list[tuple[int | None, int, int, int]]:
    """(area id, article id, tickets it was suggested to, tickets it deflected) for the suggestions
    made in [start, end)."""
    query = (
        select(
            ArticleSuggestion.area_id,
            ArticleSuggestion.article_id,
            func.count(),
            func.count(ArticleSuggestion.deflected_at),
        )
        .where(ArticleSuggestion.created_at >= start, ArticleSuggestion.created_at < end)
        .group_by(ArticleSuggestion.area_id, ArticleSuggestion.article_id)
    )
    if area_id is not None:
        query = query.where(ArticleSuggestion.area_id == area_id)
    return [(a, b, c, d) for a, b, c, d in await session.execute(query)]


async def ticket_counts(
    session: AsyncSession, *, start: datetime, end: datetime, area_id: int | None
) -> list[tuple[int | None, int, int]]:
    """(area id, tickets that got suggestions, tickets deflected) for the suggestions made in [start, end)."""
    per_ticket = (
        select(
            ArticleSuggestion.ticket_id,
            func.min(ArticleSuggestion.area_id).label("area_id"),
            func.count(ArticleSuggestion.deflected_at).label("deflections"),
        )
        .where(ArticleSuggestion.created_at >= start, ArticleSuggestion.created_at < end)
        .group_by(ArticleSuggestion.ticket_id)
    )
    if area_id is not None:
        per_ticket = per_ticket.where(ArticleSuggestion.area_id == area_id)
    inner = per_ticket.subquery()
    query = select(
        inner.c.area_id, func.count(), func.coalesce(func.sum(case((inner.c.deflections > 0, 1), else_=0)), 0)
    ).group_by(inner.c.area_id)
    return [(a, int(b), int(c)) for a, b, c in await session.execute(query)]


async def article_days(
    session: AsyncSession, *, first: date, last: date, area_id: int | None
) -> list[tuple[int, int, int, int]]:
    """(article id, views, helpful, unhelpful) summed over the days [first, last]."""
    query = (
        select(
            ArticleDay.article_id,
            func.sum(ArticleDay.views),
            func.sum(ArticleDay.helpful),
            func.sum(ArticleDay.unhelpful),
        )
        .where(ArticleDay.day >= first, ArticleDay.day <= last)
        .group_by(ArticleDay.article_id)
    )
    if area_id is not None:
        query = query.join(Article, Article.id == ArticleDay.article_id).where(Article.area_id == area_id)
    return [(a, int(b), int(c), int(d)) for a, b, c, d in await session.execute(query)]


async def article_names(session: AsyncSession, article_ids: set[int]) -> dict[int, tuple[str, str, int | None]]:
    """(slug, title, area id) of each article."""
    if not article_ids:
        return {}
    rows = await session.execute(
        select(Article.id, Article.slug, Article.title, Article.area_id).where(Article.id.in_(sorted(article_ids)))
    )
    return {i: (slug, title, area) for i, slug, title, area in rows}
