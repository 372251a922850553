from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.routing.models import Area


async def areas_by_name(session: AsyncSession) -> dict[str, Area]:
    return {area.name: area for area in await session.scalars(select(Area))}


async def area_by_name(session: AsyncSession, name: str) -> Area | None:
    return await session.scalar(select(Area).where(Area.name == name))
