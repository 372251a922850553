"""report views for analysts: ticket_facts, reply_facts, sla_events; the indexes the reports read by

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 20:15:00

The same columns on SQLite and PostgreSQL (booleans are 0/1 on SQLite). Minutes come from the stored
sla_clock rows, never recomputed here. Names sit beside ids where an analyst wants them (area,
assignee, mailbox); no raw mail, body, token or secret is in any view. A ticket's events and
next-reply clocks are read through scalar subqueries, evaluated only for the rows and columns a query
reads (one SQL text for both engines, but for the JSON operator).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = ("sla_events", "reply_facts", "ticket_facts")


def _json(column: str, key: str, sqlite: bool) -> str:
    return f"json_extract({column}, '$.{key}')" if sqlite else f"({column} ->> '{key}')"


# A ticket_event that reopened a solved ticket: the condition of ticket_facts' reopen_count and of the
# partial index that serves it (ix_ticket_event_reopen: a few entries per hundred tickets).
def _reopens(sqlite: bool, table: str = "e.") -> str:
    return (
        f"({table}kind = 'customer_message' AND {_json(table + 'data', 'reopened_from', sqlite)} = 'solved')"
        f" OR ({table}kind = 'status' AND {_json(table + 'data', 'from', sqlite)} = 'solved')"
    )


def _ticket_facts(sqlite: bool) -> str:
    created_routed_by = (
        "(SELECT "  # noqa: S608 (fixed text: no input reaches these views)
        + _json("c0.data", "routed_by", sqlite)
        + " FROM ticket_event c0"
        " WHERE c0.ticket_id = t.id AND c0.kind = 'created' ORDER BY c0.id LIMIT 1)"
    )
    # Scalar subqueries, not joins: each runs only for the rows, and the columns, a query reads, and
    # not at all where the ticket's own columns already give the answer. Next-reply cycles start at a
    # customer's message after the first reply, so a ticket whose last message came before it has none.
    answered_again = "t.first_responded_at IS NOT NULL AND t.last_customer_message_at >= t.first_responded_at"
    next_reply = "FROM sla_clock n WHERE n.ticket_id = t.id AND n.metric = 'next_reply'"
    events = "FROM ticket_event e WHERE e.ticket_id = t.id"
    per_ticket = f"""
  CASE WHEN {answered_again} THEN (SELECT count(*) {next_reply}) ELSE 0 END AS next_reply_cycles,
  CASE WHEN {answered_again} THEN (SELECT sum(n.calendar_minutes) {next_reply} AND n.state = 'fulfilled') END
    AS next_reply_calendar_minutes,
  CASE WHEN {answered_again} THEN (SELECT sum(n.business_minutes) {next_reply} AND n.state = 'fulfilled') END
    AS next_reply_business_minutes,
  CASE WHEN {answered_again} THEN
    (SELECT count(*) {next_reply} AND n.state = 'fulfilled' AND n.breached_at IS NULL) ELSE 0 END
    AS next_reply_achieved,
  CASE WHEN {answered_again} THEN (SELECT count(*) {next_reply} AND n.breached_at IS NOT NULL) ELSE 0 END
    AS next_reply_breaches,
  (SELECT count(*) {events} AND ({_reopens(sqlite)})) AS reopen_count,
  CASE WHEN t.first_responded_at IS NULL THEN 0 ELSE (SELECT count(*) {events} AND e.kind = 'replied') END
    AS public_reply_count,"""
    return f"""
CREATE VIEW ticket_facts AS
SELECT
  t.id AS ticket_id,
  t.reference AS reference,
  t.status AS status,
  t.priority AS priority,
  t.area_id AS area_id,
  a.name AS area,
  t.customer_id AS customer_id,
  c.email AS customer_email,
  t.assignee_id AS assignee_id,
  u.name AS assignee,
  u.email AS assignee_email,
  t.mailbox_id AS mailbox_id,
  m.name AS mailbox,
  t.created_at AS created_at,
  t.first_responded_at AS first_replied_at,
  t.solved_at AS solved_at,
  CASE WHEN fr.state = 'fulfilled' THEN fr.calendar_minutes END AS first_reply_calendar_minutes,
  CASE WHEN fr.state = 'fulfilled' THEN fr.business_minutes END AS first_reply_business_minutes,
  CASE WHEN fr.id IS NOT NULL THEN fr.state = 'fulfilled' AND fr.breached_at IS NULL END AS first_reply_achieved,
  CASE WHEN fr.id IS NOT NULL THEN fr.breached_at IS NOT NULL END AS first_reply_breached,{per_ticket}
  CASE WHEN rs.state = 'fulfilled' THEN rs.calendar_minutes END AS resolution_calendar_minutes,
  CASE WHEN rs.state = 'fulfilled' THEN rs.business_minutes END AS resolution_business_minutes,
  CASE WHEN rs.id IS NOT NULL THEN rs.state = 'fulfilled' AND rs.breached_at IS NULL END AS resolution_achieved,
  CASE WHEN rs.id IS NOT NULL THEN rs.breached_at IS NOT NULL END AS resolution_breached,
  CASE WHEN t.routed_by <> 'agent' THEN t.routed_by ELSE coalesce({created_routed_by}, 'fallback') END
    AS routed_by,
  t.model_version AS model_version,
  t.route_probability AS route_probability,
  t.routed_by = 'agent' AS rerouted
