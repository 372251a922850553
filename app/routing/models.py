from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, StringEnum, utcnow

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
    # A ticket due within this many minutes is at risk (GET /queues).
    sla_warning_minutes: Mapped[int] = mapped_column(Integer, default=60)
    # Below this probability a model prediction goes to triage; None uses the model's default.
    threshold: Mapped[float | None] = mapped_column(Float, default=None)
    acknowledge: Mapped[bool] = mapped_column(Boolean, default=True)
    # Mail whose sender failed authentication (issue 14) that would be routed here waits in triage.
    hold_failed_mail: Mapped[bool] = mapped_column(Boolean, default=False)
    # The CSAT survey goes this long after a ticket is solved (unless it reopened meanwhile).
    survey_delay_minutes: Mapped[int] = mapped_column(Integer, default=1440)
    # False exactly when archived: nothing new is routed here, its tickets and history stay.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def archived(self) -> bool:
        return not self.active


class RoutingRule(Base):
    """An admin's rule, applied before the model: a sender domain or a keyword sends a ticket to an area,
    and may give it a priority."""

    __tablename__ = "routing_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # sender_domain | keyword
    pattern: Mapped[str] = mapped_column(String(255))
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="CASCADE"))
    # The priority a matching rule gives the new ticket (low | normal | high | urgent); None: normal.
    priority: Mapped[str | None] = mapped_column(String(16), default=None)
    position: Mapped[int] = mapped_column(Integer, default=100)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelVersion(Base):
    """A trained classifier. The artifact lives in the database so every worker host can load it."""

    __tablename__ = "model_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(default=None)
    source: Mapped[str] = mapped_column(String(255), default="")
    classes: Mapped[list[str]] = mapped_column(JSON, default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    threshold: Mapped[float] = mapped_column(Float, default=0.5)
    n_examples: Mapped[int] = mapped_column(Integer, default=0)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    sha256: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # metadata.json as written
    artifact: Mapped[bytes] = mapped_column(LargeBinary)  # model.skops
    # What routing loads (classifiers/compact.py), built from the artifact once it passed its checks;
    # None for a shape that has no compact form, or a version not activated since it was added.
    compact: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)


class ModelActivation(Base):
    """One activation of a model version, in order: what `models rollback` walks back through. A
    rollback marks the activation it undoes (`rolled_back_at`) and adds none of its own."""

    __tablename__ = "model_activation"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id", ondelete="CASCADE"), index=True)
    activated_at: Mapped[datetime] = mapped_column(default=utcnow)
    rolled_back_at: Mapped[datetime | None] = mapped_column(default=None)


class Label(Base):
    """What an agent said a ticket's area is: confirmed by solving it, or corrected by re-routing it."""

    __tablename__ = "label"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    area: Mapped[str] = mapped_column(String(64))
    previous_area: Mapped[str | None] = mapped_column(String(64), default=None)
    source: Mapped[str] = mapped_column(String(16))  # confirmed | corrected
    actor: Mapped[str] = mapped_column(String(100), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"  # leased by a worker until lease_expires_at
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Job(Base):
    """Background work (training) that any worker may claim; progress is readable while it runs."""

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[JobStatus] = mapped_column(StringEnum(JobStatus, 16), default=JobStatus.QUEUED)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str] = mapped_column(String(100), default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_by: Mapped[str] = mapped_column(String(100), default="system")
    owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
