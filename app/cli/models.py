"""`routedesk train`, `evaluate` and `models`: routing model versions."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import cli, fail, in_session, load_settings, reporting

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.runtime import Runtime

models_cli = typer.Typer(no_args_is_help=True, help="Routing model versions.")

CREATE_AREAS_HELP = "create the areas the model's classes name but that do not exist (else activation refuses)"


def _progress_printer() -> Callable[[str, float], None]:
    """Progress on a terminal (one line rewritten in place, the stage named); nothing when output is
    piped. Training reports one fraction for the whole run, which never decreases."""
    if not sys.stderr.isatty():
        return lambda _stage, _fraction: None

    def show(stage: str, fraction: float) -> None:
        filled = int(fraction * 30)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} {stage:<40}")
        if fraction >= 1.0:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


@cli.command("train")
def train(
    data: Annotated[Path | None, typer.Option("--data", help="CSV, JSONL, mbox file or maildir folder")] = None,
    text_col: Annotated[str | None, typer.Option("--text-col", help="Column with the whole text")] = None,
    subject_col: Annotated[str | None, typer.Option("--subject-col", help="Column with the subject")] = None,
    body_col: Annotated[str | None, typer.Option("--body-col", help="Column with the body")] = None,
    label_col: Annotated[str, typer.Option("--label-col", help="Column with the area")] = "label",
    labels: Annotated[Path | None, typer.Option("--labels", help="labels for an mbox/maildir")] = None,
    from_tickets: Annotated[bool, typer.Option("--from-tickets", help="train on agents' labels")] = False,
    activate: Annotated[bool, typer.Option("--activate", help="route with the new version at once")] = False,
    create_areas: Annotated[bool, typer.Option("--create-areas", help=CREATE_AREAS_HELP)] = False,
) -> None:
    """Train a routing model version; the last line is JSON with its cross-validated metrics."""
    from app.routing import training

    if (data is None) == (not from_tickets):
        raise fail("give either --data FILE or --from-tickets")
    if create_areas and not activate:
        raise fail("--create-areas goes with --activate")
    settings = load_settings()
    source = training.TrainingSource(
        path=str(data) if data else None,
        text_col=text_col,
        subject_col=subject_col,
        body_col=body_col,
        label_col=label_col,
        labels_file=str(labels) if labels else None,
        from_tickets=from_tickets,
    )
    progress = _progress_printer()

    async def go(session: AsyncSession, _runtime: Runtime) -> dict[str, Any]:
        if from_tickets:
            examples = await training.ticket_examples(session)
        else:
            examples = await asyncio.to_thread(training.read_file_examples, source)
        if activate:
            # Refused before the minutes of training rather than after.
            classes = sorted({e.label for e in training.with_area_names(examples)})
            await training.check_areas_for(session, classes, create_areas=create_areas, what="the training data")
        if from_tickets:
            row, comparison = await training.train_and_register(session, examples, source="tickets", progress=progress)
        else:
            row = await training.fit_and_register(session, examples, source=source.describe(), progress=progress)
            comparison = None
        out: dict[str, Any] = {
            "version": row.version,
            "classes": row.classes,
            "n_examples": len(examples),
            "train_seconds": row.meta.get("train_seconds"),
            "metrics": {k: v for k, v in row.metrics.items() if k != "comparison"},
        }
        if comparison is not None:
            out["comparison"] = comparison
        if activate:
            _row, created = await training.activate(session, row.version, create_areas=create_areas)
            out["activated"] = True
            if created:
                typer.echo(f"created areas for the model's classes: {', '.join(created)}", err=True)
        return out

    typer.echo(json.dumps(in_session(settings, go)))


@cli.command("evaluate")
def evaluate_cmd(
    data: Annotated[Path, typer.Option("--data", help="labelled CSV, JSONL, mbox or maildir")],
    model: Annotated[str | None, typer.Option("--model", help="a version; the active one by default")] = None,
    text_col: Annotated[str | None, typer.Option("--text-col", help="Column with the whole text")] = None,
    subject_col: Annotated[str | None, typer.Option("--subject-col", help="Column with the subject")] = None,
    body_col: Annotated[str | None, typer.Option("--body-col", help="Column with the body")] = None,
    label_col: Annotated[str, typer.Option("--label-col", help="Column with the area")] = "label",
    labels: Annotated[Path | None, typer.Option("--labels", help="labels for an mbox/maildir")] = None,
) -> None:
    """Score a model version on labelled data; the last line is JSON."""
    from app.routing import repository, training
    from app.routing.service import load_version
    from classifiers.errors import ArtifactError
    from classifiers.evaluate import evaluate

    settings = load_settings()
    source = training.TrainingSource(
        path=str(data),
        text_col=text_col,
        subject_col=subject_col,
        body_col=body_col,
        label_col=label_col,
        labels_file=str(labels) if labels else None,
    )

    async def load(session: AsyncSession, _runtime: Runtime) -> tuple[list[Any], str, Any]:
        examples = await asyncio.to_thread(training.read_file_examples, source)
        version = model
        if version is None:
            active = await repository.active_model(session)
            if active is None:
                raise fail("no active model: name one with --model VERSION")
            version = active.version
        try:
            return examples, version, await load_version(session, version, cache_dir=None)
        except ArtifactError as exc:
            raise fail(f"model {version} refused: {exc}") from None

    # Scored after the runtime is closed: no database connection is held while the model works.
    examples, version, loaded = in_session(settings, load)
    texts, truth = [e.text for e in examples], [e.label for e in examples]
    figures = reporting(lambda: evaluate(loaded.pipeline, texts, truth, threshold=float(loaded.metadata.threshold)))
    typer.echo(json.dumps({"model": version, "n": len(examples), **figures}))


@models_cli.command("list")
def models_list() -> None:
    """Every model version, newest first, one JSON line each."""
    from app.routing import training

    settings = load_settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> list[dict[str, Any]]:
        return [
            {
                "version": v.version,
                "active": v.active,
                "created_at": v.created_at.isoformat(),
                "source": v.source,
                "n_examples": v.n_examples,
                "classes": len(v.classes),
                "threshold": v.threshold,
                "macro_f1": v.metrics.get("macro_f1"),
                "accuracy": v.metrics.get("accuracy"),
                "auto_routed_share": v.metrics.get("auto_routed_share"),
            }
            for v in await training.list_versions(session)
        ]

    for row in in_session(settings, go):
        typer.echo(json.dumps(row))


@models_cli.command("activate")
def models_activate(
    version: Annotated[str, typer.Argument(help="the version, as `models list` shows it")],
    create_areas: Annotated[bool, typer.Option("--create-areas", help=CREATE_AREAS_HELP)] = False,
) -> None:
    """Route with a model version. Its classes must be areas already: the missing ones are listed
    and nothing changes, unless --create-areas."""
    from app.routing import training

    settings = load_settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> list[str]:
        return (await training.activate(session, version, create_areas=create_areas))[1]

    created = in_session(settings, go)
    if created:
        typer.echo(f"created areas for the model's classes: {', '.join(created)}")
    typer.echo(f"model {version} is active")


@models_cli.command("rollback")
def models_rollback(
    create_areas: Annotated[bool, typer.Option("--create-areas", help=CREATE_AREAS_HELP)] = False,
) -> None:
    """Back one step in the activation history: run again, it goes one step further back."""
    from app.routing import training

    settings = load_settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> str:
        return (await training.rollback(session, create_areas=create_areas)).version

    typer.echo(f"rolled back: model {in_session(settings, go)} is active")
