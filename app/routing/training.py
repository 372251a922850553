"""Model versions: train, register, compare, activate, roll back; and the training jobs behind the API."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work, utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.loops import sleep_or_stop
from app.routing import repository
from app.routing.models import TRIAGE, Area, Job, JobStatus, ModelVersion
from app.routing.service import Router, area_names_for_classes, compact_form, is_area_name, load_version
from classifiers.data import DataError, Example, load_examples
from classifiers.errors import ArtifactError
from classifiers.fitting import Fitted, package
from classifiers.progress import monotonic

if TYPE_CHECKING:
    from classifiers.train import TrainedModel

log = structlog.get_logger()

Progress = Callable[[str, float], None]
HOLDOUT_SHARE = 0.2
# Where fitting ends on the bar of a whole run (fit, compare, register): the rest is storing the version.
FIT_END, COMPARE_AT, REGISTER_AT = 0.85, 0.88, 0.92


@dataclass(frozen=True, slots=True)
class TrainingSource:
    """Where examples come from: a file (CSV, JSONL, mbox, maildir) or the labels agents produced."""

    path: str | None = None
    text_col: str | None = None
    subject_col: str | None = None
    body_col: str | None = None
    label_col: str = "label"
    labels_file: str | None = None
    from_tickets: bool = False

    def describe(self) -> str:
        return "tickets" if self.from_tickets else f"file:{Path(self.path or '').name}"


def with_area_names(examples: Sequence[Example]) -> list[Example]:
    """The examples with each label in its area-name form (`routing.area_name_for_class`), so that a
    model's classes are always names that areas, rules and re-routes can use; clashes are refused."""
    names = area_names_for_classes(sorted({e.label for e in examples}))
    return [e if names[e.label] == e.label else Example(text=e.text, label=names[e.label]) for e in examples]


def read_file_examples(source: TrainingSource) -> list[Example]:
    if source.path is None:
        raise InvalidInput("a training file is needed")
    try:
        examples = load_examples(
            Path(source.path),
            text_col=source.text_col,
            subject_col=source.subject_col,
            body_col=source.body_col,
            label_col=source.label_col,
            labels_file=Path(source.labels_file) if source.labels_file else None,
        )
    except DataError as exc:
        raise InvalidInput(str(exc)) from exc
    return with_area_names(examples)


async def ticket_examples(session: AsyncSession) -> list[Example]:
    """What agents taught: each ticket's latest label (a confirmation or a correction) and its text."""
    return [Example(text=text, label=label) for text, label in await repository.labelled_ticket_texts(session)]


def split_holdout(examples: Sequence[Example], share: float, seed: int = 0) -> tuple[list[Example], list[Example]]:
    """A stratified held-out slice: every area with enough examples gives some to the slice."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible split, not a secret
    by_label: dict[str, list[Example]] = {}
    for example in examples:
        by_label.setdefault(example.label, []).append(example)
    kept, held = [], []
    for group in by_label.values():
        group = group[:]
        rng.shuffle(group)
        n = int(len(group) * share) if len(group) >= 10 else 0
        held += group[:n]
        kept += group[n:]
    return kept, held


def fit(
    examples: Sequence[Example],
    *,
    progress: Progress | None = None,
    params: dict[str, Any] | None = None,
    n_jobs: int = 2,
) -> TrainedModel:
    examples = with_area_names(examples)
    if len({e.label for e in examples}) < 2:
        raise InvalidInput("training needs examples of at least two areas")
    # Imported here: scikit-learn and SciPy cost ~100 MB, which a process that never trains (the API,
    # a poll, the demo, whose training runs in a child process) should not pay.
    from classifiers.train import train

    try:
        return train(list(examples), params=params, progress=progress, n_jobs=n_jobs)
    except (DataError, ValueError) as exc:
        raise InvalidInput(f"training failed: {exc}") from exc


async def register(
    session: AsyncSession, model: TrainedModel, *, source: str, comparison: dict[str, Any] | None = None
) -> ModelVersion:
    return await add_version(session, await asyncio.to_thread(package, model), source=source, comparison=comparison)


async def add_version(
    session: AsyncSession, fitted: Fitted, *, source: str, comparison: dict[str, Any] | None = None
) -> ModelVersion:
    """A model version row from a trained model's parts, made here (`register`) or by a training child."""
    metrics = dict(fitted.metrics)
    if comparison is not None:
        metrics["comparison"] = comparison
    row = ModelVersion(
        version=fitted.version,
        source=source,
        classes=list(fitted.classes),
        metrics=metrics,
        threshold=fitted.threshold,
        n_examples=fitted.n_examples,
        fingerprint=fitted.fingerprint,
        sha256=hashlib.sha256(fitted.artifact).hexdigest(),
        meta=fitted.meta,
        artifact=fitted.artifact,
        compact=fitted.compact,
    )
    session.add(row)
    await session.flush()
    return row


