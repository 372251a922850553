"""A known ticket history for the views and the reports: tickets driven through the real lifecycle
(ingest's transitions for customers' mail, the API's for agents), every step given its `now`."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app.db import RowWriter, create_engine, create_sessionmaker, unit_of_work
from app.inbox.models import Mailbox
from app.inbox.parsing import prepare
from app.routing import service as routing
from app.routing.models import Area
from app.sla import service as sla
from app.sla.schemas import ScheduleWrite
from app.tickets import lifecycle, repository, threads
from app.tickets.models import Customer, CustomerRow, Ticket, TicketStatus
from app.users import service as users
from app.users.models import User
from tests.mailgen import mail
from tests.sla.desk import SlaDesk

_ids = itertools.count(1)
# Business hours in UTC, so that the tests' arithmetic needs no time zone: weekdays 09:00-17:00.
OFFICE = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(5)]


@dataclass
class ReportDesk(SlaDesk):
    """The SLA tests' desk (areas, customers' messages), with agents of the test's choosing."""

    users: dict[str, User] = field(default_factory=dict)
    mailbox_id: int | None = None

    async def user(self, name: str, role: str = "agent") -> User:
        async with unit_of_work(self.sessionmaker) as session:
            user, _ = await users.create_user(session, name=name, email=f"{name}@routedesk.example", role=role)
        self.users[name] = user
        return user

    async def token(self, name: str, role: str = "agent") -> str:
        async with unit_of_work(self.sessionmaker) as session:
            user, token = await users.create_user(session, name=name, email=f"{name}@routedesk.example", role=role)
        self.users[name] = user
        return token

    async def office(self) -> None:
        async with unit_of_work(self.sessionmaker) as session:
            office = ScheduleWrite.model_validate({"zone": "UTC", "intervals": OFFICE})
            await sla.put_schedule(session, "office", office)

    def who(self, name: str | None) -> User:
        return self.users[name] if name is not None else self.admin

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

    async def open(
        self,
        at: datetime,
        *,
        area: str = "triage",
        customer: str = "ana@merchant.example",
        routed_by: str = "rule",
        probability: float | None = None,
        model_version: str | None = None,
        priority: str = "normal",
    ) -> int:
        """A customer's first message at `at`, routed to `area`."""
        n = next(_ids)
        parsed = prepare(
            mail(subject=f"Help {n}", sender=customer, message_id=f"<report{n}@merchant.example>"),
            None,
            max_attachment_bytes=1024,
        ).parsed
        assert parsed is not None
        async with unit_of_work(self.sessionmaker) as session:
            known = await session.scalar(select(Customer).where(Customer.email == customer))
            if known is None:
                known = Customer(email=customer, name=customer.split("@")[0].title(), created_at=at)
                session.add(known)
                await session.flush()
            row: CustomerRow = {"id": known.id, "email": known.email, "name": known.name}
            writer = RowWriter()
            index = await threads.load_thread_index(
                session,
                [parsed],
                writer=writer,
                prefix="RD",
                subject_since=at,
                repeat_since=at - timedelta(days=7),
                now=at,
            )
            found = (await routing.areas_for_routing(session))[area]
            route = routing.Route(
                area=found, routed_by=routed_by, probability=probability, model_version=model_version, priority=priority
            )
            event = lifecycle.open_ticket(
                index,
                parsed=parsed,
                customer=row,
                mailbox_id=self.mailbox_id,
                route=route,
                own_addresses=frozenset(),
                now=at,
            )
            await lifecycle.write_batch(session, index)  # as ingest writes its batch
            return int(event.ticket["id"])

    async def reply(self, ticket_id: int, at: datetime, *, by: str | None = None) -> None:
        async with unit_of_work(self.sessionmaker) as session:
            ticket = await repository.ticket(session, ticket_id, for_update=True)
            assert ticket is not None
            await lifecycle.replied(session, ticket, user=self.who(by), now=at)

    async def status(self, ticket_id: int, status: str, at: datetime, *, by: str | None = None) -> None:
        async with unit_of_work(self.sessionmaker) as session:
            ticket = await repository.ticket(session, ticket_id, for_update=True)
            assert ticket is not None
            await lifecycle.set_status(session, ticket, status=TicketStatus(status), user=self.who(by), now=at)

    async def reroute(self, ticket_id: int, area: str, at: datetime, *, by: str | None = None) -> None:
        async with unit_of_work(self.sessionmaker) as session:
            ticket = await repository.ticket(session, ticket_id, for_update=True)
            target = await session.scalar(select(Area).where(Area.name == area))
            assert ticket is not None and target is not None
            await lifecycle.reroute(session, ticket, area=target, user=self.who(by), keep_assignee=True, now=at)

    async def reference(self, ticket_id: int) -> str:
        async with unit_of_work(self.sessionmaker) as session:
            found = await session.scalar(select(Ticket.reference).where(Ticket.id == ticket_id))
            assert found is not None
            return found


@pytest.fixture
async def report_desk(database_url: str) -> AsyncIterator[ReportDesk]:
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with unit_of_work(sessionmaker) as session:
            admin, _ = await users.create_user(session, name="root", email="root@routedesk.example", role="admin")
        yield ReportDesk(sessionmaker, admin)
    finally:
        await engine.dispose()
