from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.auth import CurrentAdmin, CurrentUser
from app.db import MAX_ID, SessionDep
from app.macros import service as macros
from app.macros.schemas import MacroCreate, MacroRead, MacroUpdate
from app.validation import LINE

router = APIRouter(tags=["macros"])

MacroId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/macros")
async def list_macros(
    user: CurrentUser,
    session: SessionDep,
    area: Annotated[str | None, Query(min_length=1, max_length=64), LINE] = None,
    area_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    include_inactive: bool = False,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[MacroRead]:
    """`area` filters by the area's name (`area_id`, by its id, stays accepted)."""
    return await macros.list_macros(
        session, area=area, area_id=area_id, include_inactive=include_inactive, offset=offset, limit=limit
    )


@router.get("/macros/{macro_id}")
async def get_macro(macro_id: MacroId, user: CurrentUser, session: SessionDep) -> MacroRead:
    return await macros.get_macro(session, macro_id)


@router.post("/admin/macros", status_code=201)
async def create_macro(body: MacroCreate, admin: CurrentAdmin, session: SessionDep) -> MacroRead:
    return await macros.create_macro(session, data=body)


@router.patch("/admin/macros/{macro_id}")
async def update_macro(macro_id: MacroId, body: MacroUpdate, admin: CurrentAdmin, session: SessionDep) -> MacroRead:
    return await macros.update_macro(session, macro_id, changes=body)


@router.delete("/admin/macros/{macro_id}")
async def deactivate_macro(macro_id: MacroId, admin: CurrentAdmin, session: SessionDep) -> MacroRead:
    return await macros.deactivate_macro(session, macro_id)
