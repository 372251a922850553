"""Kept for the tests that import it from here: the `routedesk` helpers are tests/cli.py's."""

from __future__ import annotations

from tests.cli import REPO, cli_env
from tests.cli import run_env as routedesk

__all__ = ["REPO", "cli_env", "routedesk"]
