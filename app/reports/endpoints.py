from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.auth import CurrentAdmin
from app.db import SessionDep
from app.reports import service as reports
from app.reports.repository import Filters
from app.reports.schemas import Interval, SenderTrustRead, SummaryRead, TimeseriesRead
from app.validation import LINE

router = APIRouter(prefix="/reports", tags=["admin: reports"])

Day = date | None
Name = Annotated[str | None, Query(min_length=1, max_length=100), LINE]
CSV = "text/csv"


def span(
    start: Annotated[Day, Query(alias="from", description="first day, UTC (2026-01-01)")] = None,
    end: Annotated[Day, Query(alias="to", description="last day, included")] = None,
) -> tuple[Day, Day]:
    # Checked by the endpoint (reports.window), once every parameter has passed its own validation: a bad
    # filter is refused naming that filter, not for a missing date.
    return start, end


async def ticket_filters(
    session: SessionDep,
    area: Name = None,
    agent: Annotated[Name, Query(description="the assignee's user name")] = None,
    priority: Name = None,
) -> Filters:
    return await reports.filters(session, area=area, agent=agent, priority=priority)


Span = Annotated[tuple[Day, Day], Depends(span)]
ValidFilters = Annotated[Filters, Depends(ticket_filters)]


@router.get(
    "/summary",
    response_model=SummaryRead,
    responses={200: {"content": {CSV: {"schema": {"type": "string"}}}}},
)
async def summary(
    request: Request, admin: CurrentAdmin, days: Span, by: ValidFilters, session: SessionDep
) -> SummaryRead | Response:
    """The window's figures, in all and by area and by agent; `Accept: text/csv` for one CSV row a group."""
    window = reports.window(*days)
    report = await reports.summary(session, window, by)
    if CSV in request.headers.get("accept", ""):
        return Response(
            reports.summary_csv(report),
            media_type=f"{CSV}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="summary-{window.start}-{window.end}.csv"'},
        )
    return report


@router.get("/timeseries")
async def timeseries(
    admin: CurrentAdmin,
    days: Span,
    by: ValidFilters,
    session: SessionDep,
    metric: Annotated[str, Query(min_length=1, max_length=64, description="a figure of the summary"), LINE],
    interval: Interval = Interval.DAY,
) -> TimeseriesRead:
    """One figure per interval (UTC days, or weeks from Monday), every interval present."""
    return await reports.timeseries(session, reports.window(*days), by, metric=metric, interval=interval)


@router.get("/sender-trust")
async def sender_trust(admin: CurrentAdmin, days: Span, session: SessionDep) -> SenderTrustRead:
    """Verified / unverified / failed customer messages of the tickets created in the window, in all, by
    mailbox and by sender domain (the most unauthenticated first); possible spoofs per group."""
    return await reports.sender_trust(session, reports.window(*days))
