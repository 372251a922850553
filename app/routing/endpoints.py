from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.auth import CurrentAdmin
from app.db import MAX_ID, SessionDep
from app.routing import service as routing
from app.routing import training
from app.routing.models import ModelVersion
from app.routing.schemas import (
    ActivationRead,
    ActivationRequest,
    AreaArchived,
    AreaCreate,
    AreaRead,
    AreaUpdate,
    JobRead,
    ModelVersionRead,
    RuleCreate,
    RuleRead,
    TrainingRequest,
)
from app.validation import LINE

router = APIRouter(prefix="/admin", tags=["admin: routing"])

AreaName = Annotated[str, Path(min_length=1, max_length=64), LINE]
Version = Annotated[str, Path(min_length=1, max_length=64), LINE]


@router.get("/areas")
async def list_areas(admin: CurrentAdmin, session: SessionDep) -> list[AreaRead]:
    return [AreaRead.model_validate(a) for a in await routing.list_areas(session)]


@router.post("/areas", status_code=201)
async def create_area(body: AreaCreate, admin: CurrentAdmin, session: SessionDep) -> AreaRead:
    return AreaRead.model_validate(await routing.create_area(session, body))


@router.patch("/areas/{name}")
async def update_area(name: AreaName, body: AreaUpdate, admin: CurrentAdmin, session: SessionDep) -> AreaRead:
    area = await routing.get_area(session, name)
    return AreaRead.model_validate(await routing.update_area(session, area, body))


@router.post("/areas/{name}/archive")
async def archive_area(name: AreaName, admin: CurrentAdmin, session: SessionDep) -> AreaArchived:
    """Nothing new is routed to the area (its model class goes to triage, its rules are skipped);
    its tickets and history stay, and its queue can still be worked."""
    area = await routing.get_area(session, name)
    skipped = await routing.archive_area(session, area)
    return AreaArchived(area=AreaRead.model_validate(area), skipped_rules=skipped)


@router.post("/areas/{name}/unarchive")
async def unarchive_area(name: AreaName, admin: CurrentAdmin, session: SessionDep) -> AreaRead:
    area = await routing.get_area(session, name)
    return AreaRead.model_validate(await routing.unarchive_area(session, area))


@router.delete("/areas/{name}", status_code=204)
async def delete_area(name: AreaName, admin: CurrentAdmin, session: SessionDep) -> Response:
    """Only an area nothing refers to (no tickets, rules, macros or labels); else 409 saying what does."""
    await routing.delete_area(session, await routing.get_area(session, name))
    return Response(status_code=204)


def _version(row: ModelVersion) -> ModelVersionRead:
    return ModelVersionRead(
        version=row.version,
        active=row.active,
        created_at=row.created_at,
        activated_at=row.activated_at,
        source=row.source,
        classes=row.classes,
        threshold=row.threshold,
        n_examples=row.n_examples,
        metrics=row.metrics,
    )


@router.get("/models")
async def list_models(admin: CurrentAdmin, session: SessionDep) -> list[ModelVersionRead]:
    """Every version with its metrics; a version trained from tickets also carries `comparison`: its
    figures and the active version's on the same held-out tickets."""
    return [_version(v) for v in await training.list_versions(session)]


@router.post("/models/{version}/activate")
async def activate_model(
    version: Version, admin: CurrentAdmin, session: SessionDep, body: ActivationRequest | None = None
) -> ActivationRead:
    """The model's classes must be areas: missing ones are a 400 naming them, unless `create_areas`."""
    create_areas = body.create_areas if body is not None else False
    row, created = await training.activate(session, version, create_areas=create_areas)
    return ActivationRead(model=_version(row), created_areas=created)


@router.post("/models/rollback")
async def rollback_model(
    admin: CurrentAdmin, session: SessionDep, body: ActivationRequest | None = None
) -> ModelVersionRead:
    """Back one step in the activation history (again: one step further back); 409 when nothing is earlier."""
    create_areas = body.create_areas if body is not None else False
    return _version(await training.rollback(session, create_areas=create_areas))


@router.post("/models/train", status_code=202)
async def start_training(body: TrainingRequest, admin: CurrentAdmin, session: SessionDep) -> JobRead:
    """Train a new version from agents' labels in the background; poll the job for progress."""
    job = await training.enqueue_training(
        session,
        training.TrainingSource(from_tickets=True),
        activate=body.activate,
        create_areas=body.create_areas,
        actor=f"admin:{admin.name}",
    )
    return JobRead.model_validate(job)


@router.get("/jobs/{job_id}")
async def get_job(job_id: Annotated[int, Path(ge=1, le=MAX_ID)], admin: CurrentAdmin, session: SessionDep) -> JobRead:
    return JobRead.model_validate(await training.get_job(session, job_id))


@router.get("/rules")
async def list_rules(admin: CurrentAdmin, session: SessionDep) -> list[RuleRead]:
    return await routing.list_rules(session)


@router.post("/rules", status_code=201)
async def create_rule(body: RuleCreate, admin: CurrentAdmin, session: SessionDep) -> RuleRead:
    return await routing.create_rule(session, body)


@router.delete("/rules/{rule_id}", status_code=204)
async def delete_rule(
    rule_id: Annotated[int, Path(ge=1, le=MAX_ID)], admin: CurrentAdmin, session: SessionDep
) -> Response:
    await routing.delete_rule(session, rule_id)
    return Response(status_code=204)
