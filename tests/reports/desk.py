"""A known ticket history for the views and the reports: tickets driven through the real lifecycle
(ingest's transitions for customers' mail, the API's for agents), every step given its `now`."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from app.db import unit_of_work
from app.inbox.models import Mailbox
from app.sla import service as sla
from app.sla.schemas import ScheduleWrite
from app.tickets.models import Ticket
from tests.sla.desk import SlaDesk, open_desk

_ids = itertools.count(1)
# Business hours in UTC, so that the tests' arithmetic needs no time zone: weekdays 09:00-17:00.
OFFICE = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(5)]


@dataclass
class ReportDesk(SlaDesk):
    """The SLA tests' desk (areas, customers' messages), with agents of the test's choosing."""

    async def office(self) -> None:
        async with unit_of_work(self.sessionmaker) as session:
            office = ScheduleWrite.model_validate({"zone": "UTC", "intervals": OFFICE})
            await sla.put_schedule(session, "office", office)

    async def payments_and_cards(self) -> None:
        """payments counts in business hours (the office's), cards in calendar time."""
        await self.office()
        await self.area(
            "payments",
            business_hours=True,
            schedule="office",
            targets={"normal": {"first_reply": 60, "next_reply": 30, "resolution": 600}},
        )
        await self.area("cards", targets={"normal": {"first_reply": 120, "resolution": 1440}})

    async def mailbox(self, name: str) -> None:
        async with unit_of_work(self.sessionmaker) as session:
            box = Mailbox(
                name=name,
                imap_host="imap.routedesk.example",
                imap_port=993,
                imap_security="tls",
                imap_username="support",
                imap_password_encrypted="not-a-real-token",
            )
            session.add(box)
            await session.flush()
            self.mailbox_id = box.id

    async def open(self, at: datetime, *, customer: str | None = "ana@merchant.example", **route: Any) -> int:
        """A customer's first message (from Ana unless told), as the SLA desk opens it."""
        return await super().open(at, customer=customer, **route)

    async def reference(self, ticket_id: int) -> str:
        async with unit_of_work(self.sessionmaker) as session:
            found = await session.scalar(select(Ticket.reference).where(Ticket.id == ticket_id))
            assert found is not None
            return found


@pytest.fixture
async def report_desk(database_url: str) -> AsyncIterator[ReportDesk]:
    async with open_desk(ReportDesk, database_url, "root") as desk:
        yield desk
