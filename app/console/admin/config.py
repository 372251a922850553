"""The admins' configuration pages: areas with their SLA policies, routing rules, macros, help-centre
articles (with a preview rendered by the help centre's own renderer) and mailboxes (secrets write-only).

Each form is read with the session's CSRF token (`read_form`), turned into the JSON API's own request
schema and handed to the service its admin route calls, in a savepoint: a refusal re-shows the page
with the service's reason and nothing changed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.console.pages import Admin, PageRefused, page, read_form
from app.console.sessions import SignedIn
from app.db import MAX_ID, SessionDep
from app.errors import AppError, InvalidInput
from app.inbox import mailboxes
from app.inbox.schemas import MailboxCheck, MailboxCreate, MailboxUpdate
from app.kb import service as kb
from app.kb.render import render_markdown
from app.kb.schemas import BODY_MAX, ArticleCreate, ArticleUpdate
from app.macros import service as macros
from app.macros.render import PLACEHOLDERS, placeholders_in
from app.macros.schemas import MacroCreate, MacroUpdate
from app.routing import service as routing
from app.routing.schemas import AreaCreate, AreaUpdate, RuleCreate
from app.runtime import RuntimeDep
from app.sla import service as sla
from app.sla.models import Metric, Priority
from app.sla.schemas import PolicyWrite

router = APIRouter()

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
LISTED = 500
METRICS = tuple(m.value for m in Metric)
PRIORITIES = tuple(p.value for p in Priority)
MAILBOX_TEXT = (
    "imap_host", "imap_port", "imap_security", "imap_username", "folder", "address", "from_name",
    "smtp_host", "smtp_port", "smtp_security", "smtp_username",
)  # fmt: skip


def reason(exc: AppError | ValidationError) -> str:
    """What the page says of a refusal: the service's detail, or the schema's first complaint."""
    if isinstance(exc, AppError):
        return exc.detail
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def _status(exc: AppError | ValidationError) -> int:
    return exc.status_code if isinstance(exc, AppError) else 422


def _given(fields: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """The fields filled in, stripped: a blank one is not sent, as a JSON client leaves it out."""
    return {n: fields[n].strip() for n in names if fields.get(n, "").strip()}


async def _change(
    session: AsyncSession, work: Callable[[], Awaitable[Any]], shown: Callable[[str, int], Awaitable[Response]]
) -> Response | None:
    """Runs a change in a savepoint; on a refusal, the page `shown` gives with its reason, else None."""
    try:
        async with session.begin_nested():
            await work()
    except (AppError, ValidationError) as exc:
        return await shown(reason(exc), _status(exc))
    return None


def _area_name(request: Request) -> str:
    name = request.path_params["name"]  # read here: a name that is no area's name is the 404 page
    if not routing.is_area_name(name):
        raise PageRefused(404, "No such area", "There is no area of that name.")
    return str(name)


# Areas and their SLA policies


async def _areas_page(
    session: AsyncSession, who: SignedIn, runtime: RuntimeDep, *, error: str | None = None, status: int = 200,
    draft: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    policies = {p.area: p for p in await sla.policy_reads(session)}
    return page(
        "admin/areas.html", status=status, who=who, now=runtime.clock(), areas=await routing.list_areas(session),
        policies=policies, schedules=[s.name for s in await sla.list_schedules(session)], priorities=PRIORITIES,
        metrics=METRICS, error=error, draft=draft or {}, title="Areas and SLA policies",
    )  # fmt: skip


@router.get("/areas", response_class=HTMLResponse)
async def areas(who: Admin, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    return await _areas_page(session, who, runtime)


AREA_FIELDS = (
    "title", "description", "first_response_minutes", "resolution_minutes", "threshold", "survey_delay_minutes",
)  # fmt: skip


@router.post("/areas")
async def create_area(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> Response:
    fields = await read_form(request, who)
    data: dict[str, Any] = {"name": fields.get("name", "").strip(), **_given(fields, AREA_FIELDS)}
    data["acknowledge"] = fields.get("acknowledge") == "yes"
    data["hold_failed_mail"] = fields.get("hold_failed_mail") == "yes"

    async def shown(error: str, status: int) -> Response:
        draft = {k: str(v)[:2000] for k, v in data.items()}
        return await _areas_page(session, who, runtime, error=error, status=status, draft=draft)

    refused = await _change(session, lambda: routing.create_area(session, AreaCreate.model_validate(data)), shown)
    return refused or RedirectResponse(f"/console/admin/areas#area-{data['name']}", status_code=303)


@router.post("/areas/{name}")
async def change_area(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> Response:
    """Save an area's fields, archive, unarchive or delete it: the `action` field says which."""
    fields = await read_form(request, who)
    name, action = _area_name(request), fields.get("action", "")

    async def work() -> None:
        area = await routing.get_area(session, name)
        if action == "save":
            changes: dict[str, Any] = {"title": "", "description": "", **_given(fields, AREA_FIELDS)}
            changes["acknowledge"] = fields.get("acknowledge") == "yes"
            changes["hold_failed_mail"] = fields.get("hold_failed_mail") == "yes"
            changes.setdefault("threshold", None)
            await routing.update_area(session, area, AreaUpdate.model_validate(changes))
        elif action == "archive":
            await routing.archive_area(session, area)
        elif action == "unarchive":
            await routing.unarchive_area(session, area)
        elif action == "delete":
            await routing.delete_area(session, area)
        else:
            raise InvalidInput("choose save, archive, unarchive or delete")

    async def shown(error: str, status: int) -> Response:
        return await _areas_page(session, who, runtime, error=f"{name}: {error}", status=status)

    refused = await _change(session, work, shown)
    anchor = "" if action == "delete" else f"#area-{name}"
    return refused or RedirectResponse(f"/console/admin/areas{anchor}", status_code=303)


