from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.auth import CurrentAdmin
from app.db import SessionDep
from app.routing import service as routing
from app.routing.schemas import AreaCreate, AreaRead, AreaUpdate

router = APIRouter(prefix="/admin", tags=["admin: routing"])

AreaName = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/areas")
async def list_areas(admin: CurrentAdmin, session: SessionDep) -> list[AreaRead]:
    return [AreaRead.model_validate(a) for a in await routing.list_areas(session)]


@router.post("/areas", status_code=201)
async def create_area(body: AreaCreate, admin: CurrentAdmin, session: SessionDep) -> AreaRead:
    return AreaRead.model_validate(await routing.create_area(session, body))


@router.patch("/areas/{name}")
async def update_area(name: AreaName, body: AreaUpdate, admin: CurrentAdmin, session: SessionDep) -> AreaRead:
    area = await routing.get_area(session, name)
    return AreaRead.model_validate(await routing.update_area(session, area, body))
