"""model compact form

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 08:40:00

Each model version keeps, beside its skops artifact, the compact form that routing loads with NumPy
alone (classifiers/compact.py): a worker that routes with the model no longer holds scikit-learn
and the artifact's 66 MB JSON schema. Versions registered before it get theirs when next activated.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("model_version") as batch:
        batch.add_column(sa.Column("compact", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_version") as batch:
        batch.drop_column("compact")
