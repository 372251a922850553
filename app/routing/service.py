from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.routing import repository
from app.routing.models import TRIAGE, Area


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
        triage = Area(name=TRIAGE, title="Triage", description="Tickets no rule or model routed with confidence")
        session.add(triage)
        await session.flush()
        areas[TRIAGE] = triage
    return areas
