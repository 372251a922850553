from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from app.config import Settings, get_settings
from app.logs import configure_logging

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.runtime import Runtime

T = TypeVar("T")

# A crash's traceback never shows the values of variables: they hold passwords (--imap-url) and tokens.
cli = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Routedesk: a support inbox that routes itself.",
)
db_cli = typer.Typer(no_args_is_help=True, help="Database schema.")
mailbox_cli = typer.Typer(no_args_is_help=True, help="IMAP mailboxes to ingest.")
messages_cli = typer.Typer(no_args_is_help=True, help="Stored messages (for admins).")
users_cli = typer.Typer(no_args_is_help=True, help="Agents and admins, and their API tokens.")
models_cli = typer.Typer(no_args_is_help=True, help="Routing model versions.")
cli.add_typer(db_cli, name="db")
cli.add_typer(mailbox_cli, name="mailbox")
cli.add_typer(messages_cli, name="messages")
cli.add_typer(users_cli, name="users")
cli.add_typer(models_cli, name="models")


def _settings() -> Settings:
    try:
        settings = get_settings()
    except ValueError as exc:
        _fail(f"invalid settings: {exc}")
    configure_logging(settings.log_level, json=settings.log_json)
    return settings


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _run(make: Callable[[], Awaitable[T]]) -> T:
    return _reporting(lambda: asyncio.run(make()))  # type: ignore[arg-type]


def _reporting(call: Callable[[], T]) -> T:
    """Runs a command's work; what it fails with for a reason the user can act on is one line on stderr."""
    # Imported here, not at the top: it brings FastAPI, and a parse worker process imports this module.
    from app.errors import AppError, database_unavailable
    from app.logs import exception_message

    try:
        return call()
    except AppError as exc:
        raise _fail(exc.detail) from None
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        raise _fail(f"the database is unavailable ({type(exc).__name__}: {exception_message(exc)})") from None


def _with_runtime(settings: Settings, fn: Callable[[Runtime], Awaitable[T]]) -> T:
    from app.runtime import open_runtime

    async def main() -> T:
        async with open_runtime(settings) as runtime:
            return await fn(runtime)

    return _run(main)


def _in_session(settings: Settings, fn: Callable[[AsyncSession, Runtime], Awaitable[T]]) -> T:
    """Runs a command's work in one unit of work: committed when `fn` returns, rolled back if it raises."""
    from app.db import unit_of_work

    async def main(runtime: Runtime) -> T:
        async with unit_of_work(runtime.sessionmaker) as session:
            return await fn(session, runtime)

    return _with_runtime(settings, main)


@db_cli.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the schema."""
    from app.migrate import upgrade

    settings = _settings()
    _reporting(lambda: upgrade(settings.database_url, revision))
    typer.echo(f"database at {revision}")


@db_cli.command("downgrade")
def db_downgrade(revision: str) -> None:
    from app.migrate import downgrade

    settings = _settings()
    _reporting(lambda: downgrade(settings.database_url, revision))
    typer.echo(f"database at {revision}")


@mailbox_cli.command("add")
def mailbox_add(
    name: str,
    imap_url: Annotated[str, typer.Option("--imap-url", help="imap[s]://USER:PASS@HOST:PORT/FOLDER")],
    address: Annotated[str | None, typer.Option(help="The support address customers write to")] = None,
) -> None:
    from app.inbox import mailboxes as inbox
    from app.mail.imap import parse_imap_url

    settings = _settings()
    try:
        endpoint = parse_imap_url(imap_url)
    except ValueError as exc:
        raise _fail(str(exc)) from None

    async def add(session: AsyncSession, runtime: Runtime) -> None:
        await inbox.add_mailbox(session, name=name, endpoint=endpoint, secrets=runtime.secrets, address=address)

    _in_session(settings, add)
    typer.echo(
        f"mailbox {name!r} added: {endpoint.security} {endpoint.username}@{endpoint.host}:{endpoint.port}/"
        f"{endpoint.folder} (password stored encrypted)"
    )


@mailbox_cli.command("list")
def mailbox_list() -> None:
    from app.inbox import repository

    settings = _settings()

    async def rows(session: AsyncSession, _runtime: Runtime) -> list[dict[str, Any]]:
        out = []
        for m in await repository.mailboxes(session):
            state = await repository.state(session, m.id)
            out.append(
                {
                    "name": m.name,
                    "imap": f"{m.imap_security} {m.imap_username}@{m.imap_host}:{m.imap_port}/{m.folder}",
                    "enabled": m.enabled,
                    "uidvalidity": state.uidvalidity if state else None,
                    "last_uid": state.last_uid if state else 0,
                    "last_poll_at": state.last_poll_at.isoformat() if state and state.last_poll_at else None,
                    "last_error": state.last_error if state else None,
                }
            )
        return out

    for row in _in_session(settings, rows):
        typer.echo(json.dumps(row))


@mailbox_cli.command("remove")
def mailbox_remove(name: str) -> None:
    from app.inbox import mailboxes as inbox

    settings = _settings()

    async def remove(session: AsyncSession, _runtime: Runtime) -> None:
        await inbox.remove_mailbox(session, name)

    _in_session(settings, remove)
    typer.echo(f"mailbox {name!r} removed (its messages and tickets are kept)")


@users_cli.command("add")
def users_add(
    name: str,
    email: Annotated[str, typer.Option("--email")],
    role: Annotated[str, typer.Option("--role", help="agent or admin")] = "agent",
) -> None:
    """Create a user and print their API token (shown this once; only its hash is stored)."""
    from app.users import service as users

    settings = _settings()

    async def add(session: AsyncSession, _runtime: Runtime) -> str:
        _user, token = await users.create_user(session, name=name, email=email, role=role)
        return token

    token = _in_session(settings, add)
    typer.echo(f"user {name!r} ({role}) created; API token (shown once):", err=True)
    typer.echo(token)


@users_cli.command("token")
def users_token(name: str) -> None:
    """Replace a user's token with a new one and print it."""
    from app.users import service as users

    settings = _settings()

    async def rotate(session: AsyncSession, _runtime: Runtime) -> str:
        return (await users.rotate_token(session, name))[1]

    typer.echo(_in_session(settings, rotate))


