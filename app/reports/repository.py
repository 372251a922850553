"""Every query of the reports. They read the fact table (`ticket_fact`, one row per ticket, kept by
`app/reports/facts.py`), whose figures are derived here once per change (`store_facts`) rather than per
report. Counts are summed in SQL by the finest grouping asked for and rolled up in Python (they add
up); percentiles do not add up, and are taken per group: by PostgreSQL's percentile_disc, or on SQLite
(which has none) from the ordered values, with the same nearest-rank definition (`nearest_rank`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.inbox.models import Mailbox
from app.reports.models import TicketFact
from app.routing.models import Area
from app.users.models import User

tf = TicketFact.__table__

# The measures whose median and 90th percentile the reports give, by the view's columns.
# Each name is the pattern of its figures' names: "first_reply_median_minutes", "..._p90_...".
MEASURES = {
    "first_reply_{}_minutes": tf.c.first_reply_calendar_minutes,
    "first_reply_{}_business_minutes": tf.c.first_reply_business_minutes,
    "resolution_{}_minutes": tf.c.resolution_calendar_minutes,
    "resolution_{}_business_minutes": tf.c.resolution_business_minutes,
}
FRACTIONS = {"median": 0.5, "p90": 0.9}


@dataclass(frozen=True, slots=True)
class Filters:
    area: str | None = None
    agent: str | None = None
    priority: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.area is not None:
            found.append(tf.c.area_id == select(Area.id).where(Area.name == self.area).scalar_subquery())
        if self.agent is not None:
            found.append(tf.c.assignee_id == select(User.id).where(User.name == self.agent).scalar_subquery())
        if self.priority is not None:
            found.append(tf.c.priority == self.priority)
        return found


def nearest_rank(ordered: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile: the value at rank ceil(fraction * n) of n ascending values, which
    is what PostgreSQL's percentile_disc returns (the first value whose cumulative share reaches it)."""
    if not ordered:
        return None
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def prepare(session: AsyncSession) -> None:
    """On PostgreSQL, no JIT for this transaction's report queries (over a million rows the planner's
    costs are high enough to compile them, which takes longer than running them), and memory enough
    to sort a window's values for its percentiles without spilling to disk (24 MB for 250,000
    tickets; the default 4 MB made it merge on disk). SET LOCAL ends with the transaction."""
    if _postgres(session):
        await session.execute(text("SET LOCAL jit = off"))
        await session.execute(text("SET LOCAL work_mem = '64MB'"))


def bucket(session: AsyncSession, column: Any, *, origin: datetime, width_seconds: int) -> ColumnElement[Any]:
    """Which interval of `width_seconds` from `origin` (UTC) a time falls in: 0, 1, 2..."""
    start = int(origin.timestamp())
    if _postgres(session):
        return cast(func.floor((func.extract("epoch", column) - start) / width_seconds), Integer)
    # SQLite stores UTC text; strftime('%s') reads it as whole seconds since the epoch.
    return (cast(func.strftime("%s", column), Integer) - start) // width_seconds


