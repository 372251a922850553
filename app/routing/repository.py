from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import insert_row, utcnow
from app.inbox.models import Message
from app.macros.models import Macro
from app.routing.models import Area, Job, JobStatus, Label, ModelActivation, ModelVersion, RoutingRule
from app.tickets.models import Ticket
from mailtext.text import routing_text


async def areas_by_name(session: AsyncSession) -> dict[str, Area]:
    return {area.name: area for area in await session.scalars(select(Area))}


async def area_by_name(session: AsyncSession, name: str) -> Area | None:
    return await session.scalar(select(Area).where(Area.name == name))


async def active_rules(session: AsyncSession) -> list[tuple[str, str, str, str | None]]:
    """(kind, pattern, area name, priority) of the rules in force, in the order they apply."""
    rows = await session.execute(
        select(RoutingRule.kind, RoutingRule.pattern, Area.name, RoutingRule.priority)
        .join(Area, Area.id == RoutingRule.area_id)
        .where(RoutingRule.active.is_(True), Area.active.is_(True))
        .order_by(RoutingRule.position, RoutingRule.id)
    )
    return [(kind, pattern.lower(), area, priority) for kind, pattern, area, priority in rows]


async def active_model_stamp(session: AsyncSession) -> tuple[str, str] | None:
    row = (
        await session.execute(select(ModelVersion.version, ModelVersion.sha256).where(ModelVersion.active.is_(True)))
    ).first()
    return (row[0], row[1]) if row else None


async def serving_form(session: AsyncSession, version: str) -> tuple[dict[str, Any], bool] | None:
    """A version's metadata and whether it has a compact form, without reading its (large) artifact."""
    row = (
        await session.execute(
            select(ModelVersion.meta, ModelVersion.compact.is_not(None)).where(ModelVersion.version == version)
        )
    ).first()
    return (row[0], bool(row[1])) if row else None


async def compact_form(session: AsyncSession, version: str) -> bytes | None:
    return await session.scalar(select(ModelVersion.compact).where(ModelVersion.version == version))


async def artifact_sha256(session: AsyncSession, version: str, *, chunk: int = 1024 * 1024) -> str | None:
    """The sha256 of a version's artifact without holding it whole in this process: PostgreSQL
    hashes it itself; SQLite's incremental blob I/O reads it a chunk at a time."""
    where = ModelVersion.version == version
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return await session.scalar(select(func.encode(func.sha256(ModelVersion.artifact), "hex")).where(where))
    row_id = await session.scalar(select(ModelVersion.id).where(where))
    if row_id is None:
        return None
    raw = await (await session.connection()).get_raw_connection()
    driver: Any = raw.driver_connection  # aiosqlite.Connection: runs calls on its own thread
    assert driver is not None

    def digest() -> str:
        hashed = hashlib.sha256()
        with driver._conn.blobopen(ModelVersion.__tablename__, "artifact", row_id, readonly=True) as blob:
            while part := blob.read(chunk):
                hashed.update(part)
        return hashed.hexdigest()

    return str(await driver._execute(digest))


async def model_version(session: AsyncSession, version: str) -> ModelVersion | None:
    return await session.scalar(select(ModelVersion).where(ModelVersion.version == version))


async def model_versions(session: AsyncSession) -> Sequence[ModelVersion]:
    return (await session.scalars(select(ModelVersion).order_by(ModelVersion.created_at.desc()))).all()


async def active_model(session: AsyncSession) -> ModelVersion | None:
    return await session.scalar(select(ModelVersion).where(ModelVersion.active.is_(True)))


async def add_activation(session: AsyncSession, *, model_version_id: int, at: datetime) -> None:
    await insert_row(session, ModelActivation, model_version_id=model_version_id, activated_at=at)


async def standing_activations(session: AsyncSession, *, limit: int) -> Sequence[tuple[int, str]]:
    """(activation id, version) of the latest activations not rolled back, newest first."""
    rows = await session.execute(
        select(ModelActivation.id, ModelVersion.version)
        .join(ModelVersion, ModelVersion.id == ModelActivation.model_version_id)
        .where(ModelActivation.rolled_back_at.is_(None))
        .order_by(ModelActivation.id.desc())
        .limit(limit)
    )
    return [(activation_id, version) for activation_id, version in rows]


