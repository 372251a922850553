"""`routedesk report`: the summary of a window of days, as a table, CSV or JSON."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import MISCONFIGURED, cli, fail, in_session, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.reports.schemas import SenderTrustRead, SummaryRead, TrustCounts
    from app.reports.service import Window
    from app.runtime import Runtime

FORMATS = ("table", "csv", "json")


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} must be a date (2026-01-31), not {value!r}", MISCONFIGURED) from None


def _window(start: str | None, end: str | None) -> Window:
    """The report's window from --from and --to, or one line and exit 2."""
    if start is None or end is None:
        fail("--from and --to are both needed (dates, e.g. --from 2026-01-01 --to 2026-03-31)", MISCONFIGURED)
    first, last = _day(start, "--from"), _day(end, "--to")
    from app.errors import InvalidInput
    from app.reports import service as reports

    try:
        return reports.window(first, last)
    except InvalidInput as exc:
        raise fail(exc.detail, MISCONFIGURED) from None


@cli.command("report")
def report(
    start: Annotated[str | None, typer.Option("--from", help="First day (UTC), e.g. 2026-01-01")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, included")] = None,
    area: Annotated[str | None, typer.Option("--area", help="Only this area's tickets")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only tickets this user holds")] = None,
    priority: Annotated[str | None, typer.Option("--priority", help="low, normal, high or urgent")] = None,
    output: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """The summary of the tickets of a window of days: volume, reply and resolution times, SLA
    compliance, one-touch and reopen rates, routing; in all, by area and by agent."""
    if output not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, not {output!r}", MISCONFIGURED)
    span = _window(start, end)
    from app.errors import InvalidInput
    from app.reports import service as reports

    settings = load_settings()

    async def summary(session: AsyncSession, _runtime: Runtime) -> SummaryRead | str:
        try:
            by = await reports.filters(session, area=area, agent=agent, priority=priority)
        except InvalidInput as exc:
            return exc.detail
        return await reports.summary(session, span, by)

    found = in_session(settings, summary)
    if isinstance(found, str):
        fail(found, MISCONFIGURED)
    if output == "json":
        typer.echo(json.dumps(found.model_dump(mode="json", by_alias=True), indent=2))
    elif output == "csv":
        typer.echo(reports.summary_csv(found, newline="\n"), nl=False)
    else:
        typer.echo(table(found))


# The table's rows: a label and the figure's name, in the order a reader takes them.
ROWS = (
    ("tickets created", "created"),
    ("tickets solved", "solved"),
    ("backlog at the end", "backlog"),
    ("first reply median (min)", "first_reply_median_minutes"),
    ("first reply p90 (min)", "first_reply_p90_minutes"),
    ("first reply median (business min)", "first_reply_median_business_minutes"),
    ("first reply p90 (business min)", "first_reply_p90_business_minutes"),
    ("resolution median (min)", "resolution_median_minutes"),
    ("resolution p90 (min)", "resolution_p90_minutes"),
    ("resolution median (business min)", "resolution_median_business_minutes"),
    ("resolution p90 (business min)", "resolution_p90_business_minutes"),
    ("first reply SLA compliance", "first_reply_compliance"),
    ("next reply SLA compliance", "next_reply_compliance"),
    ("resolution SLA compliance", "resolution_compliance"),
    ("one-touch resolution", "one_touch_rate"),
    ("reopen rate", "reopen_rate"),
    ("routed by rule", "routed_by_rule"),
    ("routed by model", "routed_by_model"),
    ("routed by fallback", "routed_by_fallback"),
    ("re-routed by agents", "rerouted_rate"),
    ("CSAT surveys sent", "surveys_sent"),
    ("CSAT survey responses", "survey_responses"),
    ("CSAT good ratings", "csat_good"),
    ("CSAT bad ratings", "csat_bad"),
    ("CSAT", "csat"),
    ("CSAT response rate", "response_rate"),
    ("contacts (gross)", "contacts"),
    ("contacts (net: customers)", "contacts_net"),
    ("repeat contacts", "repeat_contacts"),
    ("repeat contact rate", "repeat_contact_rate"),
)
_SHARES = frozenset(
    name for _, name in ROWS if name.endswith(("_rate", "_compliance")) or "routed_by" in name or name == "csat"
)


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name in _SHARES:
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def table(found: SummaryRead) -> str:
    """The figures as rows, the groups as columns: all, then each area, then each agent."""
    columns: list[tuple[str, dict[str, Any]]] = [("all", found.total.model_dump())]
    columns += [(f"area {g.name}", g.model_dump()) for g in found.by_area]
    columns += [(f"agent {g.name or '(nobody)'}", g.model_dump()) for g in found.by_agent]
    cells = [[label, *(_cell(name, values[name]) for _, values in columns)] for label, name in ROWS]
    header = ["", *(title for title, _ in columns)]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]
    filters = ", ".join(
        f"{k} {v}" for k, v in (("area", found.area), ("agent", found.agent), ("priority", found.priority)) if v
    )
    lines = [f"Tickets created {found.start} to {found.end} (UTC){': ' + filters if filters else ''}", ""]
    for row in [header, *cells]:
        lines.append(
            "  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])
        )
    return "\n".join(lines)


@cli.command("sender-trust")
def sender_trust(
    start: Annotated[str | None, typer.Option("--from", help="First day (UTC), e.g. 2026-01-01")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, included")] = None,
    output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Verified, unverified and failed customer messages of the tickets created in a window of days, by
    mailbox and by sender domain: which customers send unauthenticated mail."""
    if output not in ("table", "json"):
        fail(f"--format must be table or json, not {output!r}", MISCONFIGURED)
    span = _window(start, end)
    from app.reports import service as reports

    async def counts(session: AsyncSession, _runtime: Runtime) -> SenderTrustRead:
        return await reports.sender_trust(session, span)

    found = in_session(load_settings(), counts)
    if output == "json":
        typer.echo(json.dumps(found.model_dump(mode="json", by_alias=True), indent=2))
        return
    lines = [f"sender trust of the tickets created {found.start} to {found.end}"]
    header = f"{'':<40} {'tickets':>8} {'verified':>9} {'unverified':>11} {'failed':>7} {'spoofs':>7}"

    def line(label: str, c: TrustCounts) -> str:
        return (
            f"{label[:40]:<40} {c.tickets:>8} {c.verified:>9} {c.unverified:>11} {c.failed:>7} {c.possible_spoofs:>7}"
        )

    lines += ["", "by mailbox", header, line("all", found.total)]
    lines += [line(m.mailbox or "(no mailbox)", m) for m in found.by_mailbox]
    lines += ["", "by sender domain", header]
    lines += [line(d.sender_domain or "(no sender)", d) for d in found.by_sender_domain]
    typer.echo("\n".join(lines))
