"""The `routedesk` command run on a test's database, as a user would run it: in-process (quick), or as the
real command in a subprocess (seconds per start: it imports the app, often scikit-learn), kept for what
only a real process shows (signals, kill -9, child processes, the real entry point's streams, what its
logging and tracebacks print).

Both see the same environment: `cli_env` or `routedesk_env` (the database, the data dir, extra variables, none of the
ROUTEDESK_* variables of the test process). In-process: `invoke_routedesk` and `invoke_env` (sync
tests), `routedesk` and `invoke_env_async` (async tests, in a thread). Real process: `run_routedesk`
and `run_routedesk_env` (awaited, non-blocking), `run_env` (sync tests only), `start_routedesk` (a
process to signal or kill)."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import typer
from typer.testing import CliRunner, Result

from app.cli import cli
from app.config import Settings, get_settings
from app.logs import stop_logging

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without its ROUTEDESK_* variables, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("ROUTEDESK_")}, **extra}


def cli_env(database_url: str, data_dir: Path | str, **extra: str) -> dict[str, str]:
    # `extra` may set either of these two again (a test of a bad database URL).
    return clean_env(**{"ROUTEDESK_DATABASE_URL": database_url, "ROUTEDESK_DATA_DIR": str(data_dir), **extra})


def routedesk_env(settings: Settings, **extra: str) -> dict[str, str]:
    return cli_env(settings.database_url, settings.data_dir, **extra)


# -- in-process -------------------------------------------------------------------------------------


@functools.cache
def _command() -> Any:
    return typer.main.get_command(cli)


def invoke_env(env: dict[str, str], *args: str) -> Completed:
    """In-process, as `run_env` runs the real command. A crash that a real process would print as a
    traceback is raised here, so that a test cannot take it for a refusal with exit code 1.

    The command sees `env` as a real process would: this process's other ROUTEDESK_* variables are unset
    while it runs. It configures logging for its process: the logs it queued are written before its
    streams are read (a real process writes them at exit, app.logs' atexit; a test that looks for a secret
    in stderr must see them), and this process's logging is put back afterwards."""
    changes: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ROUTEDESK_")}
    changes.update(env)
    structlog_config, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    get_settings.cache_clear()
    code: int = 0
    try:
        with CliRunner().isolation(env=changes) as (out, err, _both):
            try:
                _command().main(args=list(args), prog_name="routedesk")
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
            finally:
                stop_logging()
                sys.stdout.flush()
                sys.stderr.flush()
            return Completed(code, out.getvalue().decode(), err.getvalue().decode())
    finally:
        get_settings.cache_clear()
        structlog.configure(**structlog_config)
        root.handlers[:], root.level = handlers, level


def invoke_routedesk(settings: Settings, *args: str) -> Result:
    """The command in-process, as a click Result (its logs may or may not be in it yet): `invoke_env`
    and `routedesk` are the strict form."""
    env = {"ROUTEDESK_DATABASE_URL": settings.database_url, "ROUTEDESK_DATA_DIR": str(settings.data_dir)}
    structlog_config, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, list(args), env=env)
    finally:
        get_settings.cache_clear()
        structlog.configure(**structlog_config)
        root.handlers[:], root.level = handlers, level


async def routedesk(settings: Settings, *args: str, **env: str) -> Completed:
    """`invoke_env` from an async test: see `invoke_env_async`."""
    return await invoke_env_async(routedesk_env(settings, **env), *args)


async def invoke_env_async(env: dict[str, str], *args: str) -> Completed:
    """`invoke_env` from an async test, in a thread of its own: the command runs its own event loop, and the
    test's loop may be serving the IMAP or SMTP server it talks to."""
    return await asyncio.to_thread(invoke_env, env, *args)


# -- the real command in a subprocess ---------------------------------------------------------------


def start_routedesk(env: dict[str, str], *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    """The real command started, for a test that signals or kills it while it runs: its stdout and stderr
    piped, or both appended to `log`."""
    command = [sys.executable, "-m", "app.cli", *args]
    if log is None:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with log.open("ab") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=output, stderr=output)


def run_env(env: dict[str, str], *args: str, timeout: float = 120, stdin: str | None = None) -> Completed:
    """The real command, blocking: for sync tests only (an async test awaits `run_routedesk_env`)."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Completed(done.returncode, done.stdout, done.stderr)


async def run_routedesk(settings: Settings, *args: str, **env: str) -> Completed:
    """The real `routedesk` command in a subprocess, awaited without blocking the test's event loop (which
    may be running the IMAP or SMTP server the command talks to)."""
    return await run_routedesk_env(routedesk_env(settings, **env), *args)


async def run_routedesk_env(env: dict[str, str], *args: str, timeout: float = 300) -> Completed:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(timeout):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return Completed(proc.returncode, out.decode(), err.decode())
