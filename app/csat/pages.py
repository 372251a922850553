"""The survey's public pages: no login, no JavaScript, server-rendered and autoescaped.

GET /survey/{token}?rating=good|bad shows the choice pre-selected with a comment box and records
nothing (mail scanners follow links); POST /survey/{token} records the rating. GET and POST
/survey/opt-out/{token} do the same for "no more surveys". Every form carries the double-submitted CSRF
token of app/links.py; every page the strict CSP of the help centre. The handlers read the token
themselves (as the help centre reads its slugs), so that any string gets this page's HTML answer: a bad
token, a closed survey or a bad form gets an HTML page with a 4xx status, never the API's JSON.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic_core import PydanticCustomError

from app import pages
from app.csat import service as surveys
from app.csat.service import SurveyProblem
from app.db import SessionDep
from app.links import CSRF_FIELD, form_token_ok
from app.runtime import RuntimeDep
from app.validation import LINE, TEXT

router = APIRouter(include_in_schema=False)

FORM_FIELDS_MAX = 8


def _page(
    runtime: Any, template: str, *, status: int = 200, request: Request | None = None, **context: Any
) -> HTMLResponse:
    """A page; with `request`, one holding a form, whose CSRF token the page sets in its cookie."""

    def render(form_token: str | None = None) -> HTMLResponse:
        return pages.html(
            pages.templates("app.csat"),
            template,
            csp=pages.PUBLIC_CSP,
            status=status,
            headers={"Referrer-Policy": "no-referrer"},
            team=runtime.settings.tickets.team_name,
            comment_max=surveys.COMMENT_MAX,
            form_token=form_token,
            **context,
        )

    return render() if request is None else pages.with_form_token(request, render)


def _problem(runtime: Any, problem: SurveyProblem) -> HTMLResponse:
    return _page(runtime, "problem.html", status=problem.status, heading=problem.heading, message=problem.message)


def _bad_form(runtime: Any, message: str, status: int = 400) -> HTMLResponse:
    return _page(runtime, "problem.html", status=status, heading="Your answer could not be read", message=message)


_STALE_FORM = (
    "The form was open too long or came from elsewhere. Open the link from the email again and send your answer."
)


@router.get("/survey/survey.css")
async def survey_stylesheet() -> Response:
    return pages.asset("app.csat", "survey.css", "text/css")


@router.get("/survey/opt-out/{token}", response_class=HTMLResponse)
async def opt_out_page(request: Request, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    token = request.path_params["token"]
    try:
        await surveys.check_opt_out(session, token, links=runtime.links)
    except SurveyProblem as problem:
        return _problem(runtime, problem)
    return _page(runtime, "opt_out.html", request=request, token=token, done=False)


@router.post("/survey/opt-out/{token}", response_class=HTMLResponse)
async def opt_out(request: Request, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    token = request.path_params["token"]
    form = await pages.public_form(request, max_fields=FORM_FIELDS_MAX)
    if form is None or not form_token_ok(request, form.get(CSRF_FIELD)):
        return _bad_form(runtime, _STALE_FORM, 403)
    try:
        await surveys.opt_out(session, token, links=runtime.links)
    except SurveyProblem as problem:
        return _problem(runtime, problem)
    return _page(runtime, "opt_out.html", token=token, done=True)


@router.get("/survey/{token}", response_class=HTMLResponse)
async def survey_page(request: Request, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    token = request.path_params["token"]
    choice = request.query_params.get("rating")
    try:
        view = await surveys.show(
            session, token, choice=choice, links=runtime.links, settings=runtime.settings, now=runtime.clock()
        )
    except SurveyProblem as problem:
        return _problem(runtime, problem)
    return _page(runtime, "survey.html", request=request, token=token, survey=view, error=None)


@router.post("/survey/{token}", response_class=HTMLResponse)
async def survey_answer(request: Request, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    token = request.path_params["token"]
    form = await pages.public_form(request, max_fields=FORM_FIELDS_MAX)
    if form is None or not form_token_ok(request, form.get(CSRF_FIELD)):
        return _bad_form(runtime, _STALE_FORM, 403)
    rating = form.get("rating")
    comment = form.get("comment", "").strip()
    if rating not in ("good", "bad"):
        return _bad_form(runtime, "Choose good or bad, then send your answer.")
    try:
        TEXT.check(comment)
        LINE.check(rating)
    except PydanticCustomError:
        return _bad_form(runtime, "The comment holds characters that are not text. Type it again.")
    if len(comment) > surveys.COMMENT_MAX:
        return _bad_form(runtime, f"The comment is longer than {surveys.COMMENT_MAX} characters. Shorten it.")
    try:
        view = await surveys.rate(
            session,
            token,
            rating="good" if rating == "good" else "bad",
            comment=comment,
            links=runtime.links,
            settings=runtime.settings,
            now=runtime.clock(),
        )
    except SurveyProblem as problem:
        return _problem(runtime, problem)
    return _page(runtime, "thanks.html", survey=view)


@router.api_route("/survey/{_rest:path}", methods=["GET", "POST"], response_class=HTMLResponse)
async def survey_elsewhere(runtime: RuntimeDep) -> HTMLResponse:
    """Any other address under /survey: this page's own 404."""
    return _page(
        runtime,
        "problem.html",
        status=404,
        heading="Page not found",
        message="There is no survey at this address. Open the link from the email again.",
    )
