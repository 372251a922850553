"""`users list` and `macros list | add | import`: in-process (tests/cli.py `invoke_env`), but for
`users list` and the first `macros list`, the real command in a subprocess (the groups' smoke tests of
the real entry point; a real process's output holds no token)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import cli_env, invoke_env, run_env


def test_users_list_prints_users_as_json_lines_without_tokens(sqlite_url: str, tmp_path: Path) -> None:
    env = cli_env(sqlite_url, tmp_path / "data")
    added = invoke_env(env, "users", "add", "ana", "--email", "Ana@Example.com", "--role", "admin")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    result = run_env(env, "users", "list")
    assert result.returncode == 0, result.stderr
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert {k: v for k, v in row.items() if k != "created"} == {
        "name": "ana",
        "email": "ana@example.com",
        "role": "admin",
        "active": True,
    }
    assert row["created"]
    assert token not in result.stdout and "hash" not in result.stdout


def test_macros_add_import_and_list(sqlite_url: str, tmp_path: Path) -> None:
    env = cli_env(sqlite_url, tmp_path / "data")
    file = tmp_path / "macros.jsonl"
    file.write_text(
        json.dumps({"title": "Refund timing", "body": "Hello {customer_first_name}, 5 to 10 days.", "area": None})
        + "\n"
        + json.dumps({"title": "Password reset", "body": "Use the link on the sign-in page."})
        + "\n"
    )
    added = invoke_env(env, "macros", "add", "Greeting", "--body", "Hello {customer_first_name},")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["title"] == "Greeting"
    imported = invoke_env(env, "macros", "import", str(file))
    assert imported.returncode == 0, imported.stderr
    assert "2 macros imported" in imported.stdout
    listed = run_env(env, "macros", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["title"] for r in rows] == ["Greeting", "Refund timing", "Password reset"]
    assert rows[1]["body"] == "Hello {customer_first_name}, 5 to 10 days."


def test_macros_import_is_all_or_nothing_and_names_the_bad_entry(sqlite_url: str, tmp_path: Path) -> None:
    env = cli_env(sqlite_url, tmp_path / "data")
    file = tmp_path / "macros.jsonl"
    file.write_text(
        json.dumps({"title": "Fine", "body": "A good one."})
        + "\n"
        + json.dumps({"title": "Nowhere", "body": "Text.", "area": "no_such_area"})
        + "\n"
    )
    result = invoke_env(env, "macros", "import", str(file))
    assert result.returncode == 1
    assert "entry 2" in result.stderr and "no_such_area" in result.stderr
    assert invoke_env(env, "macros", "list").stdout == ""
