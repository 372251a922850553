from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class ConsoleSession(Base):
    """A signed-in browser: the console's cookie holds a random value whose sha256 is `id`. It lasts
    while the API token it was opened with is the user's token (rotating or revoking the token ends
    it) and until `expires_at`, which each request moves on by the idle timeout."""

    __tablename__ = "console_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie's value
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))  # the user's token_hash when it signed in
    csrf: Mapped[str] = mapped_column(String(64))  # the synchronizer token of this session's forms
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class TicketView(Base):
    """Who has a ticket's page open: each view of the page writes its user's row, and the page names
    the others seen within `VIEWING` (app/console/viewers.py)."""

    __tablename__ = "ticket_view"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column()