@users_cli.command("revoke")
def users_revoke(name: str) -> None:
    """Revoke a user's token: every request with it is refused from now on."""
    from app.users import service as users

    settings = _settings()

    async def revoke(session: AsyncSession, _runtime: Runtime) -> None:
        await users.revoke(session, name)

    _in_session(settings, revoke)
    typer.echo(f"user {name!r}: token revoked")


def _progress_printer() -> Callable[[str, float], None]:
    """Progress on a terminal (one line rewritten in place); nothing when output is piped."""
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
    text_col: Annotated[str | None, typer.Option("--text-col")] = None,
    subject_col: Annotated[str | None, typer.Option("--subject-col")] = None,
    body_col: Annotated[str | None, typer.Option("--body-col")] = None,
    label_col: Annotated[str, typer.Option("--label-col")] = "label",
    labels: Annotated[Path | None, typer.Option("--labels", help="labels for an mbox/maildir")] = None,
    from_tickets: Annotated[bool, typer.Option("--from-tickets", help="train on agents' labels")] = False,
    activate: Annotated[bool, typer.Option("--activate", help="route with the new version at once")] = False,
) -> None:
    """Train a routing model version; the last line is JSON with its cross-validated metrics."""
    from app.routing import training

    if (data is None) == (not from_tickets):
        raise _fail("give either --data FILE or --from-tickets")
    settings = _settings()
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
            row, comparison = await training.train_and_register(session, examples, source="tickets", progress=progress)
        else:
            examples = await asyncio.to_thread(training.read_file_examples, source)
            model = await asyncio.to_thread(training.fit, examples, progress=progress)
            row = await training.register(session, model, source=source.describe())
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
            _row, created = await training.activate(session, row.version)
            out["activated"] = True
            if created:
                typer.echo(f"created areas for the model's classes: {', '.join(created)}", err=True)
        return out

    typer.echo(json.dumps(_in_session(settings, go)))


@cli.command("evaluate")
def evaluate_cmd(
    data: Annotated[Path, typer.Option("--data", help="labelled CSV, JSONL, mbox or maildir")],
    model: Annotated[str | None, typer.Option("--model", help="a version; the active one by default")] = None,
    text_col: Annotated[str | None, typer.Option("--text-col")] = None,
    subject_col: Annotated[str | None, typer.Option("--subject-col")] = None,
    body_col: Annotated[str | None, typer.Option("--body-col")] = None,
    label_col: Annotated[str, typer.Option("--label-col")] = "label",
    labels: Annotated[Path | None, typer.Option("--labels")] = None,
) -> None:
    """Score a model version on labelled data; the last line is JSON."""
    from app.routing import repository, training
    from app.routing.service import load_version
    from classifiers.errors import ArtifactError
    from classifiers.evaluate import evaluate

    settings = _settings()
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
                raise _fail("no active model: name one with --model VERSION")
            version = active.version
        try:
            return examples, version, await load_version(session, version, cache_dir=None)
        except ArtifactError as exc:
            raise _fail(f"model {version} refused: {exc}") from None

    # Scored after the runtime is closed: no database connection is held while the model works.
    examples, version, loaded = _in_session(settings, load)
    texts, truth = [e.text for e in examples], [e.label for e in examples]
    figures = _reporting(lambda: evaluate(loaded.pipeline, texts, truth, threshold=float(loaded.metadata.threshold)))
    typer.echo(json.dumps({"model": version, "n": len(examples), **figures}))


@models_cli.command("list")
def models_list() -> None:
    from app.routing import training

    settings = _settings()

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

    for row in _in_session(settings, go):
        typer.echo(json.dumps(row))


