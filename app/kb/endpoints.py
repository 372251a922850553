from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app.auth import CurrentAdmin, CurrentUser
from app.db import MAX_ID, SessionDep
from app.errors import InvalidInput, NotFound
from app.kb import reports as kb_reports
from app.kb import service as kb
from app.kb.reports import ArticlesReport
from app.kb.schemas import ArticleCreate, ArticleRead, ArticleUpdate, DocGapsRead
from app.reports import service as reports
from app.runtime import RuntimeDep
from app.validation import LINE

CSV = "text/csv"

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


@router.get(
    "/reports/articles",
    tags=["admin: reports"],
    response_model=ArticlesReport,
    responses={200: {"content": {CSV: {"schema": {"type": "string"}}}}},
)
async def articles_report(
    request: Request,
    admin: CurrentAdmin,
    session: SessionDep,
    start: Annotated[date | None, Query(alias="from", description="first day, UTC (2026-01-01)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last day, included")] = None,
    area: Annotated[str | None, Query(min_length=1, max_length=64), LINE] = None,
) -> ArticlesReport | Response:
    """Deflection rate (deflected / tickets that got suggestions) by area and by article, article views
    and helpful votes; `Accept: text/csv` for one CSV row per group."""
    window = reports.window(start, end)
    try:
        report = await kb_reports.articles_report(session, window, area=area)
    except NotFound as exc:
        raise InvalidInput(exc.detail) from None
    if CSV in request.headers.get("accept", ""):
        return Response(
            kb_reports.articles_csv(report),
            media_type=f"{CSV}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="articles-{window.start}-{window.end}.csv"'},
        )
    return report


@router.get("/reports/doc-gaps", tags=["admin: reports"])
async def doc_gaps(
    admin: CurrentAdmin,
    session: SessionDep,
    runtime: RuntimeDep,
    start: Annotated[date | None, Query(alias="from", description="first day, UTC (2026-01-01)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last day, included")] = None,
    area: Annotated[str | None, Query(min_length=1, max_length=64), LINE] = None,
) -> DocGapsRead:
    """Groups of the window's tickets that no article answered, by area: what to write next."""
    window = reports.window(start, end)
    from app.kb import gaps  # scikit-learn: imported by this handler alone

    try:
        found = await gaps.doc_gaps(session, window, area=area, cache=runtime.help_centre)
    except NotFound as exc:
        raise InvalidInput(exc.detail) from None
    return DocGapsRead.model_validate(found.model_dump())
