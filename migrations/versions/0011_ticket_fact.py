"""ticket_fact: the reports' per-ticket figures stored, and ticket_facts read from it

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 01:30:00

Until now the view `ticket_facts` derived every ticket's figures (clock minutes, breach flags, reply
and reopen counts) whenever a report read it: a 90-day report over a million tickets took 20 s. The
table `ticket_fact` keeps them, one row per ticket, written with every change to the ticket, its
events or its clocks (app/reports/facts.py). It is filled here from the old view (whose definitions
are the figures' truth), and the view becomes the table with the names beside the ids: the same
columns, in the same order, so that analysts' queries and the analyst role's grants stay as they
were. The downgrade puts 0009's view back.
"""

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "ticket_id",
    "reference",
    "status",
    "priority",
    "area_id",
    "customer_id",
    "assignee_id",
    "mailbox_id",
    "created_at",
    "first_replied_at",
    "solved_at",
    "first_reply_calendar_minutes",
    "first_reply_business_minutes",
    "first_reply_achieved",
    "first_reply_breached",
    "next_reply_cycles",
    "next_reply_calendar_minutes",
    "next_reply_business_minutes",
    "next_reply_achieved",
    "next_reply_breaches",
    "reopen_count",
    "public_reply_count",
    "resolution_calendar_minutes",
    "resolution_business_minutes",
    "resolution_achieved",
    "resolution_breached",
    "routed_by",
    "model_version",
    "route_probability",
    "rerouted",
)

# The names the view puts beside the ids, each after its id, as 0009's view had them.
NAMES = {
    "area_id": ("a.name AS area",),
    "customer_id": ("c.email AS customer_email",),
    "assignee_id": ("u.name AS assignee", "u.email AS assignee_email"),
    "mailbox_id": ("m.name AS mailbox",),
}


def _view(columns: Sequence[str] = COLUMNS) -> str:
    """The view over `columns` of ticket_fact (later migrations add columns: 0015)."""
    selected: list[str] = []
    for column in columns:
        selected.append(f"f.{column} AS {column}")
        selected.extend(NAMES.get(column, ()))
    return (
        "CREATE VIEW ticket_facts AS\nSELECT\n  "
        + ",\n  ".join(selected)
        + """
FROM ticket_fact f
JOIN area a ON a.id = f.area_id
LEFT JOIN customer c ON c.id = f.customer_id
LEFT JOIN "user" u ON u.id = f.assignee_id
LEFT JOIN mailbox m ON m.id = f.mailbox_id
"""
    )


def upgrade() -> None:
    op.create_table(
        "ticket_fact",
        # BIGINT on SQLite: a key that is not the rowid, so that rows keep the order they are written in.
        sa.Column("ticket_id", sa.Integer().with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("mailbox_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("solved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_reply_calendar_minutes", sa.Float(), nullable=True),
        sa.Column("first_reply_business_minutes", sa.Float(), nullable=True),
        sa.Column("first_reply_achieved", sa.Boolean(), nullable=True),
        sa.Column("first_reply_breached", sa.Boolean(), nullable=True),
        sa.Column("next_reply_cycles", sa.Integer(), nullable=False),
        sa.Column("next_reply_calendar_minutes", sa.Float(), nullable=True),
        sa.Column("next_reply_business_minutes", sa.Float(), nullable=True),
        sa.Column("next_reply_achieved", sa.Integer(), nullable=False),
        sa.Column("next_reply_breaches", sa.Integer(), nullable=False),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("public_reply_count", sa.Integer(), nullable=False),
        sa.Column("resolution_calendar_minutes", sa.Float(), nullable=True),
        sa.Column("resolution_business_minutes", sa.Float(), nullable=True),
        sa.Column("resolution_achieved", sa.Boolean(), nullable=True),
        sa.Column("resolution_breached", sa.Boolean(), nullable=True),
        sa.Column("routed_by", sa.String(length=16), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("route_probability", sa.Float(), nullable=True),
        sa.Column("rerouted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_ticket_fact_ticket_id_ticket"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_fact")),
    )
    columns = ", ".join(COLUMNS)
    # In creation order, the order in which new tickets' rows follow: a report's window of created
    # tickets is then neighbouring rows on disk, on both engines.
    op.execute(
        f"INSERT INTO ticket_fact ({columns}) SELECT {columns} FROM ticket_facts ORDER BY created_at, ticket_id"  # noqa: S608
    )
    # After the rows: one sort per index instead of an insert into each per row.
    op.create_index("ix_ticket_fact_created_at", "ticket_fact", ["created_at", "area_id", "assignee_id"])
    op.create_index("ix_ticket_fact_solved_at", "ticket_fact", ["solved_at", "created_at", "area_id", "assignee_id"])
    op.create_index("ix_ticket_fact_area_id_created_at", "ticket_fact", ["area_id", "created_at"])
    op.create_index("ix_ticket_fact_assignee_id_created_at", "ticket_fact", ["assignee_id", "created_at"])
    op.execute("ANALYZE ticket_fact")
    _replace_view(_view())


def downgrade() -> None:
    views = importlib.import_module("migrations.versions.0009_report_views")
    _replace_view(views._ticket_facts(op.get_bind().dialect.name == "sqlite"))
    op.drop_table("ticket_fact")


def _replace_view(definition: str) -> None:
    """A new ticket_facts, with the grants the old one had (the analysts' roles: app/reports/analysts.py):
    its columns change type (counts are integers now, not bigint), which CREATE OR REPLACE refuses."""
    bind = op.get_bind()
    grants: list[tuple[str, str]] = []
    if bind.dialect.name == "postgresql":
        found = bind.execute(
            sa.text(
                "SELECT grantee, privilege_type FROM information_schema.role_table_grants"
                " WHERE table_schema = current_schema() AND table_name = 'ticket_facts'"
                " AND grantee <> current_user"
            )
        )
        grants = [(str(grantee), str(privilege)) for grantee, privilege in found]
    op.execute("DROP VIEW ticket_facts")
    op.execute(definition)
    for grantee, privilege in grants:
        who = "PUBLIC" if grantee == "PUBLIC" else f'"{grantee}"'
        op.execute(f"GRANT {privilege} ON ticket_facts TO {who}")