@models_cli.command("activate")
def models_activate(version: str) -> None:
    from app.routing import training

    settings = _settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> list[str]:
        return (await training.activate(session, version))[1]

    created = _in_session(settings, go)
    if created:
        typer.echo(f"created areas for the model's classes: {', '.join(created)}")
    typer.echo(f"model {version} is active")


@models_cli.command("rollback")
def models_rollback() -> None:
    from app.routing import training

    settings = _settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> str:
        return (await training.rollback(session)).version

    typer.echo(f"rolled back: model {_in_session(settings, go)} is active")


@cli.command("poll")
def poll(
    once: Annotated[bool, typer.Option("--once", help="Ingest what is there now, then exit")] = False,
) -> None:
    """Ingest mail from every mailbox; with --once, print the counts as the last line."""
    if not once:
        worker()
        return
    from app.worker import poll_once

    counts, errors = _with_runtime(_settings(), poll_once)
    for line in errors:
        typer.echo(f"error: {line}", err=True)
    typer.echo(json.dumps(counts.as_dict()))
    if errors:
        raise typer.Exit(1)


@cli.command("worker")
def worker() -> None:
    """Poll every mailbox continuously (IDLE, with polling where the server has none) until SIGTERM."""
    from app.worker import install_signal_handlers, run_worker

    settings = _settings()

    async def go(runtime: Runtime) -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        await run_worker(runtime, stop)

    _with_runtime(settings, go)


@cli.command("serve")
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Processes sharing the port; about one per core (the API is stateless)")
    ] = 1,
) -> None:
    """The HTTP API (stateless: run as many as needed)."""
    import uvicorn

    from app.http import UVICORN_OPTIONS
    from app.main import create_app

    settings = _settings()  # a bad setting stops here, once, with a clear message
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, **UVICORN_OPTIONS)
        return
    # Each worker process builds its app from the same environment.
    uvicorn.run("app.main:create_app", factory=True, workers=workers, host=host, port=port, **UVICORN_OPTIONS)


@cli.command("run")
def run(host: str = "127.0.0.1", port: int = 8000) -> None:
    """API and worker in one process: the single-machine default."""
    import uvicorn

    from app.http import UVICORN_OPTIONS
    from app.main import create_app
    from app.runtime import open_runtime
    from app.worker import run_worker

    settings = _settings()

    async def go() -> None:
        async with open_runtime(settings) as runtime:
            stop = asyncio.Event()
            server = uvicorn.Server(
                uvicorn.Config(create_app(runtime=runtime), host=host, port=port, **UVICORN_OPTIONS)
            )
            loop = asyncio.get_running_loop()

            def graceful(_signum: int, _frame: object) -> None:
                server.should_exit = True
                loop.call_soon_threadsafe(stop.set)

            # uvicorn handles SIGTERM/SIGINT while it serves, then restores the handlers it found and
            # raises the signal again: with Python's default handler that would end the process before
            # the worker had stopped and given its mailboxes and outbox rows up. With this one, the
            # repeated signal only asks for the stop that is already under way.
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, graceful)
            worker_task = asyncio.create_task(run_worker(runtime, stop))
            try:
                await server.serve()
            finally:
                stop.set()
                await worker_task

    _run(go)


@messages_cli.command("list")
def messages_list(
    failed: Annotated[bool, typer.Option("--failed", help="Only messages that could not be parsed")] = False,
    limit: int = 50,
) -> None:
    from app.inbox import repository

    settings = _settings()

    async def rows(session: AsyncSession, _runtime: Runtime) -> list[dict[str, Any]]:
        return [
            {
                "id": m.id,
                "status": m.parse_status,
                "error": m.parse_error,
                "mailbox_id": m.mailbox_id,
                "uid": m.uid,
                "from": m.from_address,
                "subject": m.subject,
                "auto": m.auto,
                "ticket_id": m.ticket_id,
                "size": m.size,
            }
            for m in await repository.messages(session, problems_only=failed, limit=limit)
        ]

    for row in _in_session(settings, rows):
        typer.echo(json.dumps(row))


@messages_cli.command("raw")
def messages_raw(message_id: int) -> None:
    """Write a stored message's raw bytes to stdout, exactly as they were received."""
    from app.inbox import repository

    settings = _settings()

    async def raw(session: AsyncSession, _runtime: Runtime) -> bytes | None:
        message = await repository.message(session, message_id)
        return message.raw if message else None

    data = _in_session(settings, raw)
    if data is None:
        raise _fail(f"no message {message_id}")
    sys.stdout.buffer.write(data)


@cli.command("demo")
def demo(
    messages: Annotated[int, typer.Option(min=1, max=5000, help="How many sample emails to load")] = 60,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the API afterwards until Ctrl-C")] = True,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port for the API")] = 8000,
) -> None:
    """Run Routedesk end to end on embedded defaults: sample mail in a local IMAP server, a model trained
    on the project's labelled set, routed tickets, acknowledgements over SMTP, and the agents' API."""
    from app.demo.run import demo_settings, run_demo

    settings = demo_settings(_settings())
    _run(lambda: run_demo(settings, messages=messages, serve=serve, port=port))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
