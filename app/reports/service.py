"""The reports a support team is judged by, from the fact table (see app/reports/repository.py).

A window is whole days in UTC, from `start` 00:00 to the end of `end`; time series intervals start at
UTC midnight (weeks on Monday) and are clipped to the window."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.csat import figures as csat
from app.errors import InvalidInput, NotFound
from app.reports import repository
from app.reports.models import TicketFact
from app.reports.repository import Filters as Filters  # the filters' type, for the domain's callers
from app.reports.schemas import (
    METRICS,
    DomainTrust,
    Figures,
    GroupFigures,
    Interval,
    MailboxTrust,
    Point,
    SenderTrustRead,
    SummaryRead,
    TimeseriesRead,
    TrustCounts,
)
from app.routing import service as routing
from app.sla.models import Priority
from app.users import service as users

MAX_DAYS = 366
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


@dataclass(frozen=True, slots=True)
class Window:
    start: date
    end: date  # included

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(), tzinfo=UTC)


def window(start: date | None, end: date | None) -> Window:
    """Both days given, in order, sensible, at most MAX_DAYS apart: a report over all time would read
    every ticket there is."""
    if start is None or end is None:
        raise InvalidInput("from and to are both needed (dates, e.g. from=2026-01-01&to=2026-03-31)")
    if end < start:
        raise InvalidInput(f"to ({end}) is before from ({start})")
    if start < EARLIEST or end > LATEST:
        raise InvalidInput(f"dates must be between {EARLIEST} and {LATEST}")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(f"a report covers at most {MAX_DAYS} days, not {(end - start).days + 1}")
    return Window(start, end)


async def filters(
    session: AsyncSession, *, area: str | None = None, agent: str | None = None, priority: str | None = None
) -> Filters:
    """The filters, each naming something that exists."""
    try:
        if area is not None:
            await routing.get_area(session, area)
        if agent is not None:
            await users.get(session, agent)
    except NotFound as exc:
        raise InvalidInput(exc.detail) from None
    if priority is not None and priority not in set(Priority):
        raise InvalidInput(f"priority must be one of {', '.join(Priority)}")
    return Filters(area=area, agent=agent, priority=priority)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _minutes(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def figures(
    counts: Mapping[str, int] | None, solved: int, backlog: int, percentiles: Mapping[str, float | None] | None
) -> dict[str, Any]:
    """The figures from a group's counts (repository.COUNTS) and percentiles; the one place a ratio
    is defined."""
    c: Mapping[str, int] = counts or dict.fromkeys(repository.COUNTS, 0)
    created = c["created"]
    found: dict[str, Any] = {
        "created": created,
        "solved": solved,
        "backlog": backlog,
        "first_reply_compliance": _share(
            c["first_reply_achieved"], c["first_reply_achieved"] + c["first_reply_breached"]
        ),
        "next_reply_compliance": _share(c["next_reply_achieved"], c["next_reply_achieved"] + c["next_reply_breached"]),
        "resolution_compliance": _share(c["resolution_achieved"], c["resolution_achieved"] + c["resolution_breached"]),
        "one_touch_rate": _share(c["one_touch"], c["solved_now"]),
        "reopen_rate": _share(c["reopened"], c["ever_solved"]),
        "routed_by_rule": _share(c["by_rule"], created),
        "routed_by_model": _share(c["by_model"], created),
        "routed_by_fallback": _share(c["by_fallback"], created),
        "rerouted_rate": _share(c["rerouted"], created),
    }
    for name, value in (percentiles or {}).items():
        found[name] = _minutes(value)
    return found


def _add(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for name, value in counts.items():
        into[name] = into.get(name, 0) + value


# Grouped by ids (names are looked up once for the groups found); the figures are by name.
_KEYS = {"area": TicketFact.__table__.c.area_id, "agent": TicketFact.__table__.c.assignee_id}
_SETS = ((), ("area",), ("agent",))


async def summary(session: AsyncSession, span: Window, by: Filters) -> SummaryRead:
    """The window's figures, for all tickets and by area and by agent (the ticket's assignee)."""
    await repository.prepare(session)
    start, end = span.since, span.until
    keys = list(_KEYS.values())
    counts = await repository.cohort_counts(session, start=start, end=end, filters=by, keys=keys)
    closing = await repository.solved_and_backlog(session, start=start, end=end, filters=by, keys=keys)
    ranks = await repository.percentiles(session, start=start, end=end, filters=by, keys=_KEYS, sets=_SETS)
    pairs = set(counts) | set(closing)
    area_names, agent_names = await repository.names(
        session, areas={a for a, _ in pairs}, agents={u for _, u in pairs if u is not None}
    )
    of_id = {"area": area_names, "agent": agent_names}
    ranks = [
        {tuple(of_id[n].get(v) for n, v in zip(names, key, strict=True)): found for key, found in groups.items()}
        for names, groups in zip(_SETS, ranks, strict=True)
    ]
    # Counts add up: roll the (area, agent) groups up to each grouping.
    rolled: list[dict[tuple[Any, ...], tuple[dict[str, int], list[int]]]] = [{} for _ in _SETS]
    for key in pairs:
        named = dict(zip(_KEYS, key, strict=True))
        for i, names in enumerate(_SETS):
            group = tuple(of_id[n].get(named[n]) for n in names)
            summed, ends = rolled[i].setdefault(group, ({}, [0, 0]))
            if key in counts:
                _add(summed, counts[key])
            solved, backlog = closing.get(key, (0, 0))
            ends[0] += solved
            ends[1] += backlog

    satisfaction = await csat.figures(session, start=start, end=end, area=by.area, agent=by.agent, priority=by.priority)
    for i, grouping in enumerate(csat.GROUPINGS):
        for name in satisfaction[grouping]:
            rolled[i].setdefault(() if i == 0 else (name,), ({}, [0, 0]))

    def of(i: int, group: tuple[Any, ...]) -> dict[str, Any]:
        summed, (solved, backlog) = rolled[i].get(group, ({}, [0, 0]))
        found = figures(summed or None, solved, backlog, ranks[i].get(group))
        found.update(satisfaction[csat.GROUPINGS[i]].get(group if i == 0 else group[0], csat.empty()))
        return found

    def groups(i: int) -> list[GroupFigures]:
        names = sorted(rolled[i], key=lambda g: (g[0] is None, g[0] or ""))
        return [GroupFigures(name=g[0], **of(i, g)) for g in names]

    return SummaryRead(
        start=span.start,
        end=span.end,
        area=by.area,
        agent=by.agent,
        priority=by.priority,
        total=Figures(**of(0, ())),
        by_area=groups(1),
        by_agent=groups(2),
    )


CSV_COLUMNS = ("group", "name", *METRICS)


def summary_csv(report: SummaryRead, *, newline: str = "\r\n") -> str:
    """One row per group: the total, each area, each agent (an empty name: tickets nobody holds).
    Lines end as RFC 4180 says over HTTP; the CLI prints them with the terminal's newline."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(CSV_COLUMNS)

    def row(group: str, name: str | None, values: Figures) -> None:
        data = values.model_dump()
        writer.writerow([group, name or "", *("" if data[m] is None else data[m] for m in METRICS)])

    row("total", "", report.total)
    for found in report.by_area:
        row("area", found.name, found)
    for found in report.by_agent:
        row("agent", found.name, found)
    return out.getvalue()


