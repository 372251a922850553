"""A database that cannot be used, or a bad setting, is one line on stderr and exit code 2, from every
command: the URL without its password, and the cause. The real command in a subprocess for the first
URL of each command (what a real process's logging and tracebacks print must not hold the password) and
for each bad setting; in-process (tests/cli.py `invoke_env`) for the other URLs, whose causes the
command's own error handling tells apart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.cli import cli_env, invoke_env, run_env

# Every command group, each with the arguments that get it as far as the database.
COMMANDS = [
    ("db", "upgrade"),
    ("mailbox", "list"),
    ("messages", "list", "--failed"),
    ("users", "list"),
    ("models", "list"),
    ("macros", "list"),
    ("train", "--from-tickets"),
    ("poll", "--once"),
    ("worker",),
    ("serve", "--port", "1"),
    ("run", "--port", "1"),
]


def _postgres() -> tuple[str, int]:
    url = os.environ.get("ROUTEDESK_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("ROUTEDESK_TEST_POSTGRES_URL not set")
    parsed = make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_an_unusable_database_is_one_line_naming_the_url_without_password(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    host, port = _postgres()
    cases = [
        (f"postgresql://routedesk:s3cret-pw@{host}:1/routedesk", "ConnectionRefusedError"),
        (f"postgresql://no_such_role_rd:s3cret-pw@{host}:{port}/test", 'role "no_such_role_rd" does not exist'),
        (f"sqlite:///{tmp_path}/missing-folder/routedesk.db", "missing-folder"),
    ]
    for i, (url, cause) in enumerate(cases):
        result = (run_env if i == 0 else invoke_env)(cli_env(url, tmp_path / "data"), *command)
        assert result.returncode == 2, (url, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (url, result.stderr)
        assert lines[0].startswith("error: "), lines
        assert cause in lines[0], lines
        assert make_url(url).render_as_string(hide_password=True).split("://", 1)[1] in lines[0], lines
        assert "s3cret-pw" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("ROUTEDESK_DATABASE_URL", "mysql://root:s3cret-pw@db/routedesk", "ROUTEDESK_DATABASE_URL"),
        ("ROUTEDESK_IMAP__CONNECT_TIMEOUT", "-1", "ROUTEDESK_IMAP__CONNECT_TIMEOUT"),
        ("ROUTEDESK_INGEST__AFTER_INGEST", "s3cret-pw", "ROUTEDESK_INGEST__AFTER_INGEST"),
        ("ROUTEDESK_SECRET_KEY", "s3cret-pw", "ROUTEDESK_SECRET_KEY"),
    ],
)
def test_a_configuration_mistake_is_one_line_naming_the_setting(
    variable: str, value: str, named: str, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path}/routedesk.db"
    assert invoke_env(cli_env(database, tmp_path / "data"), "db", "upgrade").returncode == 0
    result = run_env(cli_env(database, tmp_path / "data", **{variable: value}), "mailbox", "list")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert "s3cret-pw" not in result.stderr
