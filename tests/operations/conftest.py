from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite database of the test's own: commands in a subprocess cost seconds each, so the
    tests that are about the command, not the engine, run on SQLite alone."""
    path = tmp_path / "routedesk.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"