# A series reads only what its figure is made of: the percentile's measure, or these counts
# (repository.COUNTS' names; a figure not named here gets them all).
_MEASURE_OF = {name.format(label): name for name in repository.MEASURES for label in repository.FRACTIONS}
_COUNTS_OF: dict[str, tuple[str, ...]] = {
    "created": ("created",),
    "solved": (),
    "backlog": ("created",),
    "first_reply_compliance": ("first_reply_achieved", "first_reply_breached"),
    "next_reply_compliance": ("next_reply_achieved", "next_reply_breached"),
    "resolution_compliance": ("resolution_achieved", "resolution_breached"),
    "one_touch_rate": ("one_touch", "solved_now"),
    "reopen_rate": ("reopened", "ever_solved"),
    "routed_by_rule": ("by_rule", "created"),
    "routed_by_model": ("by_model", "created"),
    "routed_by_fallback": ("by_fallback", "created"),
    "rerouted_rate": ("rerouted", "created"),
}


async def timeseries(
    session: AsyncSession, span: Window, by: Filters, *, metric: str, interval: Interval
) -> TimeseriesRead:
    """One figure per interval of the window, every interval present (zero counts, None shares)."""
    if metric not in METRICS:
        raise InvalidInput(f"metric must be one of {', '.join(METRICS)}")
    await repository.prepare(session)
    width = timedelta(days=7 if interval == Interval.WEEK else 1)
    origin = span.since - timedelta(days=span.start.weekday() if interval == Interval.WEEK else 0)
    starts = list(_starts(origin, span.until, width))
    if metric in csat.NAMES:
        # One window per interval: these figures read their own tables (app/csat/figures.py).
        points = []
        for point in starts:
            since, until = max(point, span.since), min(point + width, span.until)
            value = await csat.one(
                session, metric, start=since, end=until, area=by.area, agent=by.agent, priority=by.priority
            )
            points.append(Point(start=since, value=value))
        return TimeseriesRead(metric=metric, interval=interval, start=span.start, end=span.end, points=points)
    seconds = int(width.total_seconds())
    start, end = span.since, span.until
    facts = TicketFact.__table__
    created_bucket = repository.bucket(session, facts.c.created_at, origin=origin, width_seconds=seconds)
    counts: dict[tuple[Any, ...], dict[str, int]] = {}
    ranks: dict[tuple[Any, ...], dict[str, float | None]] = {}
    solved: dict[Any, int] = {}
    opening = 0
    if metric in _MEASURE_OF:
        (ranks,) = await repository.percentiles(
            session,
            start=start,
            end=end,
            filters=by,
            keys={"bucket": created_bucket},
            sets=(("bucket",),),
            measures=[_MEASURE_OF[metric]],
        )
    else:
        names = _COUNTS_OF.get(metric)
        if names != ():
            grouped = await repository.cohort_counts(
                session, start=start, end=end, filters=by, keys=[created_bucket], names=names
            )
            zero = dict.fromkeys(repository.COUNTS, 0)
            counts = {key: {**zero, **values} for key, values in grouped.items()}
    if metric in ("solved", "backlog"):
        solved_bucket = repository.bucket(session, facts.c.solved_at, origin=origin, width_seconds=seconds)
        solved = await repository.solved_per(session, start=start, end=end, filters=by, key=solved_bucket)
    if metric == "backlog":
        opening = await repository.backlog_at(session, at=start, filters=by)
    points = []
    backlog = opening
    for i, point in enumerate(starts):
        found = counts.get((i,))
        backlog += (found["created"] if found else 0) - solved.get(i, 0)
        values = figures(found, solved.get(i, 0), backlog, ranks.get((i,)))
        points.append(Point(start=max(point, start), value=values.get(metric)))
    return TimeseriesRead(metric=metric, interval=interval, start=span.start, end=span.end, points=points)


