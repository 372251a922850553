"""SLA policies, schedules, holidays, clocks and their event log; ticket priority

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:30:00

Tickets get a priority (normal for those before; an admin rule may give one: routing_rule.priority)
and `sla_due_at`, the nearest due time of their running clocks, which the claim index now orders
by. The two due columns stay, kept by the clocks.
Each ticket from before gets its clocks from what it had: first reply and resolution in calendar
minutes against its area's targets, fulfilled where it was answered or solved, with its old due
times; nothing is lost, and `routedesk sla recompute` rebuilds them from history when wanted.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("status = 'open' AND assignee_id IS NULL")
UNBREACHED = sa.text("state = 'running' AND breached_at IS NULL")


def _minutes(start: str, end: str) -> str:
    if op.get_bind().dialect.name == "sqlite":
        return f"((julianday({end}) - julianday({start})) * 1440.0)"
    return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 60.0)"


def upgrade() -> None:
    op.create_table(
        "schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("week", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule")),
        sa.UniqueConstraint("name", name=op.f("uq_schedule_name")),
    )
    op.create_table(
        "holiday",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedule.id"], name=op.f("fk_holiday_schedule_id_schedule"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holiday")),
        sa.UniqueConstraint("schedule_id", "day", name=op.f("uq_holiday_schedule_id_day")),
    )
    op.create_index(op.f("ix_holiday_schedule_id"), "holiday", ["schedule_id"], unique=False)
    op.create_table(
        "sla_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("business_hours", sa.Boolean(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_sla_policy_area_id_area"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedule.id"], name=op.f("fk_sla_policy_schedule_id_schedule"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policy")),
        sa.UniqueConstraint("area_id", name=op.f("uq_sla_policy_area_id")),
    )
    op.create_table(
        "sla_clock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("target_minutes", sa.Integer(), nullable=False),
        sa.Column("business_hours", sa.Boolean(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("running_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("calendar_minutes", sa.Float(), nullable=False),
        sa.Column("business_minutes", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedule.id"], name=op.f("fk_sla_clock_schedule_id_schedule"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_sla_clock_ticket_id_ticket"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_clock")),
        sa.UniqueConstraint("ticket_id", "metric", "cycle", name=op.f("uq_sla_clock_ticket_id_metric_cycle")),
    )
    op.create_index("ix_sla_clock_due", "sla_clock", ["due_at"], postgresql_where=UNBREACHED, sqlite_where=UNBREACHED)
    op.create_table(
        "sla_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("target_minutes", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("calendar_minutes", sa.Float(), nullable=False),
        sa.Column("business_minutes", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_sla_event_ticket_id_ticket"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_event")),
    )
    op.create_index(op.f("ix_sla_event_ticket_id"), "sla_event", ["ticket_id"], unique=False)
    with op.batch_alter_table("area") as batch:
        batch.add_column(sa.Column("sla_warning_minutes", sa.Integer(), nullable=False, server_default="60"))
    with op.batch_alter_table("routing_rule") as batch:
        batch.add_column(sa.Column("priority", sa.String(length=16), nullable=True))
    op.drop_index("ix_ticket_claim_order", table_name="ticket")
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("priority", sa.String(length=16), nullable=False, server_default="normal"))
        batch.add_column(sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=True))
    # The tickets from before: their two clocks, from the due times and the answers they had.
    for metric, target, due, done in (
        ("first_reply", "first_response_minutes", "first_response_due_at", "first_responded_at"),
        ("resolution", "resolution_minutes", "resolution_due_at", "solved_at"),
    ):
        minutes = _minutes("t.created_at", f"t.{done}")
        running = "t.status = 'open'"
        op.execute(
            sa.text(
                "INSERT INTO sla_clock (ticket_id, metric, cycle, state, target_minutes, business_hours, started_at,"  # noqa: S608 (our own column names)
                " running_since, due_at, fulfilled_at, breached_at, calendar_minutes, business_minutes)"
                f" SELECT t.id, '{metric}', 0,"
                f" CASE WHEN t.{done} IS NOT NULL THEN 'fulfilled' WHEN {running} THEN 'running' ELSE 'paused' END,"
                f" a.{target}, false, t.created_at,"
                f" CASE WHEN t.{done} IS NULL AND {running} THEN t.created_at END,"
                f" t.{due}, t.{done},"
                f" CASE WHEN t.{due} < COALESCE(t.{done}, CURRENT_TIMESTAMP) THEN t.{due} END,"
                f" COALESCE({minutes}, 0), COALESCE({minutes}, 0)"
                f" FROM ticket t JOIN area a ON a.id = t.area_id WHERE t.{due} IS NOT NULL"
            )
        )
    op.execute(
        sa.text(
            "UPDATE ticket SET sla_due_at = CASE WHEN status <> 'open' THEN NULL"
            " WHEN first_responded_at IS NULL THEN first_response_due_at ELSE resolution_due_at END"
        )
    )
    op.create_index(
        "ix_ticket_claim_order",
        "ticket",
        ["area_id", "sla_due_at", "created_at", "id"],
        postgresql_where=WAITING,
        sqlite_where=WAITING,
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_claim_order", table_name="ticket")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("sla_due_at")
        batch.drop_column("priority")
    op.create_index(
        "ix_ticket_claim_order",
        "ticket",
        [
            sa.text("area_id"),
            sa.text("(CASE WHEN first_responded_at IS NULL THEN first_response_due_at ELSE resolution_due_at END)"),
            sa.text("created_at"),
            sa.text("id"),
        ],
        postgresql_where=WAITING,
        sqlite_where=WAITING,
    )
    with op.batch_alter_table("routing_rule") as batch:
        batch.drop_column("priority")
    with op.batch_alter_table("area") as batch:
        batch.drop_column("sla_warning_minutes")
    op.drop_index(op.f("ix_sla_event_ticket_id"), table_name="sla_event")
    op.drop_table("sla_event")
    op.drop_index("ix_sla_clock_due", table_name="sla_clock")
    op.drop_table("sla_clock")
    op.drop_table("sla_policy")
    op.drop_index(op.f("ix_holiday_schedule_id"), table_name="holiday")
    op.drop_table("holiday")
    op.drop_table("schedule")
