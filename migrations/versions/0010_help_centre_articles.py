"""help-centre articles

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 20:50:00

Articles (markdown, area, tags, published, unique slug) and the one-row kb_version counter that every
article change raises, so that each process knows when its in-memory help-centre index is stale.
On its branch this follows 0008; it is meant to follow 0009 once that lands.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "article",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_article_area_id_area"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article")),
        sa.UniqueConstraint("slug", name=op.f("uq_article_slug")),
    )
    with op.batch_alter_table("article") as batch:
        batch.create_index(batch.f("ix_article_area_id"), ["area_id"], unique=False)
    kb_version = op.create_table(
        "kb_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_version")),
    )
    op.bulk_insert(kb_version, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("kb_version")
    with op.batch_alter_table("article") as batch:
        batch.drop_index(batch.f("ix_article_area_id"))
    op.drop_table("article")