def _starts(origin: datetime, until: datetime, width: timedelta) -> Iterable[datetime]:
    at = origin
    while at < until:
        yield at
        at += width


async def sender_trust(session: AsyncSession, window: Window) -> SenderTrustRead:
    """Verified, unverified and failed customer messages (and possible spoofs) of the window's tickets,
    in all, by mailbox and by sender domain: which customers send unauthenticated mail (issue 14)."""
    await repository.prepare(session)
    rows = await repository.sender_trust(session, start=window.since, end=window.until)
    total: dict[str, int] = dict.fromkeys(repository.TRUST_COUNTS, 0)
    mailboxes: dict[int | None, dict[str, int]] = {}
    domains: dict[str | None, dict[str, int]] = {}
    for mailbox_id, domain, counts in rows:
        for group in (
            total,
            mailboxes.setdefault(mailbox_id, dict.fromkeys(total, 0)),
            domains.setdefault(domain, dict.fromkeys(total, 0)),
        ):
            for name, value in counts.items():
                group[name] += value
    names = await repository.mailbox_names(session, {m for m in mailboxes if m is not None})
    return SenderTrustRead(
        start=window.start,
        end=window.end,
        total=TrustCounts(**total),
        by_mailbox=[
            MailboxTrust(mailbox_id=m, mailbox=names.get(m) if m is not None else None, **c)
            for m, c in sorted(mailboxes.items(), key=lambda item: (item[0] is None, item[0] or 0))
        ],
        by_sender_domain=[
            DomainTrust(sender_domain=d, **c)
            for d, c in sorted(
                domains.items(), key=lambda item: (-(item[1]["unverified"] + item[1]["failed"]), item[0] or "")
            )
        ],
    )
