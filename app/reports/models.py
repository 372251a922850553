from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table

from app.db import UTCDateTime

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
