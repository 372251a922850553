from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class Article(Base):
    """A help-centre article: markdown as the admin wrote it, served rendered and sanitised."""

    __tablename__ = "article"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # markdown, stored as written
    # None: a general article, listed apart from every area's.
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="SET NULL"), index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbVersion(Base):
    """One row whose counter every change to the articles raises in its own transaction: each process
    reads it per request and rebuilds its in-memory help-centre index when it moved."""

    __tablename__ = "kb_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    version: Mapped[int] = mapped_column(Integer, default=0)


class ArticleSuggestion(Base):
    """An article a new ticket's acknowledgement offered the customer, with its "this answered my
    question" link; `deflected_at` is set when the customer confirmed it (app/kb/deflection.py). The
    deflection reports read these rows: a ticket with suggestions is the rate's denominator."""

    __tablename__ = "article_suggestion"
    __table_args__ = (
        UniqueConstraint("ticket_id", "article_id"),
        Index("ix_article_suggestion_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"), index=True)
    # The ticket's area when the suggestion was made: the rate by area counts it there.
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="SET NULL"), default=None)
    rank: Mapped[int] = mapped_column(SmallInteger)  # 1 = the best match
    relevance: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deflected_at: Mapped[datetime | None] = mapped_column(default=None)


class ArticleDay(Base):
    """An article's page views and helpful votes of one UTC day: one row per article and day, raised by
    one upsert per view or vote (app/kb/repository.py:count), so no request waits on more than a row."""

    __tablename__ = "article_day"

    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    views: Mapped[int] = mapped_column(Integer, default=0)
    helpful: Mapped[int] = mapped_column(Integer, default=0)
    unhelpful: Mapped[int] = mapped_column(Integer, default=0)
