"""The agents' web console: server-rendered pages over the same services as the JSON API.

Every page needs a console session (app/console/sessions.py): without one it sends the browser to the
sign-in page, which brings it back to the page it wanted. Every form carries the session's CSRF token
(the sign-in form, which has no session yet, a double-submitted one: app/links.py). Each page sends a
Content-Security-Policy that allows scripts, styles and frames from this origin only: no inline script
runs, and customer HTML is shown only in a sandboxed frame of its own, with no scripts and no remote
loads (`message_html`).

A failed action (another agent claimed the ticket, a bad area) shows the ticket again with the
service's own message, and changes nothing: the transaction is rolled back first.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import pages
from app.console import sessions, viewers
from app.console.sessions import COOKIE, SignedIn
from app.db import MAX_ID, SessionDep
from app.errors import AppError, InvalidInput, app_error_handler, validation_error_handler
from app.http import client_address
from app.kb.helpcentre import current_index
from app.kb.matching import match_articles
from app.links import CSRF_FIELD, form_token_ok
from app.macros import service as macros
from app.replies import service as replies
from app.routing import service as routing
from app.runtime import Runtime, RuntimeDep
from app.sla import service as sla
from app.sla.models import Priority
from app.tickets import lifecycle
from app.tickets import reply as replying
from app.tickets import service as tickets
from app.tickets.models import Ticket, TicketStatus
from app.tickets.schemas import ReplyCreate, TicketRead
from app.validation import LINE, TEXT

router = APIRouter(prefix="/console", include_in_schema=False)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# A customer's HTML, in its frame: no script, no form, no remote load; its own inline styles only.
MESSAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
VIEWS = {
    "mine": "Mine",
    "unassigned": "Unassigned",
    "breached": "Breached",
    "pending": "Pending",
    "all": "All open",
}
PAGE = 50
QUERY_MAX = 200
REPLY_MAX = 50_000
NOTE_MAX = 20_000
FORM_FIELDS = 20
REPEATED = frozenset({"area", "play"})  # the form fields that may come more than once (the queues)

_ACTION = re.compile(r"(/console/tickets/\d+)/[a-z]+")
TicketId = Annotated[int, Path(ge=1, le=MAX_ID)]


class SignInNeeded(Exception):
    def __init__(self, wanted: str) -> None:
        super().__init__(wanted)
        self.wanted = wanted


class PageRefused(Exception):
    def __init__(self, status: int, heading: str, message: str) -> None:
        super().__init__(message)
        self.status, self.heading, self.message = status, heading, message


@cache
def _templates() -> Environment:
    env = pages.templates("app.console")
    env.filters["when"] = _when
    env.filters["left"] = _left
    return env


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _left(value: datetime | None, now: datetime) -> str:
    """Time left until `value` (or how long ago it passed), in the largest units that matter."""
    if value is None:
        return ""
    seconds = int((value - now).total_seconds())
    late = seconds < 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    text = f"{days} d {hours} h" if days else f"{hours} h {minutes} min" if hours else f"{minutes} min"
    return f"{text} late" if late else f"{text} left"


def page(
    template: str, *, status: int = 200, who: SignedIn | None = None, now: datetime | None = None, **context: Any
) -> HTMLResponse:
    return pages.html(_templates(), template, csp=CSP, status=status, who=who, now=now, views=VIEWS, **context)


def _local_path(wanted: str | None) -> str:
    """Where to go after signing in: a console path of this site, never another origin."""
    if (
        wanted
        and wanted.startswith("/console")
        and "\\" not in wanted
        and len(wanted) <= 2000
        and LINE.is_valid(wanted)
    ):
        return wanted
    return "/console/queues"


def _idle(runtime: Runtime) -> timedelta:
    return timedelta(minutes=runtime.settings.console.idle_minutes)


async def signed_in(request: Request, session: SessionDep, runtime: RuntimeDep) -> SignedIn:
    found = await sessions.resume(session, request.cookies.get(COOKIE), now=runtime.clock(), idle=_idle(runtime))
    if found is None:
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":  # a form's action: back to the page that held the form
            ticket = _ACTION.fullmatch(request.url.path)
            wanted = ticket.group(1) if ticket else "/console/queues"
        raise SignInNeeded(wanted)
    return found


Who = Annotated[SignedIn, Depends(signed_in)]


async def signed_in_admin(who: Who) -> SignedIn:
    if who.user.role != "admin":
        raise PageRefused(403, "Admins only", "This page needs the admin role.")
    return who


Admin = Annotated[SignedIn, Depends(signed_in_admin)]


async def read_form(request: Request, who: SignedIn | None = None) -> dict[str, str]:
    """A POSTed form's text fields; with `who`, only if it carries that session's CSRF token."""
    try:
        async with request.form(max_files=0, max_fields=FORM_FIELDS) as form:
            fields: dict[str, str] = {}
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    raise PageRefused(400, "Form not accepted", "This form takes no files.")
                if name in fields and name not in REPEATED:
                    raise PageRefused(400, "Form not accepted", "A field of the form came twice.")
                if not TEXT.is_valid(value):
                    raise PageRefused(
                        400, "Form not accepted", f"The field {name[:40]!r} holds characters that are not text."
                    )
                fields[name] = fields[name] + "\n" + value if name in fields else value
    except StarletteHTTPException as exc:
        raise PageRefused(400, "Form not accepted", "The form could not be read.") from exc
    if who is not None and not hmac.compare_digest(fields.get("csrf", "").encode(), who.csrf.encode()):
        raise PageRefused(403, "Form expired", "This form is from an older page. Go back, reload and try again.")
    return fields


def install(app: FastAPI) -> None:
    from app.console import admin  # imports this module: included here, not at import

    app.include_router(router)
    app.include_router(admin.router)

    @app.exception_handler(SignInNeeded)
    async def _sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        target = "/console/sign-in"
        if exc.wanted and _local_path(exc.wanted) == exc.wanted:
            target += "?" + urlencode({"next": exc.wanted})
        return RedirectResponse(target, status_code=303)

    # A refusal by a service or by FastAPI's own validation (an id that is not a number) on a console
    # page is a page too, not the API's JSON; elsewhere the API's handlers answer as before.
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        if not request.url.path.startswith("/console"):
            return await app_error_handler(request, exc)
        return page("problem.html", status=exc.status_code, heading="Not done", message=exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if not request.url.path.startswith("/console"):
            return await validation_error_handler(request, exc)
        return page("problem.html", status=422, heading="Not found", message="That address names nothing here.")

    @app.exception_handler(PageRefused)
    async def _refused(request: Request, exc: PageRefused) -> Response:
        return page("problem.html", status=exc.status, heading=exc.heading, message=exc.message)


# Sign in and out


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request) -> HTMLResponse:
    return _sign_in_form(request, wanted=request.query_params.get("next"))


def _sign_in_form(request: Request, *, wanted: str | None, status: int = 200, error: str | None = None) -> HTMLResponse:
    """The sign-in page, its form's CSRF token set in the browser's cookie too (app/links.py)."""
    wanted = _local_path(wanted)
    return pages.with_form_token(
        request,
        lambda token: page(
            "sign_in.html", status=status, wanted=wanted, form_token=token, form_field=CSRF_FIELD, error=error
        ),
    )


@router.post("/sign-in")
async def sign_in(request: Request, session: SessionDep, runtime: RuntimeDep) -> Response:
    fields = await read_form(request)
    wanted = _local_path(fields.get("next"))
    if not form_token_ok(request, fields.get(CSRF_FIELD)):
        raise PageRefused(403, "Form expired", "The sign-in form is from an older page. Reload it and try again.")
    token = fields.get("token", "").strip()
    found = None
    if token:
        previous = request.cookies.get(COOKIE)
        found = await sessions.sign_in(session, token, now=runtime.clock(), idle=_idle(runtime), previous=previous)
    if found is None:
        throttle = request.app.state.auth_throttle
        settings = request.app.state.settings.http
        peer = request.client.host if request.client else None
        address = client_address(peer, request.headers.getlist("x-forwarded-for"), settings.trusted_proxies)
        wait = throttle.failed(address)
        message = (
            f"Too many wrong tokens from this address: try again in {wait} s."
            if wait is not None
            else "That token is not valid. Paste the token `routedesk users add` printed."
        )
        refused = _sign_in_form(request, wanted=wanted, status=429 if wait is not None else 401, error=message)
        if wait is not None:
            refused.headers["Retry-After"] = str(wait)
        return refused
    value, _who = found
    response = RedirectResponse(wanted, status_code=303)
    response.set_cookie(
        COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=pages.secure_cookies(request),
        path="/console",
        # No Max-Age: the cookie lasts while the browser runs, the session while it is used (the idle
        # timeout, kept on the server, moves on with each request; a Max-Age would not).
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request, who: Who, session: SessionDep) -> Response:
    await read_form(request, who)
    await sessions.sign_out(session, request.cookies.get(COOKIE))
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


# Queues and lists


@router.get("", response_class=HTMLResponse)
async def home(who: Who) -> Response:
    return RedirectResponse("/console/queues", status_code=303)


@router.get("/queues", response_class=HTMLResponse)
async def queues(who: Who, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    now = runtime.clock()
    listed = await tickets.queues(session, now=now)
    return page("queues.html", who=who, now=now, queues=listed, title="Queues")


@router.get("/tickets", response_class=HTMLResponse)
async def ticket_list(request: Request, who: Who, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    now = runtime.clock()
    params = request.query_params
    view = params.get("view", "mine")
    if view not in VIEWS:
        raise PageRefused(404, "No such list", "There is no list of that name.")
    query = " ".join(params.get("q", "").split())[:QUERY_MAX]
    if not LINE.is_valid(query):
        raise PageRefused(400, "Search could not be read", "The search holds characters that are not text.")
    try:
        offset = max(0, min(int(params.get("offset", "0")), 10**9))
    except ValueError:
        offset = 0
    area_name = params.get("area") or None
    area_id = None
    if area_name is not None:
        areas = {a.name: a.id for a in await routing.list_areas(session)}
        if area_name not in areas:
            raise PageRefused(404, "No such queue", "There is no queue of that name.")
        area_id = areas[area_name]
    filters: dict[str, Any] = {"area_id": area_id, "text": query or None}
    if view == "mine":
        filters.update(assignee_id=who.user.id)
        filters.update(status=None)
    elif view == "unassigned":
        filters.update(unassigned=True, status=TicketStatus.OPEN)
    elif view == "breached":
        filters.update(breached_at=now)
    elif view == "pending":
        filters.update(status=TicketStatus.PENDING)
    else:
        filters.update(status=TicketStatus.OPEN)
    found = await tickets.search(session, offset=offset, limit=PAGE, **filters)
    return page(
        "tickets.html",
        who=who,
        now=now,
        view=view,
        query=query,
        area=area_name,
        found=found,
        query_max=QUERY_MAX,
        title=VIEWS[view],
    )


# Play mode: the most urgent ticket of the chosen queues, claimed and opened


@router.post("/play")
async def play(request: Request, who: Who, session: SessionDep, runtime: RuntimeDep) -> Response:
    fields = await read_form(request, who)
    chosen = [a for a in fields.get("area", "").split("\n") if a]
    return await _next_ticket(session, runtime, who, chosen)


async def _next_ticket(session: AsyncSession, runtime: Runtime, who: SignedIn, chosen: list[str]) -> Response:
    counts = await tickets.queue_counts(session, now=runtime.clock())
    for area in tickets.claim_order(counts, chosen):
        claimed = await lifecycle.claim(session, area, agent=who.user)
        if claimed is not None:
            return RedirectResponse(_ticket_url(claimed.ticket["id"], chosen), status_code=303)
    return page("empty.html", who=who, now=runtime.clock(), chosen=chosen, title="Nothing waiting")


def _ticket_url(ticket_id: int, play: list[str] | None = None) -> str:
    url = f"/console/tickets/{ticket_id}"
    return url + ("?" + urlencode([("play", a) for a in play]) if play else "")


# The ticket


@dataclass(frozen=True, slots=True)
class _Draft:
    text: str = ""
    macro_id: int | None = None
    status: str = TicketStatus.PENDING.value  # what the reply leaves the ticket as


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
async def ticket_page(
    request: Request, ticket_id: TicketId, who: Who, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    draft = _Draft()
    macro = _id(request.query_params.get("macro"))
    if macro is not None:
        try:
            ticket = await tickets.get_ticket(session, ticket_id)
            values = await tickets.placeholders(session, ticket, agent=who.user)
            draft = _Draft(await macros.render_macro(session, macro, values=values), macro)
        except AppError:
            draft = _Draft()
    return await _ticket(session, runtime, who, ticket_id, play=request.query_params.getlist("play"), draft=draft)


async def _ticket(
    session: AsyncSession,
    runtime: Runtime,
    who: SignedIn,
    ticket_id: int,
    *,
    play: list[str],
    draft: _Draft = _Draft(),
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    try:
        detail: TicketRead = await tickets.detail(
            session, ticket_id, delivery=await replies.delivery_by_message(session, ticket_id)
        )
    except AppError as exc:
        raise PageRefused(exc.status_code, "Ticket not found", exc.detail) from exc
    ticket = await tickets.get_ticket(session, ticket_id)
    now = runtime.clock()
    clocks = (await sla.ticket_sla(session, ticket_id, priority=ticket.priority)).clocks
    # Imported here, as the JSON API does: ranking brings scikit-learn and SciPy.
    from app.macros import ranking

    text = await tickets.ticket_text(session, ticket)
    suggestions = await ranking.suggest(
        session,
        cache=runtime.suggestions,
        text=text,
        area_id=ticket.area_id,
        values=await tickets.placeholders(session, ticket, agent=who.user),
        limit=3,
    )
    index = await current_index(session, runtime.help_centre)
    routing_text = await tickets.ticket_text(session, ticket)
    articles = [
        (
            m.article,
            f"{runtime.settings.public_url}/help/articles/{m.article.slug}" if runtime.settings.public_url else None,
        )
        for m in match_articles(index, text=routing_text, area_id=ticket.area_id)
    ]
    earlier = []
    if detail.customer_email:
        earlier = [
            t
            for t in (await tickets.search(session, offset=0, limit=11, customer=detail.customer_email)).items
            if t.id != ticket_id
        ][:10]
    viewing = await viewers.viewed(session, ticket_id, who.user.id, now=now)
    areas = [a for a in await routing.list_areas(session) if a.active]
    notes = [e for e in detail.events if e.kind == "note"]
    return page(
        "ticket.html",
        status=status,
        who=who,
        now=now,
        ticket=detail,
        clocks=clocks,
        suggestions=suggestions,
        earlier=earlier,
        areas=areas,
        notes=notes,
        viewing=viewing,
        articles=articles,
        statuses=[s.value for s in TicketStatus],
        priorities=[p.value for p in Priority],
        play=play,
        play_query=urlencode([("play", a) for a in play]),
        draft=draft,
        error=error,
        reply_max=REPLY_MAX,
        note_max=NOTE_MAX,
        title=f"{detail.reference} {detail.subject}",
    )


async def _act(
    session: AsyncSession,
    runtime: Runtime,
    who: SignedIn,
    ticket_id: int,
    fields: Fields,
    action: Action,
    *,
    next_in_play: bool = False,
) -> Response:
    """Run one ticket action on the locked ticket. On success: back to the ticket, or in play mode after
    a reply or solve, on to the next ticket. On a refusal: the ticket again with the reason, nothing
    changed."""
    play = [a for a in fields.get("play", "").split("\n") if a]
    try:
        # A savepoint: a refusal undoes the action's writes only, and leaves the session (and the
        # signed-in user it loaded) usable for the page that says why.
        async with session.begin_nested():
            ticket: Ticket = await tickets.get_ticket(session, ticket_id, for_update=True)
            await action(session, ticket, fields, who)
    except (AppError, ValidationError) as exc:
        refusal = exc if isinstance(exc, AppError) else InvalidInput(str(exc.errors()[0]["msg"]))
        after = fields.get("status", "")
        draft = _Draft(
            fields.get("text", "")[:REPLY_MAX],
            _id(fields.get("macro_id")),
            after if after in {s.value for s in TicketStatus} else TicketStatus.PENDING.value,
        )
        return await _ticket(
            session, runtime, who, ticket_id, play=play, draft=draft, error=refusal.detail, status=refusal.status_code
        )
    if next_in_play and play:
        return await _next_ticket(session, runtime, who, play)
    return RedirectResponse(_ticket_url(ticket_id, play), status_code=303)


# The ticket's forms. Each is one action on the locked ticket, a call into the lifecycle (or the reply
# service) as the JSON API makes it; `_act` runs it and says what came of it.

Fields = Mapping[str, str]


async def _reply(session: AsyncSession, ticket: Ticket, fields: Fields, who: SignedIn) -> None:
    text = fields.get("text", "")
    status = fields.get("status", TicketStatus.PENDING.value)
    if len(text) > REPLY_MAX or not TEXT.is_valid(text):
        raise _invalid(f"a reply is text of at most {REPLY_MAX:,} characters, with no control characters")
    if status not in {s.value for s in TicketStatus}:
        raise _invalid("choose a status for after the reply")
    data = ReplyCreate(text=text or None, status=TicketStatus(status), seen_message_id=_id(fields.get("seen")))
    await replying.reply(session, ticket, data, user=who.user)
    # The box held the macro as inserted (and perhaps edited): its use is recorded, not its text again.
    macro_id = _id(fields.get("macro_id"))
    if macro_id is not None:
        await macros.record_use(session, macro_id=macro_id, ticket_id=ticket.id, user_id=who.user.id)


async def _note(session: AsyncSession, ticket: Ticket, fields: Fields, who: SignedIn) -> None:
    text = fields.get("note", "").strip()
    if not text or len(text) > NOTE_MAX or not TEXT.is_valid(text):
        raise _invalid(f"a note needs text of at most {NOTE_MAX:,} characters, with no control characters")
    await lifecycle.add_note(session, ticket, body=text, user=who.user)


async def _status(session: AsyncSession, ticket: Ticket, fields: Fields, who: SignedIn) -> None:
    status = fields.get("status", "")
    if status not in {s.value for s in TicketStatus}:
        raise _invalid("choose one of open, pending and solved")
    await lifecycle.set_status(session, ticket, status=TicketStatus(status), user=who.user)


async def _priority(session: AsyncSession, ticket: Ticket, fields: Fields, who: SignedIn) -> None:
    priority = fields.get("priority", "")
    if priority not in {p.value for p in Priority}:
        raise _invalid("choose one of low, normal, high and urgent")
    await lifecycle.set_priority(session, ticket, priority=Priority(priority), user=who.user)


async def _reroute(session: AsyncSession, ticket: Ticket, fields: Fields, who: SignedIn) -> None:
    name = fields.get("area", "").strip()
    if not name or len(name) > 64 or not LINE.is_valid(name):
        raise _invalid("choose an area")
    area = await routing.routable_area(session, name)
    await lifecycle.reroute(session, ticket, area=area, user=who.user, keep_assignee=False)


async def _release(session: AsyncSession, ticket: Ticket, fields: Fields, who: SignedIn) -> None:
    await lifecycle.release(session, ticket, user=who.user)


Action = Callable[[AsyncSession, Ticket, Fields, SignedIn], Awaitable[None]]


def _never(fields: Fields) -> bool:
    return False


# name: (the action, whether in play mode the next ticket opens after it)
ACTIONS: dict[str, tuple[Action, Callable[[Fields], bool]]] = {
    "reply": (_reply, lambda f: f.get("status", TicketStatus.PENDING.value) in ("solved", "pending")),
    "note": (_note, _never),
    "status": (_status, lambda f: f.get("status") == "solved"),
    "priority": (_priority, _never),
    "reroute": (_reroute, _never),
    "release": (_release, _never),
}


def _ticket_form(action: Action, next_in_play: Callable[[Fields], bool]) -> Callable[..., Awaitable[Response]]:
    async def handle(
        request: Request, ticket_id: TicketId, who: Who, session: SessionDep, runtime: RuntimeDep
    ) -> Response:
        fields = await read_form(request, who)
        return await _act(session, runtime, who, ticket_id, fields, action, next_in_play=next_in_play(fields))

    handle.__name__ = action.__name__.lstrip("_")
    return handle


for _name, (_action, _next) in ACTIONS.items():
    router.add_api_route(f"/tickets/{{ticket_id}}/{_name}", _ticket_form(_action, _next), methods=["POST"])


@router.get("/tickets/{ticket_id}/messages/{message_id}/html", response_class=HTMLResponse)
async def message_html(
    ticket_id: TicketId, message_id: Annotated[int, Path(ge=1, le=MAX_ID)], who: Who, session: SessionDep
) -> HTMLResponse:
    """A message's HTML, sanitised (app/tickets/service.py:detail), for the ticket page's sandboxed frame."""
    detail = await tickets.detail(session, ticket_id, delivery={})
    found = next((m for m in detail.messages if m.id == message_id and m.html), None)
    if found is None or found.html is None:
        raise PageRefused(404, "No such message", "This ticket has no HTML message of that number.")
    headers = {
        "Content-Security-Policy": MESSAGE_CSP,
        "X-Frame-Options": "SAMEORIGIN",
        "Cache-Control": "no-store",
    }
    return HTMLResponse(f'<!doctype html><meta charset="utf-8">{found.html}', headers=headers)


@router.get("/static/{name}")
async def static(request: Request) -> Response:
    name = request.path_params["name"]  # read here, as the help centre reads its slugs: only known names pass
    kinds = {"console.css": "text/css", "console.js": "text/javascript", "favicon.svg": "image/svg+xml"}
    if name not in kinds:
        raise PageRefused(404, "Not found", "There is no such file.")
    return pages.asset("app.console", name, kinds[name])


def _id(value: str | None) -> int | None:
    """A form's or query's id: digits, 1 to MAX_ID; anything else is no id."""
    if value is None or not re.fullmatch(r"[0-9]{1,10}", value):
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ID else None


def _invalid(message: str) -> AppError:
    return InvalidInput(message)