async def train_and_register(
    session: AsyncSession,
    examples: Sequence[Example],
    *,
    source: str,
    progress: Progress | None = None,
    router: Router | None = None,
) -> tuple[ModelVersion, dict[str, Any]]:
    """Fit on most of the data and compare the new version with the active one on the held-out rest,
    so that the admin sees both on the same tickets before activating anything."""
    from classifiers.evaluate import evaluate

    examples = with_area_names(examples)
    kept, held = split_holdout(examples, HOLDOUT_SHARE) if len(examples) >= 50 else (list(examples), [])
    bar = monotonic(progress or _ignore)
    model = await asyncio.to_thread(fit, kept, progress=monotonic(bar, 0.0, FIT_END))
    comparison: dict[str, Any] = {"held_out": len(held)}
    if held:
        bar(f"comparing on {len(held)} held-out tickets", COMPARE_AT)
        texts, labels = [e.text for e in held], [e.label for e in held]
        comparison["new"] = _summary(evaluate(model.pipeline, texts, labels, threshold=model.threshold))
        active = await repository.active_model(session)
        if active is not None:
            try:
                loaded = await load_version(session, active.version, cache_dir=None)
            except ArtifactError as exc:
                comparison["active"] = {"version": active.version, "error": str(exc)}
            else:
                figures = evaluate(loaded.pipeline, texts, labels, threshold=float(loaded.metadata.threshold))
                comparison["active"] = {"version": active.version, **_summary(figures)}
    bar("storing the model version", REGISTER_AT)
    row = await register(session, model, source=source, comparison=comparison)
    bar("done", 1.0)
    return row, comparison


async def fit_and_register(
    session: AsyncSession,
    examples: Sequence[Example],
    *,
    source: str,
    progress: Progress | None = None,
    n_jobs: int = 2,
) -> ModelVersion:
    """Fit on every example (its figures cross-validated) and store the version; one bar for both.
    n_jobs=1 fits one model at a time: about half the memory of training, in about the same time on
    a machine whose other core is busy."""
    bar = monotonic(progress or _ignore)
    model = await asyncio.to_thread(fit, examples, progress=monotonic(bar, 0.0, FIT_END), n_jobs=n_jobs)
    bar("storing the model version", REGISTER_AT)
    row = await register(session, model, source=source)
    bar("done", 1.0)
    return row


def _ignore(_stage: str, _fraction: float) -> None:
    return None


def _summary(figures: dict[str, Any]) -> dict[str, Any]:
    keys = ("accuracy", "macro_f1", "ece", "threshold", "auto_routed_share", "auto_routed_accuracy")
    return {k: figures[k] for k in keys if k in figures}


async def activate(
    session: AsyncSession, version: str, *, create_areas: bool = False, checked_sha256: str | None = None
) -> tuple[ModelVersion, list[str]]:
    """Make a version the one that routes, recorded in the activation history. Its classes map to
    areas by name: missing areas are a refusal that names them, unless `create_areas`, which creates
    them (and returns them, so the caller can say so). It must load with every check first, here,
    unless `checked_sha256` says the process that trained it just did (a training child,
    `Fitted.checked_sha256`) and the stored artifact is those bytes, with its compact form."""
    row, created = await _switch_to(session, version, create_areas=create_areas, checked_sha256=checked_sha256)
    assert row.activated_at is not None
    await repository.add_activation(session, model_version_id=row.id, at=row.activated_at)
    return row, created


async def check_areas_for(session: AsyncSession, classes: Sequence[str], *, create_areas: bool, what: str) -> list[str]:
    """The classes that are no area yet (to create when `create_areas`); without it, a refusal naming them."""
    existing = {a.name for a in await repository.areas(session)}
    missing = [name for name in classes if name not in existing and name != TRIAGE]
    if missing and not create_areas:
        raise InvalidInput(
            f"{what} names {len(missing)} classes that are not areas: {', '.join(missing)};"
            " add them first, or activate with create-areas (CLI --create-areas, API create_areas: true)"
        )
    return missing


