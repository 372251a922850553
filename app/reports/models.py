from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime


class TicketFact(Base):
    """One row per ticket: what the reports count, kept current in the transaction of every change to
    the ticket, its events or its SLA clocks (`app/reports/facts.py`), so that a report reads stored
    figures instead of deriving every ticket's again. The `ticket_facts` view adds the names."""

    __tablename__ = "ticket_fact"

    # On SQLite a BIGINT key is not the rowid (only INTEGER PRIMARY KEY is): rows stay in the order
    # they were written, which is creation time (the migration fills the table sorted, new tickets
    # come after), so that a report's window of created tickets reads neighbouring pages, as
    # PostgreSQL's heap has them, and not pages all over the file in ticket id order.
    ticket_id: Mapped[int] = mapped_column(
        Integer().with_variant(BigInteger(), "sqlite"), ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    reference: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    area_id: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(Integer)
    assignee_id: Mapped[int | None] = mapped_column(Integer)
    mailbox_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column()
    first_replied_at: Mapped[datetime | None] = mapped_column()
    solved_at: Mapped[datetime | None] = mapped_column()
    first_reply_calendar_minutes: Mapped[float | None] = mapped_column(Float)
    first_reply_business_minutes: Mapped[float | None] = mapped_column(Float)
    first_reply_achieved: Mapped[bool | None] = mapped_column(Boolean)
    first_reply_breached: Mapped[bool | None] = mapped_column(Boolean)
    next_reply_cycles: Mapped[int] = mapped_column(Integer)
    next_reply_calendar_minutes: Mapped[float | None] = mapped_column(Float)
    next_reply_business_minutes: Mapped[float | None] = mapped_column(Float)
    next_reply_achieved: Mapped[int] = mapped_column(Integer)
    next_reply_breaches: Mapped[int] = mapped_column(Integer)
    reopen_count: Mapped[int] = mapped_column(Integer)
    public_reply_count: Mapped[int] = mapped_column(Integer)
    resolution_calendar_minutes: Mapped[float | None] = mapped_column(Float)
    resolution_business_minutes: Mapped[float | None] = mapped_column(Float)
    resolution_achieved: Mapped[bool | None] = mapped_column(Boolean)
    resolution_breached: Mapped[bool | None] = mapped_column(Boolean)
    routed_by: Mapped[str | None] = mapped_column(String(16))
    model_version: Mapped[str | None] = mapped_column(String(64))
    route_probability: Mapped[float | None] = mapped_column(Float)
    rerouted: Mapped[bool] = mapped_column(Boolean)
    # Sender trust (issue 14): the verdict and From domain of the ticket's first customer message
    # (NULL: not assessed, or no such message), and its customer messages per verdict.
    sender_verdict: Mapped[str | None] = mapped_column(String(16))
    sender_domain: Mapped[str | None] = mapped_column(String(255))
    verified_messages: Mapped[int] = mapped_column(Integer, default=0)
    unverified_messages: Mapped[int] = mapped_column(Integer, default=0)
    failed_messages: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        # The reports' windows: tickets created in it (with their groups' keys, so that a count reads
        # the index alone), solved in it, and open at its end.
        Index("ix_ticket_fact_created_at", "created_at", "area_id", "assignee_id"),
        Index("ix_ticket_fact_solved_at", "solved_at", "created_at", "area_id", "assignee_id"),
        Index("ix_ticket_fact_area_id_created_at", "area_id", "created_at"),
        Index("ix_ticket_fact_assignee_id_created_at", "assignee_id", "created_at"),
    )


# The analysts' views (migration 0009), described for queries: their own metadata, so that neither
# Alembic nor create_all takes them for tables. Booleans come back as bool on both engines.
VIEWS = MetaData()

ticket_facts = Table(
    "ticket_facts",
    VIEWS,
    Column("ticket_id", Integer),
    Column("reference", String),
    Column("status", String),
    Column("priority", String),
    Column("area_id", Integer),
    Column("area", String),
    Column("customer_id", Integer),
    Column("customer_email", String),
    Column("assignee_id", Integer),
    Column("assignee", String),
    Column("assignee_email", String),
    Column("mailbox_id", Integer),
    Column("mailbox", String),
    Column("created_at", UTCDateTime()),
    Column("first_replied_at", UTCDateTime()),
    Column("solved_at", UTCDateTime()),
    Column("first_reply_calendar_minutes", Float),
    Column("first_reply_business_minutes", Float),
    Column("first_reply_achieved", Boolean),
    Column("first_reply_breached", Boolean),
    Column("next_reply_cycles", Integer),
    Column("next_reply_calendar_minutes", Float),
    Column("next_reply_business_minutes", Float),
    Column("next_reply_achieved", Integer),
    Column("next_reply_breaches", Integer),
    Column("reopen_count", Integer),
    Column("public_reply_count", Integer),
    Column("resolution_calendar_minutes", Float),
    Column("resolution_business_minutes", Float),
    Column("resolution_achieved", Boolean),
    Column("resolution_breached", Boolean),
    Column("routed_by", String),
    Column("model_version", String),
    Column("route_probability", Float),
    Column("rerouted", Boolean),
    Column("sender_verdict", String),
    Column("sender_domain", String),
    Column("verified_messages", Integer),
    Column("unverified_messages", Integer),
    Column("failed_messages", Integer),
)

reply_facts = Table(
    "reply_facts",
    VIEWS,
    Column("reply_id", Integer),
    Column("ticket_id", Integer),
    Column("reference", String),
    Column("priority", String),
    Column("area_id", Integer),
    Column("area", String),
    Column("agent_id", Integer),
    Column("agent", String),
    Column("agent_email", String),
    Column("replied_at", UTCDateTime()),
    Column("answered_metric", String),
    Column("answered_cycle", Integer),
    Column("wait_started_at", UTCDateTime()),
    Column("wait_calendar_minutes", Float),
    Column("wait_business_minutes", Float),
    Column("wait_target_minutes", Integer),
    Column("wait_breached", Boolean),
)

sla_events = Table(
    "sla_events",
    VIEWS,
    Column("sla_event_id", Integer),
    Column("ticket_id", Integer),
    Column("reference", String),
    Column("priority", String),
    Column("area_id", Integer),
    Column("area", String),
    Column("kind", String),
    Column("metric", String),
    Column("cycle", Integer),
    Column("target_minutes", Integer),
    Column("due_at", UTCDateTime()),
    Column("calendar_minutes", Float),
    Column("business_minutes", Float),
    Column("created_at", UTCDateTime()),
)