async def mark_rolled_back(session: AsyncSession, activation_id: int, *, at: datetime) -> None:
    await session.execute(
        update(ModelActivation)
        .where(ModelActivation.id == activation_id)
        .values(rolled_back_at=at)
        .execution_options(synchronize_session=False)
    )


async def area_references(session: AsyncSession, area: Area) -> dict[str, int]:
    """What still names an area, by kind: what keeps it from being deleted. Read only."""
    counts = {
        "tickets": select(func.count()).select_from(Ticket).where(Ticket.area_id == area.id),
        "rules": select(func.count()).select_from(RoutingRule).where(RoutingRule.area_id == area.id),
        "macros": select(func.count()).select_from(Macro).where(Macro.area_id == area.id),
        "labels": select(func.count())
        .select_from(Label)
        .where(or_(Label.area == area.name, Label.previous_area == area.name)),
    }
    return {kind: int(await session.scalar(query) or 0) for kind, query in counts.items()}


async def rules_for_area(session: AsyncSession, area_id: int) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(RoutingRule).where(RoutingRule.area_id == area_id)) or 0
    )


async def deactivate_all(session: AsyncSession) -> None:
    await session.execute(
        update(ModelVersion)
        .where(ModelVersion.active.is_(True))
        .values(active=False)
        .execution_options(synchronize_session="fetch")
    )


async def add_label(
    session: AsyncSession, *, ticket_id: int, area: str, previous: str | None, source: str, actor: str
) -> None:
    await insert_row(session, Label, ticket_id=ticket_id, area=area, previous_area=previous, source=source, actor=actor)


async def areas(session: AsyncSession) -> Sequence[Area]:
    return (await session.scalars(select(Area))).all()


async def labelled_ticket_texts(session: AsyncSession) -> list[tuple[str, str]]:
    """(text, area) for every labelled ticket: the latest label wins, the text is the ticket's
    subject and the new part of its first inbound message."""
    latest = (
        select(Label.ticket_id, func.max(Label.id).label("label_id"))
        .where(Label.ticket_id.is_not(None))
        .group_by(Label.ticket_id)
        .subquery()
    )
    first = (
        select(Message.ticket_id, func.min(Message.id).label("message_id"))
        .where(Message.direction == "inbound", Message.ticket_id.is_not(None))
        .group_by(Message.ticket_id)
        .subquery()
    )
    rows = await session.execute(
        select(Ticket.subject, Message.new_text, Label.area)
        .join(latest, latest.c.ticket_id == Ticket.id)
        .join(Label, Label.id == latest.c.label_id)
        .join(first, first.c.ticket_id == Ticket.id)
        .join(Message, Message.id == first.c.message_id)
        .order_by(Ticket.id)
    )
    return [(routing_text(subject, text), area) for subject, text, area in rows]


async def claim_job(session: AsyncSession, *, owner: str, now: datetime, lease: timedelta) -> Job | None:
    job_id = await session.scalar(
        select(Job.id)
        .where(or_(Job.status == JobStatus.QUEUED, (Job.status == JobStatus.RUNNING) & (Job.lease_expires_at < now)))
        .order_by(Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if job_id is None:
        return None
    await session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(status=JobStatus.RUNNING, owner=owner, started_at=now, lease_expires_at=now + lease, stage="starting")
        .execution_options(synchronize_session=False)
    )
    return await session.get(Job, job_id, populate_existing=True)


async def job_progress(
    session: AsyncSession, job_id: int, *, stage: str, fraction: float, lease_until: datetime
) -> None:
    await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RUNNING)
        .values(stage=stage[:100], progress=max(0.0, min(1.0, fraction)), lease_expires_at=lease_until)
        .execution_options(synchronize_session=False)
    )


async def finish_job(
    session: AsyncSession, job_id: int, *, status: JobStatus, result: dict[str, Any] | None, error: str | None
) -> None:
    await session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(
            status=status,
            result=result,
            error=error,
            finished_at=utcnow(),
            progress=1.0 if status == JobStatus.SUCCEEDED else Job.progress,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )


async def rules(session: AsyncSession) -> Sequence[Any]:
    return (
        await session.execute(
            select(RoutingRule, Area.name, Area.active)
            .join(Area, Area.id == RoutingRule.area_id)
            .order_by(RoutingRule.position, RoutingRule.id)
        )
    ).all()
