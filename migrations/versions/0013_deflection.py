"""deflection: article suggestions, article views and votes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 01:20:00

The articles a ticket's acknowledgement suggested (and whether the customer said one answered the
question: a deflection), and one row per article and UTC day counting its page views and helpful votes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "article_suggestion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("relevance", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deflected_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_article_suggestion_ticket_id_ticket"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["article_id"], ["article.id"], name=op.f("fk_article_suggestion_article_id_article"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["area_id"], ["area.id"], name=op.f("fk_article_suggestion_area_id_area"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_suggestion")),
        sa.UniqueConstraint("ticket_id", "article_id", name=op.f("uq_article_suggestion_ticket_id_article_id")),
    )
    with op.batch_alter_table("article_suggestion") as batch:
        batch.create_index("ix_article_suggestion_created_at", ["created_at"], unique=False)
        batch.create_index(batch.f("ix_article_suggestion_ticket_id"), ["ticket_id"], unique=False)
        batch.create_index(batch.f("ix_article_suggestion_article_id"), ["article_id"], unique=False)
    op.create_table(
        "article_day",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("helpful", sa.Integer(), nullable=False),
        sa.Column("unhelpful", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["article.id"], name=op.f("fk_article_day_article_id_article"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("article_id", "day", name=op.f("pk_article_day")),
    )


def downgrade() -> None:
    op.drop_table("article_day")
    with op.batch_alter_table("article_suggestion") as batch:
        batch.drop_index(batch.f("ix_article_suggestion_article_id"))
        batch.drop_index(batch.f("ix_article_suggestion_ticket_id"))
        batch.drop_index("ix_article_suggestion_created_at")
    op.drop_table("article_suggestion")
