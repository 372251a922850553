from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, StringEnum, utcnow


class SurveyStatus(StrEnum):
    SENT = "sent"  # queued in the outbox, in the transaction that wrote this row
    SKIPPED = "skipped"  # not sent: `skip_reason` says why


class Rating(StrEnum):
    GOOD = "good"
    BAD = "bad"


class CsatSurvey(Base):
    """One resolution cycle of a ticket that reached its survey time: the survey sent (or why not), and
    the customer's rating. A cycle is the ticket's solve at `solved_at`: a reopened ticket solved again
    is a new cycle, with a survey of its own. The unique pairs are what makes the scheduler safe to run
    twice at once, or again after a kill: a second writer of the same cycle inserts nothing."""

    __tablename__ = "csat_survey"
    __table_args__ = (
        UniqueConstraint("ticket_id", "cycle"),
        UniqueConstraint("ticket_id", "solved_at"),
        Index("ix_csat_survey_customer_id_sent_at", "customer_id", "sent_at"),
        Index("ix_csat_survey_sent_at", "sent_at"),
        Index("ix_csat_survey_rated_at", "rated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    cycle: Mapped[int] = mapped_column(Integer)  # 1 for the ticket's first surveyed solve, then 2, ...
    solved_at: Mapped[datetime]
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="SET NULL"), default=None)
    status: Mapped[SurveyStatus] = mapped_column(StringEnum(SurveyStatus, 16))
    skip_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    # The ticket's area and assignee when the survey went: what the response rate is grouped by.
    sent_area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="SET NULL"), default=None)
    sent_assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), default=None)
    rating: Mapped[Rating | None] = mapped_column(StringEnum(Rating, 8), default=None)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    rated_at: Mapped[datetime | None] = mapped_column(default=None)
    # The ticket's area and assignee at the time of the (latest) rating: what CSAT is grouped by.
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="SET NULL"), default=None)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Denominator(Base):
    """What contacts are counted against for a period and an area (None: the whole desk, `*` in a
    file): e.g. 12,000 active accounts in 2026-11. Periods of one scope never overlap."""

    __tablename__ = "denominator"
    __table_args__ = (Index("ix_denominator_starts_on_ends_on", "starts_on", "ends_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(32))  # as written: 2026-11, or 2026-11-01..2026-11-15
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)  # included
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="CASCADE"), default=None)
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
