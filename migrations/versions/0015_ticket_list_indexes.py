"""indexes for the ticket lists

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 05:00:00

The unassigned list reads waiting tickets last changed first: a partial index of them by (updated_at,
id) gives its page and its count. The assignee index keeps only assigned tickets: indexing every
unassigned one too made SQLite count the unassigned through it. A SQLite database that has planner
statistics (someone ran ANALYZE) gets them for the new indexes too: beside indexes with statistics, one
without them misleads the planner (the ticket page took twice as long on the benchmark's database).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("status = 'open' AND assignee_id IS NULL")
ASSIGNED = sa.text("assignee_id IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_ticket_waiting", "ticket", ["updated_at", "id"], postgresql_where=WAITING, sqlite_where=WAITING)
    op.drop_index("ix_ticket_assignee_id", table_name="ticket")
    op.create_index(
        "ix_ticket_assignee_id", "ticket", ["assignee_id"], postgresql_where=ASSIGNED, sqlite_where=ASSIGNED
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        has_stats = bind.execute(sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first()
        if has_stats is not None:
            op.execute("ANALYZE ticket")


def downgrade() -> None:
    op.drop_index("ix_ticket_assignee_id", table_name="ticket")
    op.create_index("ix_ticket_assignee_id", "ticket", ["assignee_id"])
    op.drop_index("ix_ticket_waiting", table_name="ticket")
