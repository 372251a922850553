"""area archive, model activation history

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 14:50:00

Areas can be archived (`archived_at`; `active` stays false exactly while archived), and every
activation of a model version is a row in order, so that `models rollback` walks back through them
instead of flipping between the last two. Versions activated before this revision get one row each,
in the order of their `activated_at`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("area") as batch:
        batch.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(sa.text("UPDATE area SET archived_at = created_at WHERE active = false"))
    op.create_table(
        "model_activation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rolled_back_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("fk_model_activation_model_version_id_model_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_activation")),
    )
    with op.batch_alter_table("model_activation") as batch:
        batch.create_index(batch.f("ix_model_activation_model_version_id"), ["model_version_id"], unique=False)
    op.execute(
        sa.text(
            "INSERT INTO model_activation (model_version_id, activated_at) "
            "SELECT id, activated_at FROM model_version WHERE activated_at IS NOT NULL ORDER BY activated_at, id"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("model_activation") as batch:
        batch.drop_index(batch.f("ix_model_activation_model_version_id"))
    op.drop_table("model_activation")
    with op.batch_alter_table("area") as batch:
        batch.drop_column("archived_at")
