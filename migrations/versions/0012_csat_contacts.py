"""CSAT surveys, contact-rate denominators, repeat contacts

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 01:10:00

`csat_survey` (one row per resolution cycle that reached its survey time: sent or skipped, and the
customer's rating) replaces the unused `csat` table of 0003, which held nothing. `denominator` holds the
admins' contact-rate denominators per period and area. The area gets its survey delay, the customer the
opt-out flag of its survey link, the ticket the id of the solved ticket it repeats. The columns are added in
place (ALTER TABLE ... ADD COLUMN on both engines): rebuilding `ticket` on SQLite would trip over the
report views that read it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("csat")
    op.create_table(
        "csat_survey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("solved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("skip_reason", sa.String(length=32), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_area_id", sa.Integer(), nullable=True),
        sa.Column("sent_assignee_id", sa.Integer(), nullable=True),
        sa.Column("rating", sa.String(length=8), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_csat_survey_ticket_id_ticket"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_csat_survey_customer_id_customer"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["sent_area_id"], ["area.id"], name=op.f("fk_csat_survey_sent_area_id_area"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["sent_assignee_id"], ["user.id"], name=op.f("fk_csat_survey_sent_assignee_id_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["area_id"], ["area.id"], name=op.f("fk_csat_survey_area_id_area"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["user.id"], name=op.f("fk_csat_survey_assignee_id_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat_survey")),
        sa.UniqueConstraint("ticket_id", "cycle", name=op.f("uq_csat_survey_ticket_id_cycle")),
        sa.UniqueConstraint("ticket_id", "solved_at", name=op.f("uq_csat_survey_ticket_id_solved_at")),
    )
    with op.batch_alter_table("csat_survey") as batch:
        batch.create_index("ix_csat_survey_customer_id_sent_at", ["customer_id", "sent_at"], unique=False)
        batch.create_index("ix_csat_survey_sent_at", ["sent_at"], unique=False)
        batch.create_index("ix_csat_survey_rated_at", ["rated_at"], unique=False)
    op.create_table(
        "denominator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_denominator_area_id_area"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_denominator")),
    )
    with op.batch_alter_table("denominator") as batch:
        batch.create_index("ix_denominator_starts_on_ends_on", ["starts_on", "ends_on"], unique=False)
    op.add_column("area", sa.Column("survey_delay_minutes", sa.Integer(), nullable=False, server_default="1440"))
    op.add_column("customer", sa.Column("survey_opt_out", sa.Boolean(), nullable=False, server_default=sa.false()))
    # A plain id (see app/tickets/models.py): no foreign key.
    op.add_column("ticket", sa.Column("repeat_of_ticket_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("ticket", "repeat_of_ticket_id")
    op.drop_column("customer", "survey_opt_out")
    op.drop_column("area", "survey_delay_minutes")
    op.drop_table("denominator")
    op.drop_table("csat_survey")
    op.create_table(
        "csat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_csat_ticket_id_ticket"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_csat_ticket_id")),
    )
