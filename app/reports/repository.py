"""Every query of the reports: they read the analysts' views (ticket_facts), never the tables under
them, so that a figure has one definition: the view's column. Counts are summed in SQL by the finest
grouping asked for and rolled up in Python (they add up); percentiles do not add up, and are taken per
group: by PostgreSQL's percentile_disc, or on SQLite (which has none) from the ordered values, with
the same nearest-rank definition (`nearest_rank`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, cast, func, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.reports.models import ticket_facts as tf

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
            found.append(tf.c.area == self.area)
        if self.agent is not None:
            found.append(tf.c.assignee == self.agent)
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
    """On PostgreSQL, no JIT for this transaction's report queries: the view's many expressions make the
    planner's costs high enough to compile them, which takes longer (1.7 s measured) than running
    them (0.2 s). SET LOCAL ends with the transaction."""
    if _postgres(session):
        await session.execute(text("SET LOCAL jit = off"))


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
) -> dict[Key, dict[str, int]]:
    """The counts of the tickets created in [start, end), per value of `keys`."""
    query = (
        select(*keys, *(c.label(name) for name, c in COUNTS.items()))
        .where(tf.c.created_at >= start, tf.c.created_at < end, *filters.conditions())
        .group_by(*keys)
    )
    found: dict[Key, dict[str, int]] = {}
    for row in await session.execute(query):
        values = tuple(row)
        found[values[: len(keys)]] = {name: int(v) for name, v in zip(COUNTS, values[len(keys) :], strict=True)}
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


Percentiles = dict[str, float | None]


async def percentiles(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    filters: Filters,
    keys: Mapping[str, ColumnElement[Any]],
    sets: Sequence[Sequence[str]],
) -> list[dict[Key, Percentiles]]:
    """For each grouping in `sets` (names of `keys`; () for all), per group: each measure's median and
    90th percentile (by figure name: "first_reply_median_minutes", ...) over the tickets created in [start, end)."""
    window = [tf.c.created_at >= start, tf.c.created_at < end, *filters.conditions()]
    if _postgres(session):
        return [await _postgres_percentiles(session, window, [keys[n] for n in names]) for names in sets]
    columns = list(keys)
    query = select(*keys.values(), *MEASURES.values()).where(*window)
    values: list[dict[Key, dict[str, list[float]]]] = [{} for _ in sets]
    for row in await session.execute(query):
        of_key = dict(zip(columns, row[: len(columns)], strict=True))
        measured = row[len(columns) :]
        for i, names in enumerate(sets):
            group = values[i].setdefault(tuple(of_key[n] for n in names), {m: [] for m in MEASURES})
            for measure, value in zip(MEASURES, measured, strict=True):
                if value is not None:
                    group[measure].append(float(value))
    found: list[dict[Key, Percentiles]] = []
    for groups in values:
        result: dict[Key, Percentiles] = {}
        for key, measured_values in groups.items():
            result[key] = {}
            for measure, items in measured_values.items():
                items.sort()
                for label, fraction in FRACTIONS.items():
                    result[key][measure.format(label)] = nearest_rank(items, fraction)
        found.append(result)
    return found


async def _postgres_percentiles(
    session: AsyncSession, window: list[ColumnElement[bool]], keys: list[ColumnElement[Any]]
) -> dict[Key, Percentiles]:
    names = [m.format(label) for m in MEASURES for label in FRACTIONS]
    aggregates = [
        func.percentile_disc(literal_column(repr(fraction))).within_group(column)
        for column in MEASURES.values()
        for fraction in FRACTIONS.values()
    ]
    query = select(*keys, *aggregates).where(*window)
    if keys:
        query = query.group_by(*keys)
    found: dict[Key, Percentiles] = {}
    for row in await session.execute(query):
        values = tuple(row)
        found[values[: len(keys)]] = {
            n: (float(v) if v is not None else None) for n, v in zip(names, values[len(keys) :], strict=True)
        }
    return found