async def _switch_to(
    session: AsyncSession, version: str, *, create_areas: bool, checked_sha256: str | None
) -> tuple[ModelVersion, list[str]]:
    row = await repository.model_version(session, version)
    if row is None:
        raise NotFound(f"no model version {version!r}")
    unnameable = [name for name in row.classes if not is_area_name(name)]
    if unnameable:
        # Only a version registered before class names were normalised can have these.
        raise InvalidInput(
            f"model {version} has classes that are not area names: {', '.join(map(repr, unnameable))};"
            " train it again (training normalises class names)"
        )
    missing = await check_areas_for(session, row.classes, create_areas=create_areas, what=f"model {version}")
    has_compact = (await repository.serving_form(session, version) or ({}, False))[1]
    if checked_sha256 is None or checked_sha256 != row.sha256 or not has_compact:
        try:
            loaded = await load_version(session, version, cache_dir=None)
        except ArtifactError as exc:
            raise InvalidInput(f"model {version} refused: {exc}") from exc
        if not has_compact:
            # Registered before compact forms existed: built now, from the artifact that just checked out.
            row.compact = await asyncio.to_thread(compact_form, loaded.pipeline, loaded.metadata.sha256)
    now = utcnow()
    await repository.deactivate_all(session)
    row.active, row.activated_at = True, now
    for name in missing:
        session.add(Area(name=name, title=name.replace("_", " ").replace("-", " ").capitalize()))
    await session.flush()
    return row, missing


async def rollback(session: AsyncSession, *, create_areas: bool = False) -> ModelVersion:
    """Back through the activation history: the latest activation is marked rolled back and the one
    before it serves again, so a second rollback goes one further back, never forth."""
    standing = await repository.standing_activations(session, limit=2)
    if not standing:
        raise Conflict("no model version has been activated: there is nothing to roll back")
    if len(standing) < 2:
        raise Conflict(
            f"there is nothing earlier to roll back to: model {standing[0][1]} is the earliest activation"
            " left in the history"
        )
    (latest, _current), (_earlier, previous) = standing
    row, _created = await _switch_to(session, previous, create_areas=create_areas, checked_sha256=None)
    await repository.mark_rolled_back(session, latest, at=utcnow())
    return row


async def list_versions(session: AsyncSession) -> list[ModelVersion]:
    return list(await repository.model_versions(session))


# Jobs: training requested over the API runs in a worker, with progress readable while it runs.


async def enqueue_training(
    session: AsyncSession, source: TrainingSource, *, activate: bool, actor: str, create_areas: bool = False
) -> Job:
    if source.path is not None:
        raise InvalidInput("the API trains from agents' labels; train from a file with `routedesk train --data`")
    params = {"from_tickets": True, "activate": activate, "create_areas": create_areas}
    job = Job(kind="train", params=params, created_by=actor)
    session.add(job)
    await session.flush()
    return job


async def get_job(session: AsyncSession, job_id: int) -> Job:
    job = await session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


async def run_one_job(sessionmaker: async_sessionmaker[AsyncSession], *, owner: str, lease_seconds: float) -> bool:
    """Claim one queued (or abandoned) training job and run it. Returns whether there was one."""
    async with unit_of_work(sessionmaker) as session:
        job = await repository.claim_job(session, owner=owner, now=utcnow(), lease=timedelta(seconds=lease_seconds))
        if job is None:
            return False
        job_id, params = job.id, dict(job.params)
        examples = await ticket_examples(session)
    latest = ("starting", 0.0)

    def progress(stage: str, fraction: float) -> None:
        nonlocal latest
        latest = (stage, fraction)

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(1.0)
            stage, fraction = latest
            async with unit_of_work(sessionmaker) as session:
                await repository.job_progress(
                    session,
                    job_id,
                    stage=stage,
                    fraction=fraction,
                    lease_until=utcnow() + timedelta(seconds=lease_seconds),
                )

    reporter = asyncio.create_task(report_progress())
    try:
        async with unit_of_work(sessionmaker) as session:
            row, comparison = await train_and_register(session, examples, source="tickets", progress=progress)
            result: dict[str, Any] = {
                "version": row.version,
                "metrics": _summary(row.metrics),
                "comparison": comparison,
                "n_examples": len(examples),
            }
            if params.get("activate"):
                _row, created = await activate(session, row.version, create_areas=bool(params.get("create_areas")))
                result.update(activated=True, created_areas=created)
        outcome: tuple[JobStatus, dict[str, Any] | None, str | None] = (JobStatus.SUCCEEDED, result, None)
    except InvalidInput as exc:
        outcome = (JobStatus.FAILED, None, exc.detail)
    except Exception as exc:
        log.exception("training_job_failed", job=job_id)
        outcome = (JobStatus.FAILED, None, f"{type(exc).__name__}: {exc}")
    finally:
        reporter.cancel()
        await asyncio.gather(reporter, return_exceptions=True)
    async with unit_of_work(sessionmaker) as session:
        await repository.finish_job(session, job_id, status=outcome[0], result=outcome[1], error=outcome[2])
    log.info("training_job_finished", job=job_id, status=outcome[0])
    return True


async def run_jobs(
    sessionmaker: async_sessionmaker[AsyncSession], stop: asyncio.Event, *, owner: str, interval: float = 2.0
) -> None:
    while not stop.is_set():
        try:
            ran = await run_one_job(sessionmaker, owner=owner, lease_seconds=120)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job_runner_failed")
            ran = False
        if not ran:
            await sleep_or_stop(interval, stop)
