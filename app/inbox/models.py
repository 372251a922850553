from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NotRequired, TypedDict

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, utcnow

if TYPE_CHECKING:
    from app.tickets.models import Customer, CustomerRow, Ticket, TicketRow


class Mailbox(Base):
    __tablename__ = "mailbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    imap_host: Mapped[str] = mapped_column(String(255))
    imap_port: Mapped[int] = mapped_column(Integer)
    imap_security: Mapped[str] = mapped_column(String(16))  # tls | starttls | none
    imap_username: Mapped[str] = mapped_column(String(255))
    # Fernet token of the password (app.secrets); never returned by the API, never logged.
    imap_password_encrypted: Mapped[str] = mapped_column(Text)
    folder: Mapped[str] = mapped_column(String(255), default="INBOX")
    address: Mapped[str | None] = mapped_column(String(320), default=None)
    from_name: Mapped[str | None] = mapped_column(String(200), default=None)
    smtp_host: Mapped[str | None] = mapped_column(String(255), default=None)
    smtp_port: Mapped[int | None] = mapped_column(Integer, default=None)
    smtp_security: Mapped[str] = mapped_column(
        String(16), default="starttls", server_default="starttls"
    )  # tls | starttls | none
    smtp_username: Mapped[str | None] = mapped_column(String(255), default=None)
    smtp_password_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # The database deletes the state row with its mailbox (ON DELETE CASCADE); the ORM must not try to
    # blank its primary key first.
    state: Mapped[MailboxState] = relationship(
        lazy="raise", uselist=False, cascade="all, delete-orphan", passive_deletes=True
    )


class MailboxState(Base):
    """The sync checkpoint and the lease that lets exactly one worker poll a mailbox."""

    __tablename__ = "mailbox_state"

    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, default=None)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_poll_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    last_error_at: Mapped[datetime | None] = mapped_column(default=None)


class Message(Base):
    """One email, inbound or outbound, with its raw bytes kept whatever became of parsing it."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "uidvalidity", "uid"),
        Index("ix_message_ticket_id_created_at", "ticket_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(8))  # inbound | outbound
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailbox.id", ondelete="SET NULL"), default=None)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, default=None)
    uid: Mapped[int | None] = mapped_column(BigInteger, default=None)
    message_id: Mapped[str | None] = mapped_column(String(998), unique=True, default=None)
    raw_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    # ok | empty (nothing in the body) | failed (could not be parsed or stored: kept raw) | too_large (kept truncated)
    parse_status: Mapped[str] = mapped_column(String(16), default="ok")
    parse_error: Mapped[str | None] = mapped_column(Text, default=None)
    defects: Mapped[str | None] = mapped_column(Text, default=None)
    subject: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str | None] = mapped_column(String(320), index=True, default=None)
    from_name: Mapped[str | None] = mapped_column(String(320), default=None)
    to_addresses: Mapped[str] = mapped_column(Text, default="")
    cc_addresses: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    in_reply_to: Mapped[str | None] = mapped_column(Text, default=None)
    references: Mapped[str | None] = mapped_column(Text, default=None)
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text, default=None)  # sanitised, safe to show
    new_text: Mapped[str] = mapped_column(Text, default="")  # quotes and signature removed
    headers_text: Mapped[str] = mapped_column(Text, default="")
    # auto_reply | bounce | bulk, or None for mail a person wrote
    auto: Mapped[str | None] = mapped_column(String(16), default=None)
    # Who sent it, as far as the mail system can tell (mailtext/trust.py, issue 14): verified |
    # unverified | failed, with the reason and the results it rests on. NULL for outbound mail (we
    # sent it) and for mail stored before sender trust was assessed.
    trust_verdict: Mapped[str | None] = mapped_column(String(16), default=None)
    trust_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    trust_spf: Mapped[str | None] = mapped_column(String(16), default=None)
    trust_dkim: Mapped[str | None] = mapped_column(String(16), default=None)
    trust_dkim_domain: Mapped[str | None] = mapped_column(String(255), default=None)
    trust_dmarc: Mapped[str | None] = mapped_column(String(16), default=None)
    trust_aligned: Mapped[bool | None] = mapped_column(Boolean, default=None)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL"), index=True, default=None
    )
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket | None] = relationship(lazy="raise")
    customer: Mapped[Customer | None] = relationship(lazy="raise")
    attachments: Mapped[list[Attachment]] = relationship(lazy="raise", back_populates="message")


class Attachment(Base):
    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str | None] = mapped_column(String(255), default=None)
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    content_id: Mapped[str | None] = mapped_column(String(255), default=None)
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    # None when the attachment was over the size limit: its metadata is kept, its bytes are not.
    content: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)

    message: Mapped[Message] = relationship(lazy="raise", back_populates="attachments")


class MessageRow(TypedDict):
    """A message as the ingest fast path writes it (app.db.RowWriter): a mail that could not be parsed
    has only the first columns; an inbound or outbound one has them all."""

    id: NotRequired[int]
    direction: str
    mailbox_id: int | None
    raw_sha256: str
    raw: bytes
    size: int
    parse_status: str
    created_at: datetime
    uidvalidity: NotRequired[int | None]
    uid: NotRequired[int | None]
    parse_error: NotRequired[str | None]
    message_id: NotRequired[str | None]
    defects: NotRequired[str | None]
    subject: NotRequired[str]
    from_address: NotRequired[str | None]
    from_name: NotRequired[str | None]
    to_addresses: NotRequired[str]
    cc_addresses: NotRequired[str]
    sent_at: NotRequired[datetime | None]
    in_reply_to: NotRequired[str | None]
    references: NotRequired[str | None]
    body_text: NotRequired[str]
    body_html: NotRequired[str | None]
    new_text: NotRequired[str]
    headers_text: NotRequired[str]
    auto: NotRequired[str | None]
    trust_verdict: NotRequired[str | None]
    trust_reason: NotRequired[str | None]
    trust_spf: NotRequired[str | None]
    trust_dkim: NotRequired[str | None]
    trust_dkim_domain: NotRequired[str | None]
    trust_dmarc: NotRequired[str | None]
    trust_aligned: NotRequired[bool | None]
    customer_id: NotRequired[int | CustomerRow | None]
    ticket_id: NotRequired[int | TicketRow | None]


class AttachmentRow(TypedDict):
    message_id: int | MessageRow
    filename: str | None
    content_type: str
    size: int
    content_id: str | None
    inline: bool
    content: bytes | None
