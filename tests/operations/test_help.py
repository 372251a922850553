"""Every command, subcommand, argument and option says what it is for; `--version` names the release
(the real command in a subprocess: what the installed entry point prints)."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

import typer

from app.cli import cli
from tests.cli import cli_env, run_env


def _undocumented(command: Any, path: list[str]) -> list[str]:
    missing = [] if command.help else [f"command {' '.join(path)}"]
    missing += [f"{' '.join(path)} {p.name}" for p in command.params if not getattr(p, "help", None)]
    for name, sub in getattr(command, "commands", {}).items():
        missing += _undocumented(sub, [*path, name])
    return missing


def test_every_command_and_option_has_help_text() -> None:
    assert _undocumented(typer.main.get_command(cli), ["routedesk"]) == []


def test_version_prints_the_installed_package_version(tmp_path: Path) -> None:
    result = run_env(cli_env(f"sqlite:///{tmp_path}/none.db", tmp_path), "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"routedesk {version('routedesk')}"
