"""Drives tickets through the lifecycle with a pinned clock (every transition is given its `now`),
on a fresh database of each engine, and reads their SLA clocks back."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import RowWriter, create_engine, create_sessionmaker, unit_of_work
from app.inbox.parsing import prepare
from app.routing import service as routing
from app.routing.models import Area
from app.routing.schemas import AreaCreate
from app.sla import service as sla
from app.sla.models import ClockRow, Metric
from app.sla.schemas import PolicyWrite, ScheduleWrite
from app.tickets import lifecycle, repository, threads
from app.tickets.models import Customer, CustomerRow, Ticket, TicketStatus
from app.users import service as users
from app.users.models import User
from mailtext.message import ParsedMessage
from tests.mailgen import mail

_ids = itertools.count(1)
D = TypeVar("D", bound="SlaDesk")


def _parsed(subject: str, message_id: str, sender: str | None = None) -> ParsedMessage:
    raw = mail(subject=subject, message_id=message_id, sender=sender or "ana@merchant.example")
    parsed = prepare(raw, None, max_attachment_bytes=1024).parsed
    assert parsed is not None
    return parsed


@dataclass
class SlaDesk:
    sessionmaker: async_sessionmaker[AsyncSession]
    admin: User
    users: dict[str, User] = field(default_factory=dict)
    mailbox_id: int | None = None

    async def user(self, name: str, role: str = "agent") -> User:
        await self.token(name, role)
        return self.users[name]

    async def token(self, name: str, role: str = "agent") -> str:
        async with unit_of_work(self.sessionmaker) as session:
            user, token = await users.create_user(session, name=name, email=f"{name}@routedesk.example", role=role)
        self.users[name] = user
        return token

    def who(self, name: str | None) -> User:
        """The user named `name` (made by `user` or `token`), or the desk's admin."""
        return self.users[name] if name is not None else self.admin

    async def area(self, name: str, **policy: Any) -> None:
        async with unit_of_work(self.sessionmaker) as session:
            area = await routing.create_area(session, AreaCreate(name=name))
            if policy:
                await sla.put_policy(session, area, PolicyWrite.model_validate(policy))

    async def schedule(self, name: str, zone: str, intervals: list[dict[str, Any]], holidays: list[Any] = ()) -> None:  # type: ignore[assignment]
        async with unit_of_work(self.sessionmaker) as session:
            schedule = await sla.put_schedule(session, name, ScheduleWrite(zone=zone, intervals=intervals))
            await sla.add_holidays(session, schedule, [(day, "") for day in holidays])

    async def open(
        self,
        at: datetime,
        *,
        area: str = "triage",
        priority: str = "normal",
        customer: str | None = None,
        routed_by: str = "rule",
        probability: float | None = None,
        model_version: str | None = None,
    ) -> int:
        """A customer's first message at `at`, routed to `area` (from `customer`, or from nobody known)."""
        n = next(_ids)
        parsed = _parsed(f"Help {n}", f"<desk{n}@merchant.example>", customer)
        async with unit_of_work(self.sessionmaker) as session:
            row: CustomerRow | None = None
            if customer is not None:
                known = await session.scalar(select(Customer).where(Customer.email == customer))
                if known is None:
                    known = Customer(email=customer, name=customer.split("@")[0].title(), created_at=at)
                    session.add(known)
                    await session.flush()
                row = {"id": known.id, "email": known.email, "name": known.name}
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

    async def customer_writes(self, ticket_id: int, at: datetime) -> None:
        parsed = _parsed("More", f"<more{next(_ids)}@merchant.example>")
        async with unit_of_work(self.sessionmaker) as session:
            reference = await session.scalar(select(Ticket.reference).where(Ticket.id == ticket_id))
            assert reference is not None
            writer = RowWriter()
            index = threads.ThreadIndex(prefix="RD", writer=writer, participants={reference: {"ana@merchant.example"}})
            row = (await repository.tickets_by_reference(session, [reference]))[reference]
            index.sla = await sla.ledger(session, [ticket_id], writer=writer)
            lifecycle.add_message(index, row, parsed=parsed, how="header", now=at)
            await lifecycle.write_batch(session, index)  # as ingest writes its batch

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

    async def priority(self, ticket_id: int, priority: str, at: datetime) -> None:
        async with unit_of_work(self.sessionmaker) as session:
            ticket = await repository.ticket(session, ticket_id, for_update=True)
            assert ticket is not None
            await lifecycle.set_priority(session, ticket, priority=priority, user=self.admin, now=at)

    async def clocks(self, ticket_id: int) -> dict[tuple[Metric, int], ClockRow]:
        async with unit_of_work(self.sessionmaker) as session:
            return {(c["metric"], c["cycle"]): c for c in await sla.clocks_of(session, ticket_id)}

    async def clock(self, ticket_id: int, metric: Metric, cycle: int = 0) -> ClockRow:
        return (await self.clocks(ticket_id))[(metric, cycle)]

    async def ticket(self, ticket_id: int) -> Ticket:
        async with unit_of_work(self.sessionmaker) as session:
            found = await repository.ticket(session, ticket_id)
            assert found is not None
            return found

    async def events(self, ticket_id: int) -> list[tuple[str, str, int, datetime | None, datetime]]:
        async with unit_of_work(self.sessionmaker) as session:
            found = await sla.events_of(session, ticket_id)
            return sorted(((str(e.kind), str(e.metric), e.cycle, e.due_at, e.created_at) for e in found), key=repr)

    async def clocks_known(self, area: str) -> bool:
        async with unit_of_work(self.sessionmaker) as session:
            return await session.scalar(select(Area.id).where(Area.name == area)) is not None

    async def recompute(self, now: datetime) -> int:
        async with unit_of_work(self.sessionmaker) as session:
            return await lifecycle.recompute_sla(session, now=now)


@asynccontextmanager
async def open_desk(kind: type[D], database_url: str, admin: str) -> AsyncIterator[D]:
    """A desk of `kind` on a fresh database, with its admin user."""
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with unit_of_work(sessionmaker) as session:
            user, _ = await users.create_user(session, name=admin, email=f"{admin}@routedesk.example", role="admin")
        yield kind(sessionmaker, user)
    finally:
        await engine.dispose()


@pytest.fixture
async def sla_desk(database_url: str) -> AsyncIterator[SlaDesk]:
    async with open_desk(SlaDesk, database_url, "boss") as desk:
        yield desk
