from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from app.routing import repository
from app.routing.models import TRIAGE, Area
from app.routing.schemas import AreaCreate, AreaUpdate


@dataclass(frozen=True, slots=True)
class RouteRequest:
    text: str
    sender: str | None


@dataclass(frozen=True, slots=True)
class RouteDecision:
    area: str
    routed_by: str  # rule | model | fallback
    probability: float | None = None
    model_version: str | None = None


class Router:
    """Decides the area of new tickets. Until a model is active, every ticket waits in triage."""

    def decide(self, requests: Sequence[RouteRequest]) -> list[RouteDecision]:
        return [RouteDecision(area=TRIAGE, routed_by="fallback") for _ in requests]


async def areas_for_routing(session: AsyncSession) -> dict[str, Area]:
    """The areas by name, with the triage queue created on first use: routing always has a place to go."""
    areas = await repository.areas_by_name(session)
    if TRIAGE not in areas:
        triage = Area(
            name=TRIAGE, title="Triage", description="Tickets no rule or model routed with confidence"
        )
        session.add(triage)
        await session.flush()
        areas[TRIAGE] = triage
    return areas


async def get_area(session: AsyncSession, name: str) -> Area:
    area = await repository.area_by_name(session, name)
    if area is None:
        raise NotFound(f"no area named {name!r}")
    return area


async def list_areas(session: AsyncSession) -> list[Area]:
    return sorted((await repository.areas_by_name(session)).values(), key=lambda a: a.name)


async def create_area(session: AsyncSession, data: AreaCreate) -> Area:
    if await repository.area_by_name(session, data.name) is not None:
        raise Conflict(f"an area named {data.name!r} exists already")
    area = Area(**data.model_dump())
    session.add(area)
    await session.flush()
    return area


async def update_area(session: AsyncSession, area: Area, data: AreaUpdate) -> Area:
    changes = data.model_dump(exclude_unset=True)
    if area.name == TRIAGE and changes.get("active") is False:
        raise InvalidInput("the triage area cannot be deactivated: unrouted tickets wait there")
    for key, value in changes.items():
        setattr(area, key, value)
    await session.flush()
    return area
