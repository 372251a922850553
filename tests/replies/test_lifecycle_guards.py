"""The lifecycle's guard on a reply holds for any caller, not only for the API's reply flow."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.db import unit_of_work, utcnow
from app.errors import Forbidden
from app.tickets import lifecycle
from app.tickets import service as tickets
from app.tickets.models import Ticket
from app.users.models import User
from tests.api.desk import Desk
from tests.mailgen import mail


async def test_another_agent_cannot_record_a_reply_on_a_claimed_ticket(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail())
    assert (await desk.agent.post("/queues/triage/claim")).json()["id"] == ticket_id
    await desk.new_user("agent", "bruno")
    async with unit_of_work(desk.runtime.sessionmaker) as session:
        bruno = await session.scalar(select(User).where(User.name == "bruno"))
        assert bruno is not None
        ticket = await tickets.get_ticket(session, ticket_id, for_update=True)
        with pytest.raises(Forbidden):
            await lifecycle.replied(session, ticket, user=bruno, now=utcnow())
    assert await desk.scalar(select(Ticket.first_responded_at).where(Ticket.id == ticket_id)) is None
