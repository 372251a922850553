from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from app.auth import CurrentAdmin
from app.csat import contacts
from app.csat import figures as csat
from app.csat.schemas import CommentsPage, ContactRateRead, DenominatorRead, DenominatorsStored, DenominatorWrite
from app.db import MAX_ID, SessionDep, utcnow
from app.errors import PayloadTooLarge
from app.reports import service as reports
from app.validation import LINE

reports_router = APIRouter(prefix="/reports", tags=["admin: reports"])
admin_router = APIRouter(prefix="/admin/denominators", tags=["admin: contact-rate denominators"])

Name = Annotated[str | None, Query(min_length=1, max_length=100), LINE]
Day = date | None
CSV_BODY = {"requestBody": {"content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}}}}
MAX_CSV_BYTES = 1024 * 1024


@reports_router.get("/csat-comments")
async def csat_comments(
    admin: CurrentAdmin,
    session: SessionDep,
    start: Annotated[Day, Query(alias="from", description="first day, UTC (2026-01-01)")] = None,
    end: Annotated[Day, Query(alias="to", description="last day, included")] = None,
    area: Name = None,
    agent: Annotated[Name, Query(description="the assignee's user name when rated")] = None,
    rating: Literal["good", "bad"] | None = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CommentsPage:
    """The comments customers left with their CSAT ratings in the window, newest first."""
    by = await reports.filters(session, area=area, agent=agent)
    window = reports.window(start, end)
    return await csat.comments(
        session,
        start=window.since,
        end=window.until,
        area=by.area,
        agent=by.agent,
        rating=rating,
        limit=limit,
        offset=offset,
    )


@reports_router.get("/contact-rate")
async def contact_rate(
    admin: CurrentAdmin,
    session: SessionDep,
    period: Annotated[
        str,
        Query(min_length=1, max_length=32, description="2026-11, 2026-11-03 or 2026-11-01..2026-11-15"),
        LINE,
    ],
    area: Name = None,
) -> ContactRateRead:
    """Contacts (gross and net) and repeat contacts in a period, for the desk (*) and each area, per
    1,000 units of the denominator uploaded for exactly that period and scope (none: null and a reason)."""
    return await contacts.contact_rate(session, period, area=area)


@admin_router.get("")
async def list_denominators(
    admin: CurrentAdmin,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DenominatorRead]:
    """The uploaded denominators, by period."""
    return await contacts.listed(session, limit=limit, offset=offset)


@admin_router.post("")
async def add_denominator(body: DenominatorWrite, admin: CurrentAdmin, session: SessionDep) -> DenominatorsStored:
    """Store one denominator; the same period and area as a stored one replaces its value. Many at once,
    all or none: the CSV upload below."""
    return await contacts.store(session, [body], now=utcnow())


@admin_router.post("/csv", openapi_extra=CSV_BODY)
async def upload_denominators_csv(request: Request, admin: CurrentAdmin, session: SessionDep) -> DenominatorsStored:
    """The same from a CSV file (the body, text/csv): the header period,area,value,unit, a row each."""
    data = await request.body()
    if len(data) > MAX_CSV_BYTES:
        raise PayloadTooLarge(f"a denominators file may have at most {MAX_CSV_BYTES} bytes")
    return await contacts.store(session, contacts.parse_csv(data), now=utcnow())


@admin_router.delete("/{denominator_id}", status_code=204)
async def delete_denominator(
    denominator_id: Annotated[int, Path(ge=1, le=MAX_ID)], admin: CurrentAdmin, session: SessionDep
) -> Response:
    await contacts.delete(session, denominator_id)
    return Response(status_code=204)
