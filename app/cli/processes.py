"""`routedesk poll`, `worker`, `serve` and `run`: the long-running processes."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import cli, load_settings, run_async, with_runtime

if TYPE_CHECKING:
    from app.runtime import Runtime


@cli.command("poll")
def poll(
    once: Annotated[bool, typer.Option("--once", help="Ingest what is there now, then exit")] = False,
) -> None:
    """Ingest mail from every mailbox; with --once, print the counts as the last line."""
    if not once:
        worker()
        return
    from app.worker import poll_once

    counts, errors = with_runtime(load_settings(), poll_once)
    for line in errors:
        typer.echo(f"error: {line}", err=True)
    typer.echo(json.dumps(counts.as_dict()))
    if errors:
        raise typer.Exit(1)


@cli.command("worker")
def worker() -> None:
    """Poll every mailbox continuously (IDLE, with polling where the server has none) until SIGTERM."""
    from app.worker import install_signal_handlers, run_worker

    settings = load_settings()

    async def go(runtime: Runtime) -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        await run_worker(runtime, stop)

    with_runtime(settings, go)


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

    settings = load_settings()  # a bad setting stops here, once, with a clear message
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

    settings = load_settings()

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

    run_async(go)
