"""The admins' pages of the console: SLA schedules, the router (versions side by side, the confusion
matrix, training with its progress, activation and rollback), users and tokens, and the reports with
charts; the configuration pages (areas and their SLA policies, rules, macros, articles, mailboxes) are
in config.py. Each page checks the admin role (`Admin`) and each form the session's CSRF token, and each
change is a call into the service the JSON API's admin routes call."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.console import charts
from app.console.admin import config
from app.console.admin.config import reason
from app.console.pages import Admin, PageRefused, page, read_form
from app.console.sessions import SignedIn
from app.db import MAX_ID, SessionDep
from app.errors import AppError, InvalidInput
from app.kb import reports as kb_reports
from app.reports import service as reports
from app.reports.schemas import Interval
from app.routing import training
from app.runtime import RuntimeDep
from app.sla import service as sla
from app.sla.schemas import IntervalWrite, ScheduleWrite
from app.tickets import service as tickets
from app.users import service as users

router = APIRouter(prefix="/console/admin", include_in_schema=False)
router.include_router(config.router)

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HOURS_LINE = re.compile(r"^\s*([A-Za-z]{3})\s+(.+?)\s*$")
_SPAN = re.compile(r"^(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})$")
SCHEDULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
REPORT_DAYS = 30
CHARTED = (
    ("created", "Tickets created per day", None),
    ("first_reply_median_minutes", "First reply, median minutes", None),
    ("first_reply_p90_minutes", "First reply, 90th percentile minutes", None),
    ("first_reply_compliance", "First-reply SLA compliance", 1.0),
    ("csat", "CSAT (good / rated)", 1.0),
    ("contacts", "Contacts per day", None),
)


@router.get("", response_class=HTMLResponse)
async def index(who: Admin, runtime: RuntimeDep) -> HTMLResponse:
    return page("admin/index.html", who=who, now=runtime.clock(), title="Admin")


# SLA schedules


def week_text(intervals: list[Any]) -> str:
    """A schedule's week as the form shows it: one line per day, `Mon 09:00-12:00, 13:00-17:00`."""
    days: dict[int, list[str]] = {}
    for i in intervals:
        days.setdefault(i.weekday, []).append(f"{i.start}-{i.end}")
    return "\n".join(f"{DAYS[d]} {', '.join(spans)}" for d, spans in sorted(days.items()))


def parse_week(text: str) -> list[IntervalWrite]:
    """The form's week text back into intervals; a line that is not `Day HH:MM-HH:MM[, ...]` is refused."""
    found = []
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        line = _HOURS_LINE.match(raw)
        day = line.group(1).capitalize() if line else ""
        if line is None or day not in DAYS:
            raise InvalidInput(f"line {n}: start with a day (Mon .. Sun), then hours such as 09:00-17:00")
        for span in line.group(2).split(","):
            hours = _SPAN.match(span.strip())
            if hours is None:
                raise InvalidInput(f"line {n}: {span.strip()[:20]!r} is not hours such as 09:00-17:00")
            found.append(IntervalWrite(weekday=DAYS.index(day), start=hours.group(1), end=hours.group(2)))
    if not found:
        raise InvalidInput("give at least one day's hours, such as Mon 09:00-17:00")
    return found


