"""The public help centre: server-rendered pages, no login, no JavaScript.

/help (articles by area), /help/articles/{slug}, /help/search?q=..., and its one stylesheet. Each page's
Content-Security-Policy allows nothing but this origin's stylesheet, images and form target. The handlers
read the slug and the query themselves, so that a bad one gets an HTML page (404, 400) rather than the
API's JSON refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic_core import PydanticCustomError
from sqlalchemy.ext.asyncio import AsyncSession

from app import pages
from app.db import SessionDep
from app.kb import deflection
from app.kb import service as kb
from app.kb.helpcentre import HelpIndex, PublicArticle, current_index
from app.kb.schemas import SLUG_MAX, SLUG_PATTERN
from app.links import CSRF_FIELD, LinkError, form_token_ok
from app.routing import service as routing
from app.runtime import Runtime, RuntimeDep
from app.validation import LINE

router = APIRouter(include_in_schema=False)

QUERY_MAX = 200
RESULTS = 20


def _page(template: str, *, status: int = 200, query: str = "", **context: Any) -> HTMLResponse:
    return pages.html(
        pages.templates("app.kb"),
        template,
        csp=pages.PUBLIC_CSP,
        status=status,
        query=query,
        query_max=QUERY_MAX,
        **context,
    )


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
    article = await _published(request, session, runtime)
    if article is None:
        return _not_found()
    area = None
    if article.area_id is not None:
        found = next((a for a in await routing.list_areas(session) if a.id == article.area_id), None)
        area = None if found is None else found.title or found.name
    body = Markup(article.html)  # noqa: S704  # sanitised by nh3 when the index was built (app/kb/render.py)
    # One upsert of the article's row of the day (measured by benchmarks/kb.py: the page's p99 holds).
    await kb.count_view(session, article.id, day=runtime.clock().date())
    return _form_page(
        request, "article.html", article=article, area=area, body=body, voted=article.id in _votes(request)
    )


async def _published(request: Request, session: AsyncSession, runtime: Runtime) -> PublicArticle | None:
    """The published article the path's slug names. A draft is as absent as a slug nobody wrote: the
    public learns nothing about unpublished articles."""
    slug = request.path_params["slug"]
    index = await current_index(session, runtime.help_centre)
    return index.by_slug.get(slug) if len(slug) <= SLUG_MAX and SLUG_PATTERN.fullmatch(slug) else None


@router.post("/help/articles/{slug}/vote", response_class=HTMLResponse)
async def help_vote(request: Request, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    """The article page's "Was this helpful?" form: one vote per browser and article (a cookie)."""
    article = await _published(request, session, runtime)
    if article is None:
        return _not_found()
    form = await pages.public_form(request, max_fields=10)
    if form is None or not form_token_ok(request, form.get(CSRF_FIELD)):
        return _expired_form()
    helpful = form.get("helpful")
    if helpful not in ("yes", "no"):
        return _problem(400, "Your answer could not be read", "Choose Yes or No on the article's page.")
    voted = _votes(request)
    if article.id in voted:
        return _problem(409, "You told us already", "Your vote on this article is counted. Thank you.")
    await kb.count_vote(session, article.id, helpful=helpful == "yes", day=runtime.clock().date())
    response = _page(
        "problem.html", heading="Thank you", message="Your vote is counted: it tells us which articles to improve."
    )
    kept = [*sorted(voted)[-(VOTES_KEPT - 1) :], article.id]
    response.set_cookie(
        VOTES_COOKIE,
        ".".join(map(str, kept)),
        httponly=True,
        samesite="lax",
        secure=pages.secure_cookies(request),
        path="/help",
        max_age=365 * 24 * 3600,
    )
    return response


@router.get("/help/answered", response_class=HTMLResponse)
async def answered_page(request: Request, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    """The acknowledgement's "this answered my question" link: a page asking to confirm, nothing more
    (a mail scanner that follows the link changes nothing)."""
    token = request.query_params.get("token", "")
    try:
        target = await deflection.check(session, runtime.links, token)
    except (LinkError, deflection.DeflectionRefused) as exc:
        return _refused(exc)
    return _form_page(
        request,
        "answered.html",
        token=token,
        reference=target.ticket.reference,
        article_title=target.article_title,
    )


@router.post("/help/answered", response_class=HTMLResponse)
async def answered_confirm(request: Request, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    """The confirmation: the ticket is solved as deflected."""
    form = await pages.public_form(request, max_fields=10)
    if form is None or not form_token_ok(request, form.get(CSRF_FIELD)):
        return _expired_form()
    try:
        target = await deflection.deflect(session, runtime.links, form.get("token") or "", now=runtime.clock())
    except (LinkError, deflection.DeflectionRefused) as exc:
        return _refused(exc)
    return _page("answered_done.html", reference=target.ticket.reference)


VOTES_COOKIE = "routedesk_votes"
VOTES_KEPT = 200  # articles a browser's cookie remembers votes for


def _votes(request: Request) -> set[int]:
    raw = request.cookies.get(VOTES_COOKIE, "")
    return {int(part) for part in raw.split(".")[:VOTES_KEPT] if part.isdigit() and len(part) <= 10}


def _form_page(request: Request, template: str, **context: Any) -> HTMLResponse:
    """A page with a form: its CSRF token in the page and in the cookie (app/links.py)."""
    return pages.with_form_token(request, lambda token: _page(template, form_token=token, **context))


def _problem(status: int, heading: str, message: str) -> HTMLResponse:
    return _page("problem.html", status=status, heading=heading, message=message)


def _expired_form() -> HTMLResponse:
    return _problem(
        403,
        "This form has expired",
        "The page was open too long, or your browser blocks cookies. Go back, reload the page and try again.",
    )


_REFUSALS = {
    "malformed": (400, "This link is incomplete", "The link was cut short or changed. Open it again from our email."),
    "forged": (400, "This link is not valid", "We did not make this link. Open it again from our email."),
    "expired": (
        410,
        "This link has expired",
        "It is older than 30 days. If your question is still open, reply to our email.",
    ),
    "gone": (404, "This request no longer exists", "Reply to our email if you still need help."),
    "used": (409, "You confirmed this already", "Your request is closed. Reply to our email if you need more help."),
    "answered": (
        409,
        "Our team has this request",
        "Someone answered or closed your request meanwhile, so this link no longer closes it. Reply to their email.",
    ),
}


def _refused(exc: LinkError | deflection.DeflectionRefused) -> HTMLResponse:
    return _problem(*_REFUSALS[exc.reason])


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
    return pages.asset("app.kb", "help.css", "text/css")


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