FROM ticket t
JOIN area a ON a.id = t.area_id
LEFT JOIN customer c ON c.id = t.customer_id
LEFT JOIN "user" u ON u.id = t.assignee_id
LEFT JOIN mailbox m ON m.id = t.mailbox_id
LEFT JOIN sla_clock fr ON fr.ticket_id = t.id AND fr.metric = 'first_reply' AND fr.cycle = 0
LEFT JOIN sla_clock rs ON rs.ticket_id = t.id AND rs.metric = 'resolution' AND rs.cycle = 0
"""  # noqa: S608 (fixed text)


def _reply_facts(sqlite: bool) -> str:
    # The actor of an agent's event is "role:name" (app/tickets/lifecycle.py:actor); user names are unique.
    name = "substr(e.actor, instr(e.actor, ':') + 1)" if sqlite else "substr(e.actor, strpos(e.actor, ':') + 1)"
    return f"""
CREATE VIEW reply_facts AS
SELECT
  e.id AS reply_id,
  e.ticket_id AS ticket_id,
  t.reference AS reference,
  t.priority AS priority,
  t.area_id AS area_id,
  a.name AS area,
  u.id AS agent_id,
  u.name AS agent,
  u.email AS agent_email,
  e.created_at AS replied_at,
  k.metric AS answered_metric,
  k.cycle AS answered_cycle,
  k.started_at AS wait_started_at,
  k.calendar_minutes AS wait_calendar_minutes,
  k.business_minutes AS wait_business_minutes,
  k.target_minutes AS wait_target_minutes,
  CASE WHEN k.id IS NOT NULL THEN k.breached_at IS NOT NULL END AS wait_breached
FROM ticket_event e
JOIN ticket t ON t.id = e.ticket_id
JOIN area a ON a.id = t.area_id
LEFT JOIN "user" u ON u.name = {name}
LEFT JOIN sla_clock k ON k.ticket_id = e.ticket_id AND k.metric IN ('first_reply', 'next_reply')
  AND k.state = 'fulfilled' AND k.fulfilled_at = e.created_at
WHERE e.kind = 'replied'
"""  # noqa: S608 (fixed text)


SLA_EVENTS = """
CREATE VIEW sla_events AS
SELECT
  s.id AS sla_event_id,
  s.ticket_id AS ticket_id,
  t.reference AS reference,
  t.priority AS priority,
  t.area_id AS area_id,
  a.name AS area,
  s.kind AS kind,
  s.metric AS metric,
  s.cycle AS cycle,
  s.target_minutes AS target_minutes,
  s.due_at AS due_at,
  s.calendar_minutes AS calendar_minutes,
  s.business_minutes AS business_minutes,
  s.created_at AS created_at
FROM sla_event s
JOIN ticket t ON t.id = s.ticket_id
JOIN area a ON a.id = t.area_id
"""


def upgrade() -> None:
    # What the reports filter and count by: a window of created or solved tickets, a ticket's events
    # of one kind (the facts' reply and reopen counts).
    op.create_index(op.f("ix_ticket_created_at"), "ticket", ["created_at"], unique=False)
    op.create_index(op.f("ix_ticket_solved_at"), "ticket", ["solved_at"], unique=False)
    op.create_index(op.f("ix_ticket_event_ticket_id_kind"), "ticket_event", ["ticket_id", "kind"], unique=False)
    sqlite = op.get_bind().dialect.name == "sqlite"
    where = sa.text(_reopens(sqlite, table=""))
    op.create_index("ix_ticket_event_reopen", "ticket_event", ["ticket_id"], postgresql_where=where, sqlite_where=where)
    op.execute(_ticket_facts(sqlite))
    op.execute(_reply_facts(sqlite))
    op.execute(SLA_EVENTS)


def downgrade() -> None:
    for view in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")
    op.drop_index("ix_ticket_event_reopen", table_name="ticket_event")
    op.drop_index(op.f("ix_ticket_event_ticket_id_kind"), table_name="ticket_event")
    op.drop_index(op.f("ix_ticket_solved_at"), table_name="ticket")
    op.drop_index(op.f("ix_ticket_created_at"), table_name="ticket")
