"""console sessions and ticket viewers

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 01:40:00

A signed-in browser of the web console: the sha256 of its cookie, its user, the token hash it signed in
with (a rotated or revoked token ends its sessions), its forms' CSRF token and its expiry; and who last
viewed which ticket when (the console shows who else has a ticket open); a covering index of unsolved
tickets for the queue counts.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_console_session_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_session")),
    )
    with op.batch_alter_table("console_session") as batch:
        batch.create_index(batch.f("ix_console_session_user_id"), ["user_id"], unique=False)
        batch.create_index(batch.f("ix_console_session_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "ticket_view",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_ticket_view_ticket_id_ticket"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_ticket_view_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ticket_id", "user_id", name=op.f("pk_ticket_view")),
    )
    # The queue counts' covering index of unsolved tickets (app/tickets/models.py).
    unsolved = sa.text("status != 'solved'")
    op.create_index(
        "ix_ticket_unsolved",
        "ticket",
        ["area_id", "status", "assignee_id", "sla_due_at", "created_at"],
        unique=False,
        postgresql_where=unsolved,
        sqlite_where=unsolved,
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_unsolved", table_name="ticket")
    op.drop_table("ticket_view")
    with op.batch_alter_table("console_session") as batch:
        batch.drop_index(batch.f("ix_console_session_expires_at"))
        batch.drop_index(batch.f("ix_console_session_user_id"))
    op.drop_table("console_session")
