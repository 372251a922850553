"""The `routedesk` command run on a test's database, as a user would run it: in-process
(`invoke_routedesk`, quick), or as the real command in a subprocess (`run_routedesk`)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import structlog
from typer.testing import CliRunner, Result

from app.cli import cli
from app.config import Settings, get_settings

REPO = Path(__file__).resolve().parent.parent


def invoke_routedesk(settings: Settings, *args: str) -> Result:
    env = {"ROUTEDESK_DATABASE_URL": settings.database_url, "ROUTEDESK_DATA_DIR": str(settings.data_dir)}
    # The command configures logging for its process; this process's logging is put back afterwards.
    structlog_config, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, list(args), env=env)
    finally:
        get_settings.cache_clear()
        structlog.configure(**structlog_config)
        root.handlers[:], root.level = handlers, level


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


def routedesk_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEDESK_")}
    env.update(ROUTEDESK_DATABASE_URL=settings.database_url, ROUTEDESK_DATA_DIR=str(settings.data_dir), **extra)
    return env


async def run_routedesk(settings: Settings, *args: str, **env: str) -> Completed:
    """The real `routedesk` command in a subprocess, awaited without blocking the test's event loop (which
    may be running the IMAP or SMTP server the command talks to)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        cwd=REPO,
        env=routedesk_env(settings, **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(300):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return Completed(proc.returncode, out.decode(), err.decode())
