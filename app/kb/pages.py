"""The public help centre: server-rendered pages, no login, no JavaScript.

/help (articles by area), /help/articles/{slug}, /help/search?q=..., and its one stylesheet. Each page's
Content-Security-Policy allows nothing but this origin's stylesheet, images and form target. The handlers
read the slug and the query themselves, so that a bad one gets an HTML page (404, 400) rather than the
API's JSON refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from pydantic_core import PydanticCustomError

from app.db import SessionDep
from app.kb.helpcentre import HelpIndex, PublicArticle, current_index
from app.kb.schemas import SLUG_MAX, SLUG_PATTERN
from app.routing import service as routing
from app.runtime import RuntimeDep
from app.validation import LINE

router = APIRouter(include_in_schema=False)

QUERY_MAX = 200
RESULTS = 20
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@cache
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("app.kb", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _stylesheet() -> bytes:
    return files("app.kb").joinpath("templates/help.css").read_bytes()


def _page(template: str, *, status: int = 200, query: str = "", **context: Any) -> HTMLResponse:
    body = _templates().get_template(template).render(query=query, query_max=QUERY_MAX, **context)
    return HTMLResponse(body, status_code=status, headers={"Content-Security-Policy": CSP})


@dataclass(frozen=True, slots=True)
class _Section:
    title: str
    articles: list[PublicArticle]


@router.get("/help", response_class=HTMLResponse)
async def help_index(session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    index = await current_index(session, runtime.help_centre)
    areas = {area.id: area for area in await routing.list_areas(session)}
    grouped: dict[int | None, list[PublicArticle]] = {}
    for article in index.articles:
        area_id = article.area_id if article.area_id in areas else None
        grouped.setdefault(area_id, []).append(article)
    sections = [
        _Section(areas[area_id].title or areas[area_id].name, sorted(grouped[area_id], key=_by_title))
        for area_id in sorted((a for a in grouped if a is not None), key=lambda a: areas[a].name)
    ]
    if None in grouped:  # general articles, and those of an area deleted since
        sections.append(_Section("General", sorted(grouped[None], key=_by_title)))
    return _page("index.html", sections=sections)


@router.get("/help/articles/{slug}", response_class=HTMLResponse)
async def help_article(request: Request, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    slug = request.path_params["slug"]
    index = await current_index(session, runtime.help_centre)
    # A draft is as absent as a slug nobody wrote: the public learns nothing about unpublished articles.
    article = index.by_slug.get(slug) if len(slug) <= SLUG_MAX and SLUG_PATTERN.fullmatch(slug) else None
    if article is None:
        return _not_found()
    area = None
    if article.area_id is not None:
        found = next((a for a in await routing.list_areas(session) if a.id == article.area_id), None)
        area = None if found is None else found.title or found.name
    body = Markup(article.html)  # noqa: S704  # sanitised by nh3 when the index was built (app/kb/render.py)
    return _page("article.html", article=article, area=area, body=body)


@router.get("/help/search", response_class=HTMLResponse)
async def help_search(request: Request, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    query = " ".join(request.query_params.get("q", "").split())
    try:
        LINE.check(query)
    except PydanticCustomError:
        return _page(
            "problem.html",
            status=400,
            heading="Search could not be read",
            message="The search holds characters that are not text. Type it again.",
        )
    query = query[:QUERY_MAX]
    index: HelpIndex = await current_index(session, runtime.help_centre)
    results = index.find(query, limit=RESULTS) if query else []
    return _page("search.html", query=query, results=results)


@router.get("/help/help.css")
async def help_stylesheet() -> Response:
    return Response(_stylesheet(), media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


def _not_found() -> HTMLResponse:
    return _page(
        "problem.html",
        status=404,
        heading="Page not found",
        message="There is no article at this address. It may have moved: search for it, or browse every article.",
    )


def _by_title(article: PublicArticle) -> tuple[str, int]:
    return article.title.casefold(), article.id


@router.get("/help/{_rest:path}", response_class=HTMLResponse)
async def help_elsewhere() -> HTMLResponse:
    """Any other address under /help: the help centre's own 404 page."""
    return _not_found()