def _count(condition: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


COUNTS: Mapping[str, ColumnElement[Any]] = {
    "created": func.count(),
    "first_reply_achieved": _count(tf.c.first_reply_achieved),
    "first_reply_breached": _count(tf.c.first_reply_breached),
    "next_reply_achieved": func.coalesce(func.sum(tf.c.next_reply_achieved), 0),
    "next_reply_breached": func.coalesce(func.sum(tf.c.next_reply_breaches), 0),
    "resolution_achieved": _count(tf.c.resolution_achieved),
    "resolution_breached": _count(tf.c.resolution_breached),
    "solved_now": _count(tf.c.status == "solved"),
    "one_touch": _count(and_(tf.c.status == "solved", tf.c.public_reply_count == 1)),
    "reopened": _count(tf.c.reopen_count > 0),
    "ever_solved": _count(or_(tf.c.status == "solved", tf.c.reopen_count > 0)),
    "by_rule": _count(tf.c.routed_by == "rule"),
    "by_model": _count(tf.c.routed_by == "model"),
    "by_fallback": _count(tf.c.routed_by == "fallback"),
    "rerouted": _count(tf.c.rerouted),
}

Key = tuple[Any, ...]


async def cohort_counts(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    filters: Filters,
    keys: Sequence[ColumnElement[Any]],
    names: Sequence[str] | None = None,
) -> dict[Key, dict[str, int]]:
    """The counts (`names` of COUNTS, or all) of the tickets created in [start, end), per value of
    `keys`: one pass over the window's rows."""
    wanted = list(COUNTS) if names is None else list(names)
    query = (
        select(*keys, *(COUNTS[name].label(name) for name in wanted))
        .where(tf.c.created_at >= start, tf.c.created_at < end, *filters.conditions())
        .group_by(*keys)
    )
    found: dict[Key, dict[str, int]] = {}
    for row in await session.execute(query):
        values = tuple(row)
        found[values[: len(keys)]] = {name: int(v) for name, v in zip(wanted, values[len(keys) :], strict=True)}
    return found


async def solved_and_backlog(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    filters: Filters,
    keys: Sequence[ColumnElement[Any]],
) -> dict[Key, tuple[int, int]]:
    """Per value of `keys`: tickets solved in [start, end), and the backlog at `end` (created before it
    and not solved before it; a ticket's last solve counts, as the ticket row keeps only that one)."""
    solved = _count(and_(tf.c.solved_at >= start, tf.c.solved_at < end))
    backlog = _count(or_(tf.c.solved_at.is_(None), tf.c.solved_at >= end))
    query = (
        select(*keys, solved, backlog)
        .where(tf.c.created_at < end, or_(tf.c.solved_at.is_(None), tf.c.solved_at >= start), *filters.conditions())
        .group_by(*keys)
    )
    return {tuple(row)[: len(keys)]: (int(row[-2]), int(row[-1])) for row in await session.execute(query)}


async def solved_per(
    session: AsyncSession, *, start: datetime, end: datetime, filters: Filters, key: ColumnElement[Any]
) -> dict[Any, int]:
    query = (
        select(key, func.count())
        .where(tf.c.solved_at >= start, tf.c.solved_at < end, *filters.conditions())
        .group_by(key)
    )
    return {row[0]: int(row[1]) for row in await session.execute(query)}


async def backlog_at(session: AsyncSession, *, at: datetime, filters: Filters) -> int:
    query = select(func.count()).where(
        tf.c.created_at < at, or_(tf.c.solved_at.is_(None), tf.c.solved_at >= at), *filters.conditions()
    )
    return int(await session.scalar(query) or 0)


async def names(session: AsyncSession, *, areas: set[Any], agents: set[Any]) -> tuple[dict[int, str], dict[int, str]]:
    """The names of the areas and agents (users) whose ids the facts hold."""
    area_names = {row[0]: row[1] for row in await session.execute(select(Area.id, Area.name).where(Area.id.in_(areas)))}
    query = select(User.id, User.name).where(User.id.in_(agents))
    return area_names, {row[0]: row[1] for row in await session.execute(query)}


Percentiles = dict[str, float | None]


async def percentiles(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    filters: Filters,
    keys: Mapping[str, ColumnElement[Any]],
    sets: Sequence[Sequence[str]],
    measures: Sequence[str] | None = None,
) -> list[dict[Key, Percentiles]]:
    """For each grouping in `sets` (names of `keys`; () for all), per group: each measure's (`measures`
    of MEASURES, or all) median and 90th percentile (by figure name: "first_reply_median_minutes",
    ...) over the tickets created in [start, end)."""
    chosen = {m: MEASURES[m] for m in (measures if measures is not None else MEASURES)}
    window = [tf.c.created_at >= start, tf.c.created_at < end, *filters.conditions()]
    if _postgres(session):
        return await _postgres_percentiles(session, window, keys, sets, chosen)
    # SQLite: the few columns of the window's rows, once, sorted per group in Python.
    columns = list(keys)
    query = select(*keys.values(), *chosen.values()).where(*window)
    values: list[dict[Key, dict[str, list[float]]]] = [{} for _ in sets]
    positions = [[columns.index(n) for n in names] for names in sets]
    for row in await session.execute(query):
        measured = row[len(columns) :]
        for i, at in enumerate(positions):
            group = values[i].get(key := tuple(row[p] for p in at))
            if group is None:
                group = values[i][key] = {m: [] for m in chosen}
            for measure, value in zip(chosen, measured, strict=True):
                if value is not None:
                    group[measure].append(value)
    found: list[dict[Key, Percentiles]] = []
    for groups in values:
        result: dict[Key, Percentiles] = {}
        for key, measured_values in groups.items():
            result[key] = {}
            for measure, items in measured_values.items():
                items.sort()
                for label, fraction in FRACTIONS.items():
                    value = nearest_rank(items, fraction)
                    result[key][measure.format(label)] = float(value) if value is not None else None
        found.append(result)
    return found


async def _postgres_percentiles(
    session: AsyncSession,
    window: list[ColumnElement[bool]],
    keys: Mapping[str, ColumnElement[Any]],
    sets: Sequence[Sequence[str]],
    measures: Mapping[str, ColumnElement[Any]],
) -> list[dict[Key, Percentiles]]:
    """One pass for every grouping (GROUPING SETS), one sort per measure and group for both fractions
    (percentile_disc of an array of fractions); grouping() tells a row's grouping apart, as a key's
    NULL may be a group of its own (tickets nobody holds)."""
    columns = list(keys.values())
    fractions: ColumnElement[Any] = literal_column("ARRAY[" + ", ".join(repr(f) for f in FRACTIONS.values()) + "]")
    aggregates = [func.percentile_disc(fractions).within_group(column) for column in measures.values()]
    query = select(*columns, *aggregates).where(*window)
    if len(sets) == 1:
        query = query.group_by(*(keys[n] for n in sets[0]))
        marks: dict[int, int] = {}
    else:
        # grouping(a, b, ...) has a bit per key, the first the highest, set when the row's grouping leaves it out.
        bits = {name: 1 << (len(columns) - 1 - i) for i, name in enumerate(keys)}
        marks = {sum(bits[n] for n in keys if n not in names): i for i, names in enumerate(sets)}
        groupings = [tuple_(*(keys[n] for n in names)) for names in sets]
        query = query.add_columns(func.grouping(*columns)).group_by(func.grouping_sets(*groupings))
    found: list[dict[Key, Percentiles]] = [{} for _ in sets]
    labels = [(m, label) for m in measures for label in FRACTIONS]
    names = list(keys)
    for row in await session.execute(query):
        i = marks[row[-1]] if marks else 0
        at = [names.index(n) for n in sets[i]]
        arrays = row[len(columns) : len(columns) + len(measures)]
        figures: Percentiles = {}
        for (measure, label), value in zip(labels, (v for a in arrays for v in (a or [None, None])), strict=True):
            figures[measure.format(label)] = float(value) if value is not None else None
        found[i][tuple(row[p] for p in at)] = figures
    return found


TRUST_COUNTS: Mapping[str, ColumnElement[Any]] = {
    "tickets": func.count(),
    "verified": func.coalesce(func.sum(tf.c.verified_messages), 0),
    "unverified": func.coalesce(func.sum(tf.c.unverified_messages), 0),
    "failed": func.coalesce(func.sum(tf.c.failed_messages), 0),
    "possible_spoofs": _count(tf.c.sender_verdict == "failed"),
}


async def sender_trust(
    session: AsyncSession, *, start: datetime, end: datetime
) -> list[tuple[int | None, str | None, dict[str, int]]]:
    """Per mailbox and sender domain, the sender-trust counts of the tickets created in [start, end):
    one pass over the window's fact rows (the created_at index), summed by SQL."""
    query = (
        select(tf.c.mailbox_id, tf.c.sender_domain, *(c.label(n) for n, c in TRUST_COUNTS.items()))
        .where(tf.c.created_at >= start, tf.c.created_at < end)
        .group_by(tf.c.mailbox_id, tf.c.sender_domain)
    )
    return [
        (row[0], row[1], {name: int(v) for name, v in zip(TRUST_COUNTS, row[2:], strict=True)})
        for row in await session.execute(query)
    ]


async def mailbox_names(session: AsyncSession, ids: set[Any]) -> dict[int, str]:
    return {
        row[0]: row[1] for row in await session.execute(select(Mailbox.id, Mailbox.name).where(Mailbox.id.in_(ids)))
    }


# --- The fact rows: derived from a ticket, its events and its SLA clocks ---------------------------


def _json(column: str, key: str, sqlite: bool) -> str:
    return f"json_extract({column}, '$.{key}')" if sqlite else f"({column} ->> '{key}')"


@cache
def _derive(sqlite: bool) -> str:
    """The fact rows of the tickets `:ids` as INSERT ... ON CONFLICT DO UPDATE (both engines' syntax):
    the definitions of migration 0009's view, for the few tickets a transaction changed. Scalar
    subqueries, skipped where the ticket's own columns answer (no reply yet: no reply counted; no
    customer message since the first reply: no next-reply cycle), so that a new ticket costs little."""
    answered_again = "t.first_responded_at IS NOT NULL AND t.last_customer_message_at >= t.first_responded_at"
    next_reply = "FROM sla_clock n WHERE n.ticket_id = t.id AND n.metric = 'next_reply'"
    events = "FROM ticket_event e WHERE e.ticket_id = t.id"
    reopens = (
        f"(e.kind = 'customer_message' AND {_json('e.data', 'reopened_from', sqlite)} = 'solved')"
        f" OR (e.kind = 'status' AND {_json('e.data', 'from', sqlite)} = 'solved')"
    )
    created_routed_by = (
        f"(SELECT {_json('c0.data', 'routed_by', sqlite)} FROM ticket_event c0"  # noqa: S608 (fixed text)
        " WHERE c0.ticket_id = t.id AND c0.kind = 'created' ORDER BY c0.id LIMIT 1)"
    )

    # The tickets' customer messages (automatic mail aside: it moves no clock, so no fact refresh), in
    # one grouped pass over the tickets' messages (their ticket_id index): the first one's verdict and
    # From domain, and how many of them have each verdict.
    at = "instr(fm.from_address, '@')" if sqlite else "strpos(fm.from_address, '@')"
    domain = f"CASE WHEN {at} > 0 THEN lower(substr(fm.from_address, {at} + 1)) END"

    def achieved(clock: str) -> str:
        return f"{clock}.state = 'fulfilled' AND {clock}.breached_at IS NULL"

    values = {
        "ticket_id": "t.id",
        "reference": "t.reference",
        "status": "t.status",
        "priority": "t.priority",
        "area_id": "t.area_id",
        "customer_id": "t.customer_id",
        "assignee_id": "t.assignee_id",
        "mailbox_id": "t.mailbox_id",
        "created_at": "t.created_at",
        "first_replied_at": "t.first_responded_at",
        "solved_at": "t.solved_at",
        "first_reply_calendar_minutes": "CASE WHEN fr.state = 'fulfilled' THEN fr.calendar_minutes END",
        "first_reply_business_minutes": "CASE WHEN fr.state = 'fulfilled' THEN fr.business_minutes END",
        "first_reply_achieved": f"CASE WHEN fr.id IS NOT NULL THEN {achieved('fr')} END",
        "first_reply_breached": "CASE WHEN fr.id IS NOT NULL THEN fr.breached_at IS NOT NULL END",
        "next_reply_cycles": f"CASE WHEN {answered_again} THEN (SELECT count(*) {next_reply}) ELSE 0 END",
        "next_reply_calendar_minutes": f"CASE WHEN {answered_again} THEN"
        f" (SELECT sum(n.calendar_minutes) {next_reply} AND n.state = 'fulfilled') END",
        "next_reply_business_minutes": f"CASE WHEN {answered_again} THEN"
        f" (SELECT sum(n.business_minutes) {next_reply} AND n.state = 'fulfilled') END",
        "next_reply_achieved": f"CASE WHEN {answered_again} THEN"
        f" (SELECT count(*) {next_reply} AND n.state = 'fulfilled' AND n.breached_at IS NULL) ELSE 0 END",
        "next_reply_breaches": f"CASE WHEN {answered_again} THEN"
        f" (SELECT count(*) {next_reply} AND n.breached_at IS NOT NULL) ELSE 0 END",
        "reopen_count": f"(SELECT count(*) {events} AND ({reopens}))",
        "public_reply_count": f"CASE WHEN t.first_responded_at IS NULL THEN 0"
        f" ELSE (SELECT count(*) {events} AND e.kind = 'replied') END",
        "resolution_calendar_minutes": "CASE WHEN rs.state = 'fulfilled' THEN rs.calendar_minutes END",
        "resolution_business_minutes": "CASE WHEN rs.state = 'fulfilled' THEN rs.business_minutes END",
        "resolution_achieved": f"CASE WHEN rs.id IS NOT NULL THEN {achieved('rs')} END",
        "resolution_breached": "CASE WHEN rs.id IS NOT NULL THEN rs.breached_at IS NOT NULL END",
        "routed_by": f"CASE WHEN t.routed_by <> 'agent' THEN t.routed_by"
        f" ELSE coalesce({created_routed_by}, 'fallback') END",
        "model_version": "t.model_version",
        "route_probability": "t.route_probability",
        "rerouted": "t.routed_by = 'agent'",
        "sender_verdict": "fm.trust_verdict",
        "sender_domain": domain,
        "verified_messages": "coalesce(mc.verified, 0)",
        "unverified_messages": "coalesce(mc.unverified, 0)",
        "failed_messages": "coalesce(mc.failed, 0)",
    }
    assert list(values) == [c.name for c in tf.columns], "every column of ticket_fact, in its order"
    updates = ", ".join(f"{name} = excluded.{name}" for name in values if name != "ticket_id")
    return f"""
INSERT INTO ticket_fact ({", ".join(values)})
SELECT {", ".join(values.values())}
FROM ticket t
LEFT JOIN sla_clock fr ON fr.ticket_id = t.id AND fr.metric = 'first_reply' AND fr.cycle = 0
LEFT JOIN sla_clock rs ON rs.ticket_id = t.id AND rs.metric = 'resolution' AND rs.cycle = 0
LEFT JOIN (
  SELECT m.ticket_id, min(m.id) AS first_id,
    sum(CASE WHEN m.trust_verdict = 'verified' THEN 1 ELSE 0 END) AS verified,
    sum(CASE WHEN m.trust_verdict = 'unverified' THEN 1 ELSE 0 END) AS unverified,
    sum(CASE WHEN m.trust_verdict = 'failed' THEN 1 ELSE 0 END) AS failed
  FROM message m
  WHERE m.ticket_id IN :ids AND m.direction = 'inbound' AND (m.auto IS NULL OR m.auto = 'bulk')
  GROUP BY m.ticket_id
) mc ON mc.ticket_id = t.id
LEFT JOIN message fm ON fm.id = mc.first_id
WHERE t.id IN :ids
ON CONFLICT (ticket_id) DO UPDATE SET {updates}
"""  # noqa: S608 (fixed text: only ids are bound)


async def store_facts(session: AsyncSession, ticket_ids: Sequence[int]) -> None:
    statement = text(_derive(not _postgres(session))).bindparams(bindparam("ids", expanding=True))
    await session.execute(statement, {"ids": list(ticket_ids)})
