"""Help-centre articles: the admins' markdown, with the slug that names its public page."""

from __future__ import annotations

from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.kb import repository
from app.kb.models import Article
from app.kb.schemas import ArticleCreate, ArticleRead, ArticleUpdate, slug_from_title
from app.routing import service as routing


async def create_article(session: AsyncSession, *, data: ArticleCreate) -> ArticleRead:
    slug = data.slug or _derived_slug(data.title)
    await _check_slug_free(session, slug, derived=data.slug is None)
    area_id, area_name = await _area(session, data.area)
    now = utcnow()
    article = Article(
        slug=slug,
        title=data.title,
        body=data.body,
        area_id=area_id,
        tags=data.tags,
        published=data.published,
        created_at=now,
        updated_at=now,
    )
    session.add(article)
    await _flush(session, slug)
    return _read(article, area_name)


async def update_article(session: AsyncSession, article_id: int, *, changes: ArticleUpdate) -> ArticleRead:
    article = await _get(session, article_id)
    area_name = await _area_name(session, article)
    fields = changes.fields_sent()
    if "slug" in fields and fields["slug"] != article.slug:
        await _check_slug_free(session, fields["slug"], derived=False)
    if "area" in fields:
        fields["area_id"], area_name = await _area(session, fields.pop("area"))
    if fields:
        for name, value in fields.items():
            setattr(article, name, value)
        article.updated_at = utcnow()
        await _flush(session, article.slug)
    return _read(article, area_name)


async def save_by_slug(session: AsyncSession, *, data: ArticleCreate) -> tuple[ArticleRead, bool]:
    """Create the article, or replace every field of the one with the same slug: (article, created)."""
    slug = data.slug or _derived_slug(data.title)
    existing = await repository.article_by_slug(session, slug)
    if existing is None:
        return await create_article(session, data=data.model_copy(update={"slug": slug})), True
    fields = data.model_dump(exclude={"slug"})
    return await update_article(session, existing.id, changes=ArticleUpdate.model_validate(fields)), False


async def delete_article(session: AsyncSession, article_id: int) -> ArticleRead:
    article = await _get(session, article_id)
    read = _read(article, await _area_name(session, article))
    await session.delete(article)
    await repository.bump_version(session)
    return read


async def get_article(session: AsyncSession, article_id: int) -> ArticleRead:
    article = await _get(session, article_id)
    return _read(article, await _area_name(session, article))


async def article_by_slug(session: AsyncSession, slug: str) -> ArticleRead:
    article = await repository.article_by_slug(session, slug)
    if article is None:
        raise NotFound(f"no article with the slug {slug!r}")
    return await get_article(session, article.id)


async def list_articles(
    session: AsyncSession, *, area: str | None = None, published: bool | None = None, offset: int = 0, limit: int = 50
) -> list[ArticleRead]:
    area_id = (await routing.get_area(session, area)).id if area is not None else None
    rows = await repository.listing(session, area_id=area_id, published=published, offset=offset, limit=limit)
    return [_read(article, name) for article, name in rows]


async def version(session: AsyncSession) -> int:
    return await repository.version(session)


async def published_articles(session: AsyncSession) -> list[repository.PublishedRow]:
    return await repository.published_articles(session)


def _derived_slug(title: str) -> str:
    slug = slug_from_title(title)
    if not slug:
        raise InvalidInput("the title has no letters or digits a slug can be made of: give a slug")
    return slug


async def _check_slug_free(session: AsyncSession, slug: str, *, derived: bool) -> None:
    if await repository.article_by_slug(session, slug) is not None:
        how = "the slug made from the title" if derived else "the slug"
        raise Conflict(f"{how}, {slug!r}, is taken by another article: give another slug")


async def _flush(session: AsyncSession, slug: str) -> None:
    try:
        await session.flush()
    except IntegrityError:
        # Another request took the slug between the check and this write.
        raise Conflict(f"the slug {slug!r} is taken by another article: give another slug") from None
    await repository.bump_version(session)


async def _get(session: AsyncSession, article_id: int) -> Article:
    article = await repository.article(session, article_id)
    if article is None:
        raise NotFound(f"no article {article_id}")
    return article


async def _area(session: AsyncSession, name: str | None) -> tuple[int | None, str | None]:
    if name is None:
        return None, None
    area = await routing.get_area(session, name)
    return area.id, area.name


async def _area_name(session: AsyncSession, article: Article) -> str | None:
    if article.area_id is None:
        return None
    return (await repository.area_names(session, {article.area_id})).get(article.area_id)


def _read(article: Article, area_name: str | None) -> ArticleRead:
    return ArticleRead(
        id=article.id,
        slug=article.slug,
        title=article.title,
        body=article.body,
        area=area_name,
        tags=list(article.tags or []),
        published=article.published,
        created_at=article.created_at,
        updated_at=article.updated_at,
    )


async def count_view(session: AsyncSession, article_id: int, *, day: date) -> None:
    await repository.count(session, article_id, day, column="views")


async def count_vote(session: AsyncSession, article_id: int, *, helpful: bool, day: date) -> None:
    await repository.count(session, article_id, day, column="helpful" if helpful else "unhelpful")
