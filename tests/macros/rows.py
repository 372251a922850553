"""Small builders for the rows macro tests need: areas, tickets with a customer and a first message."""

from __future__ import annotations

import hashlib
import itertools

from sqlalchemy.ext.asyncio import AsyncSession

from app.inbox.models import Message
from app.macros import service as macros
from app.macros.schemas import MacroCreate, MacroRead
from app.routing.models import Area
from app.tickets.models import Customer, Ticket
from app.tickets.threads import new_reference
from app.users.models import User

_serial = itertools.count(1)


async def area(session: AsyncSession, name: str) -> Area:
    row = Area(name=name, title=name.title())
    session.add(row)
    await session.flush()
    return row


async def agent(session: AsyncSession, name: str = "maya") -> User:
    row = User(name=name, email=f"{name}@support.example", role="agent")
    session.add(row)
    await session.flush()
    return row


async def ticket(session: AsyncSession, *, area: Area, subject: str, text: str) -> Ticket:
    n = next(_serial)
    customer = Customer(email=f"customer{n}@merchant.example", name=f"Customer {n}")
    row = Ticket(reference=new_reference("RD"), subject=subject, area_id=area.id, customer=customer)
    session.add(row)
    await session.flush()
    raw = f"Subject: {subject}\r\n\r\n{text}\r\n".encode()
    session.add(
        Message(
            direction="inbound",
            message_id=f"m{n}-{row.reference}@merchant.example",
            raw_sha256=hashlib.sha256(raw + row.reference.encode()).hexdigest(),
            raw=raw,
            size=len(raw),
            subject=subject,
            body_text=text,
            new_text=text,
            from_address=customer.email,
            ticket_id=row.id,
            customer_id=customer.id,
        )
    )
    await session.flush()
    return row


async def macro(session: AsyncSession, title: str, body: str, *, area: Area | None = None) -> MacroRead:
    return await macros.create_macro(
        session, data=MacroCreate(title=title, body=body, area_id=None if area is None else area.id)
    )
