"""Macros: an admin's reusable replies, and the record of which one an agent sent on which ticket."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import InvalidInput, NotFound
from app.macros import repository
from app.macros.models import Macro, MacroUse
from app.macros.render import check_template, render
from app.macros.schemas import MacroCreate, MacroRead, MacroUpdate
from app.routing import service as routing
from app.tickets import service as tickets


async def create_macro(session: AsyncSession, *, data: MacroCreate) -> MacroRead:
    check_template(data.body)
    area_id, area_name = await _area(session, name=data.area, area_id=data.area_id)
    now = utcnow()
    macro = Macro(title=data.title, body=data.body, area_id=area_id, active=True, created_at=now, updated_at=now)
    session.add(macro)
    await session.flush()
    return _read(macro, area_name)


async def update_macro(session: AsyncSession, macro_id: int, *, changes: MacroUpdate) -> MacroRead:
    macro, area_name = await _get(session, macro_id)
    fields = changes.fields_sent()
    if "body" in fields:
        check_template(fields["body"])
    if "area" in fields or "area_id" in fields:
        fields["area_id"], area_name = await _area(
            session, name=fields.pop("area", None), area_id=fields.get("area_id")
        )
    if fields:
        for name, value in fields.items():
            setattr(macro, name, value)
        # updated_at keys the suggestion index: bumping it is what makes suggestions see the change.
        macro.updated_at = utcnow()
        await session.flush()
    return _read(macro, area_name)


async def deactivate_macro(session: AsyncSession, macro_id: int) -> MacroRead:
    macro, area_name = await _get(session, macro_id)
    if macro.active:
        macro.active = False
        macro.updated_at = utcnow()
        await session.flush()
    return _read(macro, area_name)


async def get_macro(session: AsyncSession, macro_id: int) -> MacroRead:
    return _read(*await _get(session, macro_id))


async def list_macros(
    session: AsyncSession,
    *,
    area: str | None = None,
    area_id: int | None = None,
    include_inactive: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> list[MacroRead]:
    if area is not None or area_id is not None:
        area_id, _name = await _area(session, name=area, area_id=area_id)
    rows = await repository.listing(
        session, area_id=area_id, include_inactive=include_inactive, offset=offset, limit=limit
    )
    return [_read(macro, area_name) for macro, area_name in rows]


async def render_macro(session: AsyncSession, macro_id: int, *, values: Mapping[str, str]) -> str:
    """The reply text of an active macro for a ticket: what an agent sends when they pick it."""
    macro = await repository.macro(session, macro_id)
    if macro is None or not macro.active:
        raise NotFound(f"no active macro {macro_id}")
    return render(macro.body, values)


async def record_use(session: AsyncSession, *, macro_id: int, ticket_id: int, user_id: int | None) -> MacroUse:
    if await repository.macro(session, macro_id) is None:
        raise NotFound(f"no macro {macro_id}")
    await tickets.get_ticket(session, ticket_id)
    use = MacroUse(macro_id=macro_id, ticket_id=ticket_id, user_id=user_id, created_at=utcnow())
    session.add(use)
    await session.flush()
    return use


async def _get(session: AsyncSession, macro_id: int) -> tuple[Macro, str | None]:
    found = await repository.macro_with_area_name(session, macro_id)
    if found is None:
        raise NotFound(f"no macro {macro_id}")
    return found


async def _area(session: AsyncSession, *, name: str | None, area_id: int | None) -> tuple[int | None, str | None]:
    """(id, name) of the area named by name or by id (or both, when they agree); (None, None) for none."""
    if name is not None:
        area = await routing.get_area(session, name)
        if area_id is not None and area_id != area.id:
            raise InvalidInput(f"area {name!r} and area_id {area_id} name different areas: give one")
        return area.id, area.name
    if area_id is None:
        return None, None
    found = await repository.area_name(session, area_id)
    if found is None:
        raise NotFound(f"no area {area_id}")
    return area_id, found


def _read(macro: Macro, area_name: str | None) -> MacroRead:
    return MacroRead(
        id=macro.id,
        title=macro.title,
        body=macro.body,
        area=area_name,
        area_id=macro.area_id,
        area_name=area_name,
        active=macro.active,
        created_at=macro.created_at,
        updated_at=macro.updated_at,
    )