async def _schedules_page(
    session: AsyncSession, who: SignedIn, runtime: RuntimeDep, *, error: str | None = None, status: int = 200,
    draft: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    schedules = [await sla.schedule_read(session, s) for s in await sla.list_schedules(session)]
    return page(
        "admin/schedules.html",
        status=status,
        who=who,
        now=runtime.clock(),
        schedules=[(s, week_text(s.intervals)) for s in schedules],
        policies=await sla.policy_reads(session),
        error=error,
        draft=draft or {},
        title="SLA schedules",
    )


@router.get("/schedules", response_class=HTMLResponse)
async def schedules(who: Admin, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    return await _schedules_page(session, who, runtime)


@router.post("/schedules")
async def save_schedule(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> Response:
    fields = await read_form(request, who)
    name, zone, week = fields.get("name", "").strip(), fields.get("zone", "").strip(), fields.get("week", "")
    try:
        async with session.begin_nested():
            if not SCHEDULE_NAME.fullmatch(name):
                raise InvalidInput("a schedule's name is letters, digits, '.', '_' and '-', at most 64")
            await sla.put_schedule(session, name, ScheduleWrite(zone=zone, intervals=parse_week(week)))
    except (AppError, ValidationError) as exc:
        draft = {"name": name[:64], "zone": zone[:64], "week": week[:4000]}
        return await _schedules_page(session, who, runtime, error=reason(exc), status=422, draft=draft)
    return RedirectResponse(f"/console/admin/schedules#schedule-{name}", status_code=303)


@router.post("/schedules/{name}/holidays")
async def add_holiday(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> Response:
    fields = await read_form(request, who)
    name = request.path_params["name"]  # read here: a name that is no schedule's name is the 404 page
    if not SCHEDULE_NAME.fullmatch(name):
        raise PageRefused(404, "No such schedule", "There is no schedule of that name.")
    try:
        async with session.begin_nested():
            schedule = await sla.get_schedule(session, name)
            try:
                day = date.fromisoformat(fields.get("day", ""))
            except ValueError:
                raise InvalidInput("a holiday is a date, such as 2026-12-25") from None
            await sla.add_holidays(session, schedule, [(day, fields.get("holiday_name", "").strip()[:200])])
    except AppError as exc:
        return await _schedules_page(session, who, runtime, error=reason(exc), status=exc.status_code)
    return RedirectResponse(f"/console/admin/schedules#schedule-{name}", status_code=303)


# The router


@router.get("/router", response_class=HTMLResponse)
async def router_page(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    return await _router_page(session, who, runtime, shown=request.query_params.get("version"))


async def _router_page(
    session: AsyncSession, who: SignedIn, runtime: RuntimeDep, *, shown: str | None = None,
    error: str | None = None, status: int = 200,
) -> HTMLResponse:  # fmt: skip
    versions = await training.list_versions(session)
    chosen = next((v for v in versions if v.version == shown), None) or next((v for v in versions if v.active), None)
    if chosen is None and versions:
        chosen = versions[0]
    heatmap = curve = None
    if chosen is not None:
        matrix = chosen.metrics.get("confusion") if isinstance(chosen.metrics, dict) else None
        if isinstance(matrix, dict) and matrix.get("labels") and matrix.get("matrix"):
            heatmap = charts.confusion(matrix["labels"], matrix["matrix"])
        points = chosen.metrics.get("coverage_curve") if isinstance(chosen.metrics, dict) else None
        if isinstance(points, list) and points:
            by_threshold = [(f"{p['threshold']:.2f}", p) for p in points]
            curve = (
                charts.line("Share routed automatically", [(t, p["routed"]) for t, p in by_threshold], y_max=1.0),
                charts.line("Accuracy of what is routed", [(t, p["accuracy"]) for t, p in by_threshold], y_max=1.0),
            )
    today = runtime.clock().date()
    span = reports.window(today - timedelta(days=REPORT_DAYS - 1), today)
    overrides = (await reports.summary(session, span, reports.Filters())).by_area
    return page(
        "admin/router.html",
        status=status,
        who=who,
        now=runtime.clock(),
        versions=versions,
        chosen=chosen,
        heatmap=heatmap,
        curve=curve,
        overrides=overrides,
        report_days=REPORT_DAYS,
        error=error,
        title="Router",
    )


@router.post("/router/train")
async def train(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> Response:
    fields = await read_form(request, who)
    try:
        async with session.begin_nested():
            job = await training.enqueue_training(
                session,
                training.TrainingSource(from_tickets=True),
                activate=fields.get("activate") == "yes",
                create_areas=False,
                actor=f"admin:{who.user.name}",
            )
    except AppError as exc:
        return await _router_page(session, who, runtime, error=exc.detail, status=exc.status_code)
    return RedirectResponse(f"/console/admin/jobs/{job.id}", status_code=303)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(
    job_id: Annotated[int, Path(ge=1, le=MAX_ID)], who: Admin, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    try:
        job = await training.get_job(session, job_id)
    except AppError as exc:
        raise PageRefused(exc.status_code, "No such job", exc.detail) from exc
    return page("admin/job.html", who=who, now=runtime.clock(), job=job, title=f"Training job {job.id}")


@router.post("/router/activate")
async def activate(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> Response:
    fields = await read_form(request, who)
    version = fields.get("version", "")
    try:
        async with session.begin_nested():
            if fields.get("rollback") == "yes":
                await training.rollback(session)
            else:
                await training.activate(session, version, create_areas=fields.get("create_areas") == "yes")
    except AppError as exc:
        return await _router_page(session, who, runtime, shown=version, error=exc.detail, status=exc.status_code)
    return RedirectResponse("/console/admin/router", status_code=303)


# Users and tokens


@router.get("/users", response_class=HTMLResponse)
async def users_page(who: Admin, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    return await _users_page(session, who, runtime)


async def _users_page(
    session: AsyncSession, who: SignedIn, runtime: RuntimeDep, *, token: tuple[str, str] | None = None,
    error: str | None = None, status: int = 200,
) -> HTMLResponse:  # fmt: skip
    listed = await users.listing(session, offset=0, limit=500)
    return page(
        "admin/users.html", status=status, who=who, now=runtime.clock(), users=listed, token=token, error=error,
        roles=users.ROLES, title="Users",
    )  # fmt: skip


@router.post("/users")
async def user_action(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> Response:
    """Add a user, rotate a token or revoke one; a new token is shown once, on the page this answers."""
    fields = await read_form(request, who)
    action, name = fields.get("action", ""), fields.get("name", "").strip()
    try:
        async with session.begin_nested():
            if action == "add":
                if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name):
                    raise InvalidInput("a user's name is letters, digits, '.', '_' and '-', at most 100")
                email = fields.get("email", "").strip()
                if not re.fullmatch(r"[^@\s]{1,64}@[^@\s]{1,255}", email):
                    raise InvalidInput("give the user's email address")
                user, token = await users.create_user(session, name=name, email=email, role=fields.get("role", ""))
            elif action == "rotate":
                user, token = await users.rotate_token(session, name)
            elif action == "revoke":
                await users.revoke(session, name)
                return RedirectResponse("/console/admin/users", status_code=303)
            else:
                raise InvalidInput("choose add, rotate or revoke")
    except AppError as exc:
        return await _users_page(session, who, runtime, error=exc.detail, status=exc.status_code)
    return await _users_page(session, who, runtime, token=(user.name, token))


# Reports


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    today = runtime.clock().date()
    try:
        end = date.fromisoformat(request.query_params.get("to") or today.isoformat())
        start = date.fromisoformat(
            request.query_params.get("from") or (end - timedelta(days=REPORT_DAYS - 1)).isoformat()
        )
        span = reports.window(start, end)
    except (ValueError, AppError) as exc:
        message = exc.detail if isinstance(exc, AppError) else "dates are YYYY-MM-DD"
        raise PageRefused(400, "Report not shown", message) from exc
    summary = await reports.summary(session, span, reports.Filters())
    deflection = await kb_reports.articles_report(session, span, area=None)
    lines = []
    for metric, title, y_max in CHARTED:
        series = await reports.timeseries(session, span, reports.Filters(), metric=metric, interval=Interval.DAY)
        lines.append(
            charts.line(title, [(p.start.strftime("%m-%d"), _value(p.value)) for p in series.points], y_max=y_max)
        )
    return page(
        "admin/reports.html", who=who, now=runtime.clock(), summary=summary, lines=lines, start=span.start,
        end=span.end, deflection=deflection, title="Reports",
    )  # fmt: skip


@router.get("/reports.csv")
async def reports_csv(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> Response:
    try:
        span = reports.window(
            date.fromisoformat(request.query_params.get("from", "")),
            date.fromisoformat(request.query_params.get("to", "")),
        )
    except (ValueError, AppError) as exc:
        message = exc.detail if isinstance(exc, AppError) else "dates are YYYY-MM-DD"
        raise PageRefused(400, "Report not shown", message) from exc
    body = reports.summary_csv(await reports.summary(session, span, reports.Filters()))
    disposition = f'attachment; filename="routedesk-report-{span.start}-{span.end}.csv"'
    return Response(body, media_type="text/csv", headers={"Content-Disposition": disposition})


@router.get("/doc-gaps", response_class=HTMLResponse)
async def doc_gaps(request: Request, who: Admin, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    """What to write next: groups of the window's tickets no article answered, each with example tickets."""
    today = runtime.clock().date()
    try:
        end = date.fromisoformat(request.query_params.get("to") or today.isoformat())
        default_start = end - timedelta(days=REPORT_DAYS - 1)
        span = reports.window(date.fromisoformat(request.query_params.get("from") or default_start.isoformat()), end)
    except (ValueError, AppError) as exc:
        message = exc.detail if isinstance(exc, AppError) else "dates are YYYY-MM-DD"
        raise PageRefused(400, "Report not shown", message) from exc
    from app.kb import gaps  # scikit-learn: imported by the pages that cluster, as by the API's handler

    found = await gaps.doc_gaps(session, span, area=None, cache=runtime.help_centre)
    examples = {ref: await tickets.ticket_id_for_reference(session, ref) for g in found.groups for ref in g.examples}
    return page(
        "admin/doc_gaps.html", who=who, now=runtime.clock(), found=found, examples=examples, start=span.start,
        end=span.end, title="Docs to write",
    )  # fmt: skip


def _value(value: int | float | None) -> float | None:
    return None if value is None else float(value)
