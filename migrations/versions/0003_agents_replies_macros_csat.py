"""agents replies macros csat

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 02:19:28.512230

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user")),
        sa.UniqueConstraint("name", name=op.f("uq_user_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_token_hash")),
    )
    op.create_table(
        "macro",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_macro_area_id_area"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_macro")),
    )
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
    op.create_table(
        "macro_use",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("macro_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["macro_id"], ["macro.id"], name=op.f("fk_macro_use_macro_id_macro"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_macro_use_ticket_id_ticket"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_macro_use_user_id_user"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_macro_use")),
    )
    with op.batch_alter_table("macro_use", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_macro_use_macro_id"), ["macro_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_macro_use_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("mailbox_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("mail_from", sa.String(length=320), nullable=False),
        sa.Column("rcpt_to", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["mailbox_id"], ["mailbox.id"], name=op.f("fk_outbox_mailbox_id_mailbox"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name=op.f("fk_outbox_message_id_message"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_outbox_ticket_id_ticket"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_status_next_attempt_at", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_ticket_id"), ["ticket_id"], unique=False)

    with op.batch_alter_table("mailbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("from_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("smtp_host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("smtp_port", sa.Integer(), nullable=True))
        # Existing mailboxes get the common default; the model sets it for new rows.
        batch_op.add_column(sa.Column("smtp_security", sa.String(length=16), nullable=False, server_default="starttls"))
        batch_op.add_column(sa.Column("smtp_username", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("smtp_password_encrypted", sa.Text(), nullable=True))

    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("previous_ticket_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_ticket_assignee_id"), ["assignee_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_ticket_previous_ticket_id_ticket"),
            "ticket",
            ["previous_ticket_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_ticket_assignee_id_user"), "user", ["assignee_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:

    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_ticket_assignee_id_user"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_ticket_previous_ticket_id_ticket"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_ticket_assignee_id"))
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("previous_ticket_id")
        batch_op.drop_column("assignee_id")

    with op.batch_alter_table("mailbox", schema=None) as batch_op:
        batch_op.drop_column("smtp_password_encrypted")
        batch_op.drop_column("smtp_username")
        batch_op.drop_column("smtp_security")
        batch_op.drop_column("smtp_port")
        batch_op.drop_column("smtp_host")
        batch_op.drop_column("from_name")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_ticket_id"))
        batch_op.drop_index("ix_outbox_status_next_attempt_at")

    op.drop_table("outbox")
    with op.batch_alter_table("macro_use", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_macro_use_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_macro_use_macro_id"))

    op.drop_table("macro_use")
    op.drop_table("csat")
    op.drop_table("macro")
    op.drop_table("user")
