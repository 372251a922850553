"""The `routedesk` command run in-process on a test's database, as a user would run it. A subprocess
would spend seconds importing scikit-learn for each command."""

from __future__ import annotations

import logging

import structlog
from typer.testing import CliRunner, Result

from app.cli import cli
from app.config import Settings, get_settings


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
