from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.kb.models import Article, KbVersion
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
