from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from app.auth import CurrentAdmin
from app.db import SessionDep
from app.errors import PayloadTooLarge
from app.routing import service as routing
from app.sla import service as sla
from app.sla.schemas import (
    HolidaysAdded,
    HolidaysWrite,
    PolicyRead,
    PolicyWrite,
    ScheduleRead,
    ScheduleWrite,
)
from app.validation import LINE

router = APIRouter(prefix="/admin/sla", tags=["admin: SLA"])

Name = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"), LINE]
AreaName = Annotated[str, Path(min_length=1, max_length=64), LINE]
MAX_ICAL_BYTES = 1_000_000
ICAL_BODY = {"requestBody": {"content": {"text/calendar": {"schema": {"type": "string", "format": "binary"}}}}}
Day = Annotated[date, Path(), LINE]


@router.get("/schedules")
async def list_schedules(admin: CurrentAdmin, session: SessionDep) -> list[ScheduleRead]:
    return [await sla.schedule_read(session, s) for s in await sla.list_schedules(session)]


@router.get("/schedules/{name}")
async def get_schedule(name: Name, admin: CurrentAdmin, session: SessionDep) -> ScheduleRead:
    return await sla.schedule_read(session, await sla.get_schedule(session, name))


@router.put("/schedules/{name}")
async def put_schedule(name: Name, body: ScheduleWrite, admin: CurrentAdmin, session: SessionDep) -> ScheduleRead:
    """Create or replace a schedule: weekly intervals (wall-clock HH:MM) in an IANA time zone."""
    return await sla.schedule_read(session, await sla.put_schedule(session, name, body))


@router.delete("/schedules/{name}", status_code=204)
async def delete_schedule(name: Name, admin: CurrentAdmin, session: SessionDep) -> Response:
    await sla.delete_schedule(session, name)
    return Response(status_code=204)


@router.post("/schedules/{name}/holidays")
async def add_holidays(name: Name, body: HolidaysWrite, admin: CurrentAdmin, session: SessionDep) -> HolidaysAdded:
    schedule = await sla.get_schedule(session, name)
    return HolidaysAdded(added=await sla.add_holidays(session, schedule, [(day, body.name) for day in body.days]))


@router.post(
    "/schedules/{name}/holidays/import",
    openapi_extra=ICAL_BODY,
)
async def import_holidays(name: Name, request: Request, admin: CurrentAdmin, session: SessionDep) -> HolidaysAdded:
    """The dates of an iCalendar file's events (the body, text/calendar) as holidays."""
    schedule = await sla.get_schedule(session, name)
    data = await request.body()
    if len(data) > MAX_ICAL_BYTES:
        raise PayloadTooLarge(f"an iCalendar file may have at most {MAX_ICAL_BYTES} bytes")
    return HolidaysAdded(added=await sla.import_holidays(session, schedule, data))


@router.delete("/schedules/{name}/holidays/{day}", status_code=204)
async def remove_holiday(name: Name, day: Day, admin: CurrentAdmin, session: SessionDep) -> Response:
    await sla.remove_holiday(session, await sla.get_schedule(session, name), day)
    return Response(status_code=204)


@router.get("/policies")
async def list_policies(admin: CurrentAdmin, session: SessionDep) -> list[PolicyRead]:
    return await sla.policy_reads(session)


@router.get("/policies/{area}")
async def get_policy(area: AreaName, admin: CurrentAdmin, session: SessionDep) -> PolicyRead:
    found = await routing.get_area(session, area)
    return await sla.policy_read(session, await sla.get_policy(session, found), area=found.name)


@router.put("/policies/{area}")
async def put_policy(area: AreaName, body: PolicyWrite, admin: CurrentAdmin, session: SessionDep) -> PolicyRead:
    """An area's targets per priority and metric, in minutes, in calendar time or business hours."""
    found = await routing.get_area(session, area)
    return await sla.policy_read(session, await sla.put_policy(session, found, body), area=found.name)


@router.delete("/policies/{area}", status_code=204)
async def delete_policy(area: AreaName, admin: CurrentAdmin, session: SessionDep) -> Response:
    """The area goes back to its own two targets (first_response_minutes, resolution_minutes)."""
    await sla.delete_policy(session, await routing.get_area(session, area))
    return Response(status_code=204)
