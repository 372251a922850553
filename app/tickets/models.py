from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, StringEnum, utcnow
from app.routing.models import Area
from app.sla.models import Priority
from app.users.models import User


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SOLVED = "solved"


class EventKind(StrEnum):
    """What a ticket_event records; app/tickets/lifecycle.py writes every one of them."""

    CREATED = "created"
    CUSTOMER_MESSAGE = "customer_message"  # threaded; its data says when it reopened the ticket
    AUTO_REPLY = "auto_reply"
    DELIVERY_FAILED = "delivery_failed"  # a bounce threaded in, or the outbox gave up
    ACKNOWLEDGEMENT_SKIPPED = "acknowledgement_skipped"
    CLAIMED = "claimed"
    RELEASED = "released"
    REPLIED = "replied"
    STATUS = "status"
    REROUTED = "rerouted"
    NOTE = "note"
    PRIORITY = "priority"
    CSAT = "csat"  # a customer's survey rating (app/csat); a bad one carries a note for the assignee
    DEFLECTED = "deflected"  # the customer said a suggested article answered the question: solved
    # Sender trust (issue 14): a `failed` message opened this ticket as a possible spoof (data.reason,
    # data.claimed_ticket, data.claimed_by, data.held_from and the verdict's parts); an `unverified` message
    # threaded into it (data.reason, data.message, data.from).
    SENDER_FAILED = "sender_failed"
    SENDER_UNVERIFIED = "sender_unverified"


class Customer(Base):
    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(320), default=None)
    # Set through the opt-out link of a CSAT survey: no more surveys go to this customer.
    survey_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ticket(Base):
    __tablename__ = "ticket"
    __table_args__ = (
        Index("ix_ticket_area_id_status", "area_id", "status"),
        Index("ix_ticket_customer_id_subject_key", "customer_id", "subject_key"),
        # The reports' windows (app/reports): tickets created, or solved, between two times.
        Index("ix_ticket_created_at", "created_at"),
        Index("ix_ticket_solved_at", "solved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The token customers see in subjects, e.g. RD-7K2M9Q4T: random so it cannot be guessed or enumerated.
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    subject_key: Mapped[str] = mapped_column(String(255), default="")  # normalised, for reply matching
    status: Mapped[TicketStatus] = mapped_column(StringEnum(TicketStatus, 16), default=TicketStatus.OPEN)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="SET NULL"), default=None)
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailbox.id", ondelete="SET NULL"), default=None)
    # Indexed where set (ix_ticket_assignee_id, below): an index of every NULL too led SQLite to count
    # the unassigned through it, 8 ms at 100,000 tickets, where ix_ticket_waiting counts them in 0.4.
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), default=None)
    # A message after the reopen window starts a new ticket that points back at the old one.
    previous_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="SET NULL"), default=None)
    # A repeat contact: the customer's ticket in the same area solved at most tickets.repeat_contact_days
    # before this one was opened. A plain id, no foreign key: SQLite adds a column in place only with an
    # unnamed constraint that Alembic cannot compare, and rebuilding `ticket` trips over the report views.
    # Tickets are never deleted, so the id does not dangle.
    repeat_of_ticket_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # Opened by a message whose sender failed authentication (a DMARC fail, a failing aligned DKIM
    # signature): maybe someone posing as the customer. `spoof_of_ticket_id` is the ticket the message
    # claimed to belong to (by header, token or subject), which it never reached: a plain id, as above.
    possible_spoof: Mapped[bool] = mapped_column(Boolean, default=False)
    spoof_of_ticket_id: Mapped[int | None] = mapped_column(Integer, default=None)
    routed_by: Mapped[str] = mapped_column(String(16), default="fallback")  # rule | model | fallback | agent
    model_version: Mapped[str | None] = mapped_column(String(64), default=None)
    route_probability: Mapped[float | None] = mapped_column(Float, default=None)
    priority: Mapped[Priority] = mapped_column(StringEnum(Priority, 16), default=Priority.NORMAL)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_customer_message_at: Mapped[datetime | None] = mapped_column(default=None)
    first_response_due_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution_due_at: Mapped[datetime | None] = mapped_column(default=None)
    # The nearest due time of the ticket's running SLA clocks, any metric (app/sla): claim order, queues.
    sla_due_at: Mapped[datetime | None] = mapped_column(default=None)
    first_responded_at: Mapped[datetime | None] = mapped_column(default=None)
    solved_at: Mapped[datetime | None] = mapped_column(default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)

    area: Mapped[Area] = relationship(lazy="raise")
    customer: Mapped[Customer | None] = relationship(lazy="raise")
    assignee: Mapped[User | None] = relationship(lazy="raise")


def urgency() -> Any:
    """The ticket's next SLA deadline, across metrics (kept by the lifecycle from its clocks)."""
    return Ticket.sla_due_at


