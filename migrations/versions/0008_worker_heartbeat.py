"""worker heartbeat

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 17:20:00

One row per worker process, beaten every health.heartbeat_seconds: /readyz reads the newest, and the
row carries the counts the worker kept (JSON), which /metrics sums over every worker.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeat",
        sa.Column("worker_id", sa.String(length=100), nullable=False),
        sa.Column("process", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beaten_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_worker_heartbeat")),
    )
    with op.batch_alter_table("worker_heartbeat") as batch:
        batch.create_index(batch.f("ix_worker_heartbeat_beaten_at"), ["beaten_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("worker_heartbeat") as batch:
        batch.drop_index(batch.f("ix_worker_heartbeat_beaten_at"))
    op.drop_table("worker_heartbeat")
