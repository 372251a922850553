"""Who else has a ticket open: each view of a ticket's page records (ticket, user, when), one row per
pair kept current by an upsert, and the page names the other users seen within `VIEWING`."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.console.models import TicketView
from app.users.models import User

VIEWING = timedelta(minutes=5)


async def viewed(session: AsyncSession, ticket_id: int, user_id: int, *, now: datetime) -> list[str]:
    """Record that `user_id` views the ticket now; the names of the others who viewed it lately."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(TicketView).values(ticket_id=ticket_id, user_id=user_id, seen_at=now)
    await session.execute(upsert.on_conflict_do_update(index_elements=["ticket_id", "user_id"], set_={"seen_at": now}))
    others = await session.scalars(
        select(User.name)
        .join(TicketView, TicketView.user_id == User.id)
        .where(TicketView.ticket_id == ticket_id, TicketView.user_id != user_id, TicketView.seen_at > now - VIEWING)
        .order_by(User.name)
    )
    return list(others)