def breached(now: datetime) -> Any:
    """Whether a ticket is past its SLA deadline now: not solved, and its current due time (urgency)
    has passed. The one definition, for GET /queues and the metrics."""
    return (Ticket.status != TicketStatus.SOLVED) & (urgency() < now)


# Claiming reads the first entry of this index for the area and stops: waiting tickets in claim order.
# Without it every claim sorted all of the area's open tickets (2 ms of PostgreSQL per claim at 2,000).
_WAITING = text("status = 'open' AND assignee_id IS NULL")
Index(
    "ix_ticket_claim_order",
    Ticket.area_id,
    urgency(),
    Ticket.created_at,
    Ticket.id,
    postgresql_where=_WAITING,
    sqlite_where=_WAITING,
)

# The unassigned list (the console's, GET /tickets?status=open&unassigned=true): waiting tickets, last
# changed first, read from this index's end and counted in it alone (SQLite: 8 + 8 ms -> 0.1 + 0.4 ms).
Index(
    "ix_ticket_waiting",
    Ticket.updated_at,
    Ticket.id,
    postgresql_where=_WAITING,
    sqlite_where=_WAITING,
)
_ASSIGNED = text("assignee_id IS NOT NULL")
Index("ix_ticket_assignee_id", Ticket.assignee_id, postgresql_where=_ASSIGNED, sqlite_where=_ASSIGNED)

# The queue counts (GET /queues, the console's queues page) read every unsolved ticket: this index holds
# each one's every column they read, so they scan it alone (a few per cent of the table at a steady
# backlog) and never the table. At 100,000 tickets with 19,000 unsolved: 79 ms -> 8 ms on SQLite.
_UNSOLVED = text("status != 'solved'")
Index(
    "ix_ticket_unsolved",
    Ticket.area_id,
    Ticket.status,
    Ticket.assignee_id,
    urgency(),
    Ticket.created_at,
    postgresql_where=_UNSOLVED,
    sqlite_where=_UNSOLVED,
)


class Participant(Base):
    """Addresses that take part in a ticket: only they may thread into it by its subject token."""

    __tablename__ = "participant"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), primary_key=True)

    ticket: Mapped[Ticket] = relationship(lazy="raise")


class TicketEvent(Base):
    __tablename__ = "ticket_event"
    __table_args__ = (
        # A ticket's events of one kind: the ticket_facts view counts its replies (migration 0009).
        Index("ix_ticket_event_ticket_id_kind", "ticket_id", "kind"),
        # The events that reopened a solved ticket, a few per hundred tickets: ticket_facts.reopen_count.
        Index(
            "ix_ticket_event_reopen",
            "ticket_id",
            postgresql_where=text(
                "(kind = 'customer_message' AND (data ->> 'reopened_from') = 'solved')"
                " OR (kind = 'status' AND (data ->> 'from') = 'solved')"
            ),
            sqlite_where=text(
                "(kind = 'customer_message' AND json_extract(data, '$.reopened_from') = 'solved')"
                " OR (kind = 'status' AND json_extract(data, '$.from') = 'solved')"
            ),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    kind: Mapped[EventKind] = mapped_column(StringEnum(EventKind, 32))
    actor: Mapped[str] = mapped_column(String(100), default="system")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(lazy="raise")


# The ingest fast path reads and writes these tables as plain rows (see app.db.RowWriter). A row the
# batch creates has no "id" until it is written; a row that points at another new row holds that row.


class CustomerRow(TypedDict):
    id: NotRequired[int]
    email: str
    name: str | None
    created_at: NotRequired[datetime]


class TicketRow(TypedDict):
    id: NotRequired[int]
    reference: str
    subject: str
    subject_key: str
    status: TicketStatus
    area_id: int
    customer_id: int | CustomerRow | None
    mailbox_id: int | None
    assignee_id: int | None
    previous_ticket_id: int | None
    repeat_of_ticket_id: NotRequired[int | None]
    possible_spoof: NotRequired[bool]
    spoof_of_ticket_id: NotRequired[int | None]
    routed_by: str
    model_version: str | None
    route_probability: float | None
    priority: Priority
    created_at: datetime
    updated_at: datetime
    last_customer_message_at: datetime | None
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    sla_due_at: datetime | None
    first_responded_at: datetime | None
    solved_at: datetime | None
    claimed_at: datetime | None


class ClaimedRow(TicketRow):
    customer_email: str | None


class ParticipantRow(TypedDict):
    ticket_id: int | TicketRow
    email: str


class TicketEventRow(TypedDict):
    ticket_id: int | TicketRow
    kind: EventKind
    actor: str
    data: dict[str, Any]
    note: str | None
    created_at: datetime