@router.post("/areas/{name}/policy")
async def change_policy(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> Response:
    """Put an area's SLA policy (targets per priority and metric, calendar time or a schedule's business
    hours) or delete it: the area then goes back to its own two targets."""
    fields = await read_form(request, who)
    name = _area_name(request)

    async def work() -> None:
        area = await routing.get_area(session, name)
        if fields.get("action") == "delete":
            await sla.delete_policy(session, area)
            return
        targets: dict[str, dict[str, str]] = {}
        for priority in PRIORITIES:
            given = _given(fields, tuple(f"{priority}.{metric}" for metric in METRICS))
            if given:
                targets[priority] = {key.split(".", 1)[1]: value for key, value in given.items()}
        schedule = fields.get("schedule", "").strip() or None
        data = {"business_hours": fields.get("business_hours") == "yes", "schedule": schedule, "targets": targets}
        await sla.put_policy(session, area, PolicyWrite.model_validate(data))

    async def shown(error: str, status: int) -> Response:
        return await _areas_page(session, who, runtime, error=f"{name}'s policy: {error}", status=status)

    refused = await _change(session, work, shown)
    return refused or RedirectResponse(f"/console/admin/areas#area-{name}", status_code=303)


# Routing rules


async def _rules_page(
    session: AsyncSession, who: SignedIn, runtime: RuntimeDep, *, error: str | None = None, status: int = 200,
    draft: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    return page(
        "admin/rules.html", status=status, who=who, now=runtime.clock(), rules=await routing.list_rules(session),
        areas=[a for a in await routing.list_areas(session) if a.active], priorities=PRIORITIES, error=error,
        draft=draft or {}, title="Routing rules",
    )  # fmt: skip


@router.get("/rules", response_class=HTMLResponse)
async def rules(who: Admin, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    return await _rules_page(session, who, runtime)


@router.post("/rules")
async def create_rule(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> Response:
    fields = await read_form(request, who)
    data = _given(fields, ("kind", "pattern", "area", "position", "priority"))

    async def shown(error: str, status: int) -> Response:
        draft = {k: v[:255] for k, v in data.items()}
        return await _rules_page(session, who, runtime, error=error, status=status, draft=draft)

    refused = await _change(session, lambda: routing.create_rule(session, RuleCreate.model_validate(data)), shown)
    return refused or RedirectResponse("/console/admin/rules", status_code=303)


@router.post("/rules/{rule_id}/delete")
async def delete_rule(request: Request, rule_id: Id, who: Admin, session: SessionDep, runtime: RuntimeDep) -> Response:
    await read_form(request, who)

    async def shown(error: str, status: int) -> Response:
        return await _rules_page(session, who, runtime, error=error, status=status)

    refused = await _change(session, lambda: routing.delete_rule(session, rule_id), shown)
    return refused or RedirectResponse("/console/admin/rules", status_code=303)


# Macros


async def _macros_page(
    session: AsyncSession, who: SignedIn, runtime: RuntimeDep, *, editing: Any = None, error: str | None = None,
    status: int = 200, draft: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    listed = await macros.list_macros(session, include_inactive=True, limit=LISTED)
    return page(
        "admin/macros.html", status=status, who=who, now=runtime.clock(),
        macros=[(m, placeholders_in(m.body)) for m in listed], editing=editing, placeholders=sorted(PLACEHOLDERS),
        areas=[a for a in await routing.list_areas(session) if a.active], error=error, draft=draft or {},
        title="Macros",
    )  # fmt: skip


@router.get("/macros", response_class=HTMLResponse)
async def macros_page(who: Admin, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    return await _macros_page(session, who, runtime)


@router.get("/macros/{macro_id}", response_class=HTMLResponse)
async def macro_page(macro_id: Id, who: Admin, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    try:
        macro = await macros.get_macro(session, macro_id)
    except AppError as exc:
        raise PageRefused(exc.status_code, "No such macro", exc.detail) from exc
    draft = {"title": macro.title, "body": macro.body, "area": macro.area or ""}
    return await _macros_page(session, who, runtime, editing=macro, draft=draft | {"active": "yes" * macro.active})


def _macro_fields(fields: dict[str, str]) -> dict[str, Any]:
    return {"title": fields.get("title", ""), "body": fields.get("body", ""), "area": fields.get("area") or None}


@router.post("/macros")
async def create_macro(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> Response:
    fields = await read_form(request, who)
    data = _macro_fields(fields)

    async def shown(error: str, status: int) -> Response:
        draft = {k: (v or "")[:BODY_MAX] for k, v in data.items()}
        return await _macros_page(session, who, runtime, error=error, status=status, draft=draft)

    work = lambda: macros.create_macro(session, data=MacroCreate.model_validate(data))  # noqa: E731
    return await _change(session, work, shown) or RedirectResponse("/console/admin/macros", status_code=303)


@router.post("/macros/{macro_id}")
async def change_macro(
    request: Request, macro_id: Id, who: Admin, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Save a macro's title, body, area and whether it is offered, or (`action=delete`) deactivate it, as
    the API's DELETE does: its uses stay counted."""
    fields = await read_form(request, who)
    data = _macro_fields(fields) | {"active": fields.get("active") == "yes"}
    delete = fields.get("action") == "delete"

    async def work() -> None:
        if delete:
            await macros.deactivate_macro(session, macro_id)
        else:
            await macros.update_macro(session, macro_id, changes=MacroUpdate.model_validate(data))

    async def shown(error: str, status: int) -> Response:
        try:
            editing = await macros.get_macro(session, macro_id)
        except AppError as exc:
            raise PageRefused(exc.status_code, "No such macro", exc.detail) from exc
        draft = {k: str(v or "")[:BODY_MAX] for k, v in data.items()} | {"active": "yes" * bool(data["active"])}
        return await _macros_page(session, who, runtime, editing=editing, error=error, status=status, draft=draft)

    return await _change(session, work, shown) or RedirectResponse("/console/admin/macros", status_code=303)


# Help-centre articles


async def _articles_page(
    session: AsyncSession, who: SignedIn, runtime: RuntimeDep, *, editing: Any = None, error: str | None = None,
    status: int = 200, draft: dict[str, str] | None = None, preview: Markup | None = None,
) -> HTMLResponse:  # fmt: skip
    return page(
        "admin/articles.html", status=status, who=who, now=runtime.clock(),
        articles=await kb.list_articles(session, limit=LISTED), editing=editing,
        areas=[a for a in await routing.list_areas(session) if a.active], error=error, draft=draft or {},
        preview=preview, body_max=BODY_MAX, title="Help-centre articles",
    )  # fmt: skip


@router.get("/articles", response_class=HTMLResponse)
async def articles(who: Admin, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    return await _articles_page(session, who, runtime)


async def _article(session: AsyncSession, article_id: int) -> Any:
    try:
        return await kb.get_article(session, article_id)
    except AppError as exc:
        raise PageRefused(exc.status_code, "No such article", exc.detail) from exc


@router.get("/articles/{article_id}", response_class=HTMLResponse)
async def article_page(article_id: Id, who: Admin, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    article = await _article(session, article_id)
    draft = {
        "title": article.title, "body": article.body, "slug": article.slug, "area": article.area or "",
        "tags": ", ".join(article.tags), "published": "yes" * article.published,
    }  # fmt: skip
    return await _articles_page(session, who, runtime, editing=article, draft=draft)


def _article_fields(fields: dict[str, str]) -> dict[str, Any]:
    """The form as the API's body; an empty slug is not sent (made from the title, or kept on an edit)."""
    data: dict[str, Any] = {
        "title": fields.get("title", ""),
        "body": fields.get("body", ""),
        "area": fields.get("area") or None,
        "tags": [t.strip() for t in fields.get("tags", "").split(",") if t.strip()],
        "published": fields.get("published") == "yes",
    }
    return data | ({"slug": fields["slug"].strip()} if fields.get("slug", "").strip() else {})


def _article_draft(fields: dict[str, str]) -> dict[str, str]:
    names = ("title", "body", "slug", "area", "tags")
    return {n: fields.get(n, "")[:BODY_MAX] for n in names} | {"published": "yes" * (fields.get("published") == "yes")}


def _preview(body: str) -> Markup:
    """The body as the help centre will show it: its renderer's sanitised HTML (app/kb/render.py)."""
    if len(body) > BODY_MAX:
        raise PageRefused(400, "Not previewed", f"an article's body is at most {BODY_MAX:,} characters")
    return Markup(render_markdown(body))  # noqa: S704  (nh3 has cleaned it: the help centre's own gate)


async def _save_article(
    request: Request, who: SignedIn, session: AsyncSession, runtime: RuntimeDep, article_id: int | None
) -> Response:
    fields = await read_form(request, who)
    editing = await _article(session, article_id) if article_id is not None else None
    draft = _article_draft(fields)
    if fields.get("action") == "preview":  # shown, not saved
        preview = _preview(fields.get("body", ""))
        return await _articles_page(session, who, runtime, editing=editing, draft=draft, preview=preview)
    data = _article_fields(fields)

    async def work() -> None:
        if article_id is None:
            await kb.create_article(session, data=ArticleCreate.model_validate(data))
        elif fields.get("action") == "delete":
            await kb.delete_article(session, article_id)
        else:
            await kb.update_article(session, article_id, changes=ArticleUpdate.model_validate(data))

    async def shown(error: str, status: int) -> Response:
        return await _articles_page(session, who, runtime, editing=editing, error=error, status=status, draft=draft)

    return await _change(session, work, shown) or RedirectResponse("/console/admin/articles", status_code=303)


@router.post("/articles")
async def create_article(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> Response:
    return await _save_article(request, who, session, runtime, None)


@router.post("/articles/{article_id}")
async def change_article(
    request: Request, article_id: Id, who: Admin, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Save, preview (rendered, not saved) or delete an article: the `action` field says which."""
    return await _save_article(request, who, session, runtime, article_id)


# Mailboxes


async def _mailboxes_page(
    session: AsyncSession, who: SignedIn, runtime: RuntimeDep, *, editing: Any = None, error: str | None = None,
    status: int = 200, draft: dict[str, str] | None = None, checks: list[MailboxCheck] | None = None,
) -> HTMLResponse:  # fmt: skip
    return page(
        "admin/mailboxes.html", status=status, who=who, now=runtime.clock(),
        mailboxes=await mailboxes.list_mailboxes(session), editing=editing, error=error, draft=draft or {},
        checks=checks, title="Mailboxes",
    )  # fmt: skip


async def _mailbox(session: AsyncSession, mailbox_id: int) -> Any:
    try:
        return await mailboxes.mailbox_read(session, await mailboxes.get_mailbox(session, mailbox_id))
    except AppError as exc:
        raise PageRefused(exc.status_code, "No such mailbox", exc.detail) from exc


def _mailbox_draft(source: BaseModel | dict[str, str]) -> dict[str, str]:
    """The form's values to show again: never a password (write-only), not even its length."""
    values = source.model_dump() if isinstance(source, BaseModel) else source
    shown = {k: values.get(k) for k in ("name", *MAILBOX_TEXT)}
    draft = {k: "" if v is None else str(v)[:320] for k, v in shown.items()}
    return draft | {"enabled": "yes" * bool(values.get("enabled", True) not in (False, "", None))}


@router.get("/mailboxes", response_class=HTMLResponse)
async def mailboxes_page(who: Admin, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    return await _mailboxes_page(session, who, runtime)


@router.get("/mailboxes/{mailbox_id}", response_class=HTMLResponse)
async def mailbox_page(mailbox_id: Id, who: Admin, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    mailbox = await _mailbox(session, mailbox_id)
    return await _mailboxes_page(session, who, runtime, editing=mailbox, draft=_mailbox_draft(mailbox))


@router.post("/mailboxes")
async def create_mailbox(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> Response:
    fields = await read_form(request, who)
    data: dict[str, Any] = {"name": fields.get("name", "").strip(), **_given(fields, MAILBOX_TEXT)}
    data["imap_password"] = fields.get("imap_password", "")
    if fields.get("smtp_password"):
        data["smtp_password"] = fields["smtp_password"]

    async def work() -> None:
        await mailboxes.create_mailbox(session, MailboxCreate.model_validate(data), secrets=runtime.secrets)

    async def shown(error: str, status: int) -> Response:
        draft = _mailbox_draft({k: v for k, v in fields.items() if "password" not in k})
        return await _mailboxes_page(session, who, runtime, error=error, status=status, draft=draft)

    return await _change(session, work, shown) or RedirectResponse("/console/admin/mailboxes", status_code=303)


@router.post("/mailboxes/{mailbox_id}")
async def change_mailbox(
    request: Request, mailbox_id: Id, who: Admin, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Save a mailbox (a password left empty keeps the stored one; `clear_smtp_password` removes the SMTP
    one), delete it, or test its servers with the stored settings: the `action` field says which."""
    fields = await read_form(request, who)
    editing = await _mailbox(session, mailbox_id)
    action = fields.get("action", "save")
    if action == "test":
        # The API's test: the network only, with what is stored (a form's unsaved edits are not tried).
        imap, smtp = await mailboxes.stored_servers(session, editing.name, secrets=runtime.secrets)
        checks = await mailboxes.check_servers(imap, smtp, settings=runtime.settings)
        return await _mailboxes_page(
            session, who, runtime, editing=editing, draft=_mailbox_draft(editing), checks=checks
        )
    # A blank optional field clears it (None), as a JSON client's null does; the required ones stay as sent.
    data: dict[str, Any] = {k: fields.get(k, "").strip() or None for k in MAILBOX_TEXT}
    data["enabled"] = fields.get("enabled") == "yes"
    if fields.get("imap_password"):
        data["imap_password"] = fields["imap_password"]
    if fields.get("smtp_password"):
        data["smtp_password"] = fields["smtp_password"]
    elif fields.get("clear_smtp_password") == "yes":
        data["smtp_password"] = None

    async def work() -> None:
        mailbox = await mailboxes.get_mailbox(session, mailbox_id)
        if action == "delete":
            await mailboxes.remove_mailbox(session, editing.name)
        elif action == "save":
            update = MailboxUpdate.model_validate(data)
            await mailboxes.update_mailbox(session, mailbox, update, secrets=runtime.secrets)
        else:
            raise InvalidInput("choose save, test or delete")

    async def shown(error: str, status: int) -> Response:
        draft = _mailbox_draft({k: v for k, v in fields.items() if "password" not in k} | {"name": editing.name})
        return await _mailboxes_page(session, who, runtime, editing=editing, error=error, status=status, draft=draft)

    return await _change(session, work, shown) or RedirectResponse("/console/admin/mailboxes", status_code=303)
