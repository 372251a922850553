from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow

TRIAGE = "triage"


class Area(Base):
    """A product area: the queue its tickets wait in, with its SLA targets."""

    __tablename__ = "area"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    first_response_minutes: Mapped[int] = mapped_column(Integer, default=240)
    resolution_minutes: Mapped[int] = mapped_column(Integer, default=2880)
    # Below this probability a model prediction goes to triage; None uses the model's default.
    threshold: Mapped[float | None] = mapped_column(Float, default=None)
    acknowledge: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
