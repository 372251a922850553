"""ticket claim order index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:10:00

Waiting tickets of an area in the order agents claim them (next SLA deadline, then age), so that a
claim reads one index entry instead of sorting every open ticket of the area.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("status = 'open' AND assignee_id IS NULL")


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_index("ix_ticket_claim_order", table_name="ticket")
