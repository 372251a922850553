from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import NotRequired, TypedDict

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, StringEnum, utcnow
from app.inbox.models import Message, MessageRow
from app.tickets.models import Ticket, TicketRow


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a sender, whose lease is next_attempt_at
    SENT = "sent"
    FAILED = "failed"  # permanently: shown on the ticket


class Outbox(Base):
    """A message to send, written in the same transaction as the ticket change that caused it.
    Its bytes (and so its Message-ID) are fixed here: a retry resends the very same message."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL"), index=True, default=None
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"), default=None)
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailbox.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(16))  # reply | acknowledgement | survey
    mail_from: Mapped[str] = mapped_column(String(320))
    rcpt_to: Mapped[str] = mapped_column(Text)  # comma-separated envelope recipients
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[OutboxStatus] = mapped_column(StringEnum(OutboxStatus, 16), default=OutboxStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    owner: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)

    ticket: Mapped[Ticket | None] = relationship(lazy="raise")
    message: Mapped[Message | None] = relationship(lazy="raise")


class OutboxRow(TypedDict):
    """An outbox row as the ingest fast path writes it (an acknowledgement; app.db.RowWriter)."""

    mailbox_id: int | None
    kind: str
    mail_from: str
    rcpt_to: str
    raw: bytes
    next_attempt_at: datetime
    created_at: datetime
    ticket_id: NotRequired[int | TicketRow | None]
    message_id: NotRequired[int | MessageRow | None]
