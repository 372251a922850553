"""`routedesk poll`, `worker`, `serve` and `run`: the long-running processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import MISCONFIGURED, check_runtime, cli, fail, load_settings, run_async, with_runtime

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # app.metrics imports prometheus_client: not at CLI start

if TYPE_CHECKING:
    import uvicorn

    from app.config import Settings
    from app.runtime import Runtime


def _say(settings: Settings, line: str, event: str, **fields: object) -> None:
    """What a process says of itself: a line for a person, or, with JSON logs, a log record like every
    other line of its output, so that a log collector can read all of it."""
    if settings.log_json:
        import structlog

        structlog.get_logger().info(event, **fields)
    else:
        typer.echo(line)


def _server(config: uvicorn.Config, settings: Settings) -> uvicorn.Server:
    """A uvicorn server that says where it listens once its socket is bound (not before: the port may be taken)."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.should_exit:
                url = f"http://{config.host}:{config.port}"
                _say(settings, f"listening on {url}", "listening", url=url)

    return AnnouncingServer(config)


def _keep_running_on_repeated_signal(server: uvicorn.Server, stop: asyncio.Event | None = None) -> None:
    """uvicorn handles SIGTERM/SIGINT while it serves, then restores the handlers it found and raises the
    signal again: with Python's default handler that would end the process there, before a worker had
    stopped and given its mailboxes and outbox rows up, and before the process could say it stopped.
    With this one, the repeated signal only asks for the stop that is already under way."""
    loop = asyncio.get_running_loop() if stop is not None else None

    def graceful(_signum: int, _frame: object) -> None:
        server.should_exit = True
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, graceful)


async def _announce_mailboxes(runtime: Runtime) -> None:
    from app.db import unit_of_work
    from app.inbox import repository

    async with unit_of_work(runtime.sessionmaker) as session:
        names = [m.name for m in await repository.mailboxes(session, enabled_only=True)]
    if names:
        _say(runtime.settings, f"polling mailboxes: {', '.join(names)}", "polling_mailboxes", mailboxes=names)
    else:
        line = "polling no mailboxes (add one with `routedesk mailbox add`; the worker looks again every 30 s)"
        _say(runtime.settings, line, "polling_mailboxes", mailboxes=[])


def _single_process_metrics() -> None:
    """A process that serves alone keeps its metrics in memory. PROMETHEUS_MULTIPROC_DIR is Routedesk's
    to set (for `serve --workers N`, below); one left in the environment would make prometheus_client
    write files that this process's scrape would then count twice."""
    os.environ.pop(MULTIPROCESS_ENV, None)


def _shared_metrics_dir(settings: Settings, port: int) -> Path:
    """The multiprocess directory of `serve --workers N` on this port, emptied of a previous run's files
    and named in the environment the worker processes inherit (they are spawned after this)."""
    from app.metrics import prepare_multiprocess_dir

    path = prepare_multiprocess_dir(Path(settings.data_dir).resolve() / "metrics" / f"serve-{port}")
    os.environ[MULTIPROCESS_ENV] = str(path)
    return path


@cli.command("poll")
def poll(
    once: Annotated[bool, typer.Option("--once", help="Ingest what is there now, then exit")] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="With --once: a mailbox another worker holds is polled when it is free")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0, help="With --wait: the longest to wait for a mailbox, in seconds")
    ] = 120.0,
) -> None:
    """Ingest mail from every mailbox; with --once, print the counts as the last line. A mailbox that
    another worker holds is being polled already: it is reported on stderr and skipped (exit 0)."""
    if not once:
        worker()
        return
    from app.worker import poll_mailboxes

    outcome = with_runtime(load_settings(), lambda runtime: poll_mailboxes(runtime, wait=timeout if wait else 0.0))
    for line in outcome.busy:
        typer.echo(f"skipped: {line}" + (f" (still, after waiting {timeout:g} s)" if wait else ""), err=True)
    for line in outcome.errors:
        typer.echo(f"error: {line}", err=True)
    typer.echo(json.dumps(outcome.counts.as_dict()))
    # Waiting was asked for: a mailbox still held when the time ran out was not polled as asked.
    if outcome.errors or (wait and outcome.busy):
        raise typer.Exit(1)


@cli.command("worker")
def worker() -> None:
    """Poll every mailbox continuously (IDLE, with polling where the server has none) until SIGTERM."""
    _single_process_metrics()  # before anything imports prometheus_client
    from app.worker import install_signal_handlers, run_worker

    settings = load_settings()

    async def go(runtime: Runtime) -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        await _announce_mailboxes(runtime)
        await run_worker(runtime, stop)

    with_runtime(settings, go)
    _say(settings, "stopped cleanly", "stopped_cleanly")


@cli.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Processes sharing the port; about one per core (the API is stateless)")
    ] = 1,
) -> None:
    """The HTTP API (stateless: run as many as needed)."""
    if workers == 1:
        _single_process_metrics()  # before anything imports prometheus_client
    import uvicorn

    from app.http import UVICORN_OPTIONS
    from app.main import create_app

    settings = load_settings()  # a bad setting stops here, once, with a clear message
    check_runtime(settings)  # and so does a database that cannot be used, before uvicorn would say it in a traceback
    if workers == 1:
        server = _server(uvicorn.Config(create_app(settings), host=host, port=port, **UVICORN_OPTIONS), settings)
        _keep_running_on_repeated_signal(server)
        server.run()
    else:
        # Each worker process builds its app from the same environment; the supervisor binds the socket
        # (as uvicorn.run does) and says so once it holds it: a port it cannot bind is one line and
        # exit 2, never "listening".
        from uvicorn.supervisors import Multiprocess

        url = f"http://{host}:{port}"
        config = uvicorn.Config(
            "app.main:create_app", factory=True, workers=workers, host=host, port=port, **UVICORN_OPTIONS
        )
        shared = _shared_metrics_dir(settings, port)
        try:
            try:
                sock = config.bind_socket()
            except SystemExit:  # uvicorn has logged the OS's reason ("Address already in use")
                fail(f"cannot listen on {url}: the address is in use or not this machine's", MISCONFIGURED)
            _say(settings, f"listening on {url} ({workers} processes)", "listening", url=url, processes=workers)
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the supervisor has ended its workers
                Multiprocess(config, sockets=[sock]).run()
        finally:
            shutil.rmtree(shared, ignore_errors=True)
    _say(settings, "stopped cleanly", "stopped_cleanly")


@cli.command("run")
def run(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """API and worker in one process: the single-machine default."""
    _single_process_metrics()  # before anything imports prometheus_client
    import uvicorn

    from app.http import UVICORN_OPTIONS
    from app.main import create_app
    from app.runtime import open_runtime
    from app.worker import run_worker

    settings = load_settings()

    async def go() -> None:
        async with open_runtime(settings) as runtime:
            stop = asyncio.Event()
            await _announce_mailboxes(runtime)
            server = _server(
                uvicorn.Config(create_app(runtime=runtime), host=host, port=port, **UVICORN_OPTIONS), settings
            )
            _keep_running_on_repeated_signal(server, stop)
            worker_task = asyncio.create_task(run_worker(runtime, stop, process="run"))
            try:
                await server.serve()
            finally:
                stop.set()
                await worker_task

    run_async(go, database_url=settings.database_url)
    _say(settings, "stopped cleanly", "stopped_cleanly")
