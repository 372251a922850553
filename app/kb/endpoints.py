from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.auth import CurrentAdmin, CurrentUser
from app.db import MAX_ID, SessionDep
from app.kb import service as kb
from app.kb.schemas import ArticleCreate, ArticleRead, ArticleUpdate
from app.validation import LINE

router = APIRouter(tags=["help centre"])

ArticleId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/articles")
async def list_articles(
    user: CurrentUser,
    session: SessionDep,
    area: Annotated[str | None, Query(min_length=1, max_length=64), LINE] = None,
    published: bool | None = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ArticleRead]:
    """Every article, drafts included (`published` filters), as agents link to them from replies."""
    return await kb.list_articles(session, area=area, published=published, offset=offset, limit=limit)


@router.get("/articles/{article_id}")
async def get_article(article_id: ArticleId, user: CurrentUser, session: SessionDep) -> ArticleRead:
    return await kb.get_article(session, article_id)


@router.post("/admin/articles", status_code=201)
async def create_article(body: ArticleCreate, admin: CurrentAdmin, session: SessionDep) -> ArticleRead:
    return await kb.create_article(session, data=body)


@router.patch("/admin/articles/{article_id}")
async def update_article(
    article_id: ArticleId, body: ArticleUpdate, admin: CurrentAdmin, session: SessionDep
) -> ArticleRead:
    return await kb.update_article(session, article_id, changes=body)


@router.delete("/admin/articles/{article_id}")
async def delete_article(article_id: ArticleId, admin: CurrentAdmin, session: SessionDep) -> ArticleRead:
    return await kb.delete_article(session, article_id)
