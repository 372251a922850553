"""The CSAT and contact figures of the reports' summary and time series, for a window:

- csat = good / (good + bad), over the ratings given in the window, grouped by the ticket's area and
  assignee at the time of rating;
- response_rate = rated / sent, over the surveys sent in the window (whenever rated), grouped by the
  area and assignee when the survey was sent;
- contacts (tickets opened by customers in the window), contacts_net (distinct customers among them),
  repeat_contacts and repeat_contact_rate = repeat_contacts / contacts, grouped by the ticket's area
  and assignee now, as the summary's other figures.

Groupings are "total" (all), "area" and "agent" (None: tickets nobody holds)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.csat import repository
from app.csat.schemas import CommentRead, CommentsPage

NAMES = (
    "surveys_sent",
    "survey_responses",
    "csat_good",
    "csat_bad",
    "csat",
    "response_rate",
    "contacts",
    "contacts_net",
    "repeat_contacts",
    "repeat_contact_rate",
)
GROUPINGS = ("total", "area", "agent")


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def empty() -> dict[str, Any]:
    return _figures({})


def _figures(c: dict[str, int]) -> dict[str, Any]:
    good, bad = c.get("good", 0), c.get("bad", 0)
    sent, rated = c.get("sent", 0), c.get("rated", 0)
    contacts, repeat = c.get("contacts", 0), c.get("repeat", 0)
    return {
        "surveys_sent": sent,
        "survey_responses": rated,
        "csat_good": good,
        "csat_bad": bad,
        "csat": _share(good, good + bad),
        "response_rate": _share(rated, sent),
        "contacts": contacts,
        "contacts_net": c.get("net", 0),
        "repeat_contacts": repeat,
        "repeat_contact_rate": _share(repeat, contacts),
    }


async def figures(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    area: str | None = None,
    agent: str | None = None,
    priority: str | None = None,
) -> dict[str, dict[Any, dict[str, Any]]]:
    """{grouping: {group name: figures}}: "total" has the one group ()."""
    counts: dict[str, dict[Any, dict[str, int]]] = {g: {} for g in GROUPINGS}

    def add(grouping: str, group: Any, **values: int) -> None:
        into = counts[grouping].setdefault(group, {})
        for name, value in values.items():
            into[name] = into.get(name, 0) + value

    filters = {"area": area, "agent": agent, "priority": priority}
    for area_name, user, good, bad in await repository.rating_counts(session, start=start, end=end, **filters):
        for grouping, group in (("total", ()), ("area", area_name), ("agent", user)):
            add(grouping, group, good=good, bad=bad)
    for area_name, user, sent, rated in await repository.sent_counts(session, start=start, end=end, **filters):
        for grouping, group in (("total", ()), ("area", area_name), ("agent", user)):
            add(grouping, group, sent=sent, rated=rated)
    for grouping, by in (("total", None), ("area", "area"), ("agent", "agent")):
        found = await repository.contact_counts(session, start=start, end=end, by=by, **filters)
        for group, (gross, net, repeat) in found.items():
            add(grouping, () if by is None else group, contacts=gross, net=net, repeat=repeat)
    return {grouping: {group: _figures(c) for group, c in groups.items()} for grouping, groups in counts.items()}


async def one(
    session: AsyncSession,
    metric: str,
    *,
    start: datetime,
    end: datetime,
    area: str | None = None,
    agent: str | None = None,
    priority: str | None = None,
) -> int | float | None:
    """One figure of the whole window (a time series' point)."""
    found = await figures(session, start=start, end=end, area=area, agent=agent, priority=priority)
    value: int | float | None = found["total"].get((), empty())[metric]
    return value


async def comments(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    area: str | None,
    agent: str | None,
    rating: str | None,
    limit: int,
    offset: int,
) -> CommentsPage:
    """The comments customers left with their ratings in the window, newest first."""
    total, rows = await repository.comments(
        session, start=start, end=end, area=area, agent=agent, rating=rating, limit=limit, offset=offset
    )
    items = [
        CommentRead(ticket=ref, cycle=cycle, rating=score, comment=text, area=a, agent=u, rated_at=at)
        for ref, cycle, score, text, a, u, at in rows
    ]
    return CommentsPage(items=items, total=total, offset=offset, limit=limit)
