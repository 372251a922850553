from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class WorkerHeartbeat(Base):
    """One row per worker process (`routedesk worker`, or the worker inside `routedesk run`), beaten every
    health.heartbeat_seconds. It carries the counts that worker kept since it started, so that a scrape
    on any API process sums every worker's, wherever it runs. Rows stay after their worker stopped:
    its counts still count, and a sum over the rows never goes down."""

    __tablename__ = "worker_heartbeat"

    worker_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    process: Mapped[str] = mapped_column(String(16))  # worker | run
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    beaten_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(default=None)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
