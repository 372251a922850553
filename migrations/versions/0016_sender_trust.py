"""sender trust: each message's verdict, possible-spoof tickets, the per-area hold, the facts

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 05:00:00

Issue 14. Per message the sender-trust verdict (mailtext/trust.py) with its reason and the SPF, DKIM
(and its signing domain) and DMARC results and the From domain's alignment; NULL for outbound mail and
for mail stored before this migration (never assessed). Per ticket whether it is a possible spoof (opened
by a `failed` message) and the ticket that message claimed to belong to (a plain id, as
`repeat_of_ticket_id`: no foreign key, so that SQLite adds it in place). Per area whether `failed` mail
waits in triage. In `ticket_fact` (and the `ticket_facts` view, recreated with its grants) the first
customer message's verdict and From domain, and the ticket's customer messages per verdict. Existing
rows get their sender domain here; their verdicts stay NULL and their counts 0, as a rebuild gives.
"""

import importlib
from collections.abc import Sequence
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _message_columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("trust_verdict", sa.String(length=16), nullable=True),
        sa.Column("trust_reason", sa.String(length=500), nullable=True),
        sa.Column("trust_spf", sa.String(length=16), nullable=True),
        sa.Column("trust_dkim", sa.String(length=16), nullable=True),
        sa.Column("trust_dkim_domain", sa.String(length=255), nullable=True),
        sa.Column("trust_dmarc", sa.String(length=16), nullable=True),
        sa.Column("trust_aligned", sa.Boolean(), nullable=True),
    )


FACT_COLUMNS = ("sender_verdict", "sender_domain", "verified_messages", "unverified_messages", "failed_messages")


def _facts() -> ModuleType:
    return importlib.import_module("migrations.versions.0011_ticket_fact")


def upgrade() -> None:
    for column in _message_columns():
        op.add_column("message", column)
    op.add_column("ticket", sa.Column("possible_spoof", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("ticket", sa.Column("spoof_of_ticket_id", sa.Integer(), nullable=True))
    op.add_column("area", sa.Column("hold_failed_mail", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("ticket_fact", sa.Column("sender_verdict", sa.String(length=16), nullable=True))
    op.add_column("ticket_fact", sa.Column("sender_domain", sa.String(length=255), nullable=True))
    for name in ("verified_messages", "unverified_messages", "failed_messages"):
        op.add_column("ticket_fact", sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    sqlite = op.get_bind().dialect.name == "sqlite"
    at = "instr(m.from_address, '@')" if sqlite else "strpos(m.from_address, '@')"
    # The first customer message (the lowest id, as app/reports/repository.py takes it) of each ticket.
    op.execute(
        "UPDATE ticket_fact SET sender_domain = (SELECT"  # noqa: S608 (fixed text)
        f" CASE WHEN {at} > 0 THEN lower(substr(m.from_address, {at} + 1)) END"
        " FROM message m WHERE m.id = (SELECT min(c.id) FROM message c WHERE c.ticket_id = ticket_fact.ticket_id"
        " AND c.direction = 'inbound' AND (c.auto IS NULL OR c.auto = 'bulk')))"
    )
    facts = _facts()
    facts._replace_view(facts._view((*facts.COLUMNS, *FACT_COLUMNS)))


def downgrade() -> None:
    facts = _facts()
    facts._replace_view(facts._view(facts.COLUMNS))
    for name in reversed(FACT_COLUMNS):
        op.drop_column("ticket_fact", name)
    op.drop_column("area", "hold_failed_mail")
    op.drop_column("ticket", "spoof_of_ticket_id")
    op.drop_column("ticket", "possible_spoof")
    for column in reversed(_message_columns()):
        op.drop_column("message", column.name)
