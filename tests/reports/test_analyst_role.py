"""`routedesk db analyst-role NAME`, the real command, and then PostgreSQL as that role: it reads the
three views and is refused every table (message.raw and user among them), every write and everything
that creates; run again, it still works, and what it was given since is taken back. Each test's role
has a name of its own (roles are the cluster's, not the database's) and is dropped after it."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.migrate import downgrade_async, upgrade_async
from app.reports.analysts import ANALYST_VIEWS, MARK, ensure_analyst_role, scram_verifier
from tests.operations.cli import cli_env, routedesk

PG = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
PASSWORD = "correct-horse-battery-staple"


def _dsn(database_url: str, user: str | None = None) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    if user is not None:
        url = url.set(username=user, password=None)
    return url.render_as_string(hide_password=False)


async def as_admin(database_url: str, *statements: str) -> None:
    admin = await asyncpg.connect(_dsn(database_url))
    try:
        for statement in statements:
            await admin.execute(statement)
    finally:
        await admin.close()


async def stored_password(database_url: str, name: str) -> str:
    admin = await asyncpg.connect(_dsn(database_url))
    try:
        return str(await admin.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = $1", name))
    finally:
        await admin.close()


def same_verifier(password: str, verifier: str) -> str:
    """Our verifier of `password` with the salt and iterations `verifier` has."""
    rounds, salt = verifier.split("$")[1].split(":")
    return scram_verifier(password, salt=base64.b64decode(salt), iterations=int(rounds))


@pytest.fixture
async def role_name(database_url: str) -> AsyncIterator[str]:
    name = f"analyst_{uuid.uuid4().hex[:10]}"
    yield name
    admin = await asyncpg.connect(_dsn(database_url))
    try:
        if await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name):
            await admin.execute(f'DROP OWNED BY "{name}"')  # its grants in this database
            await admin.execute(f'DROP ROLE "{name}"')
    finally:
        await admin.close()


def _make_role(database_url: str, tmp_path: Path, name: str, password: str = PASSWORD) -> str:
    done = routedesk(
        cli_env(database_url, tmp_path), "db", "analyst-role", name, "--password-stdin", stdin=password + "\n"
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _tables(database_url: str) -> list[str]:
    admin = await asyncpg.connect(_dsn(database_url))
    try:
        return [
            r["tablename"] for r in await admin.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
    finally:
        await admin.close()


async def _refused(conn: asyncpg.Connection, statement: str) -> bool:
    try:
        await conn.execute(statement)
    except (asyncpg.InsufficientPrivilegeError, asyncpg.ReadOnlySQLTransactionError):
        return True
    return False


async def _check_reads_views_only(database_url: str, name: str) -> None:
    tables = await _tables(database_url)
    assert {"message", "user", "mailbox", "outbox", "ticket", "sla_clock"} <= set(tables)
    conn = await asyncpg.connect(_dsn(database_url, name))
    try:
        assert await conn.fetchval("SELECT current_user") == name
        for view in ANALYST_VIEWS:
            assert await conn.fetchval(f"SELECT count(*) FROM {view}") == 0, view  # readable, and empty here
        assert await _refused(conn, "SELECT raw FROM message")
        assert await _refused(conn, 'SELECT token_hash FROM "user"')
        refused_tables = [t for t in tables if await _refused(conn, f'SELECT * FROM "{t}" LIMIT 1')]
        assert refused_tables == tables
        held = await conn.fetch(
            "SELECT c.relname, p.privilege FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,"
            " unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p(privilege)"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'S', 'p')"
            " AND has_table_privilege(c.oid, p.privilege)"
        )
        assert sorted((r["relname"], r["privilege"]) for r in held) == sorted((v, "SELECT") for v in ANALYST_VIEWS)
        # Writes and creation, with the role's read-only default turned off: the grants alone refuse them.
        await conn.execute("SET default_transaction_read_only = off")
        for statement in [
            "INSERT INTO area (name) VALUES ('analysts')",
            "UPDATE ticket SET status = 'solved'",
            "DELETE FROM sla_event",
            "SELECT nextval('ticket_id_seq')",
            "CREATE TABLE notes (body text)",
            "CREATE TEMP TABLE notes (body text)",
            "CREATE VIEW raw_mail AS SELECT 1 AS one",
            "CREATE SCHEMA analysts",
        ]:
            assert await _refused(conn, statement), statement
    finally:
        await conn.close()


@PG
async def test_the_analyst_role_reads_the_three_views_and_nothing_else(
    database_url: str, role_name: str, tmp_path: Path
) -> None:
    out = _make_role(database_url, tmp_path, role_name)
    assert f"analyst role {role_name} created" in out
    assert PASSWORD not in out
    await _check_reads_views_only(database_url, role_name)


@PG
async def test_running_it_again_keeps_the_role_working_and_takes_back_what_it_was_given_since(
    database_url: str, role_name: str, tmp_path: Path
) -> None:
    _make_role(database_url, tmp_path, role_name)
    await as_admin(
        database_url,
        f'GRANT SELECT ON message TO "{role_name}"',
        f'GRANT pg_read_all_data TO "{role_name}"',
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO "{role_name}"',
        f'ALTER ROLE "{role_name}" CREATEDB',
    )
    out = _make_role(database_url, tmp_path, role_name, password="another-password-now")
    assert f"analyst role {role_name} updated" in out
    await _check_reads_views_only(database_url, role_name)
    admin = await asyncpg.connect(_dsn(database_url))
    try:
        role = await admin.fetchrow(
            "SELECT rolcreatedb, rolcanlogin, rolsuper, shobj_description(oid, 'pg_authid') AS mark"
            " FROM pg_roles WHERE rolname = $1",
            role_name,
        )
        assert dict(role) == {"rolcreatedb": False, "rolcanlogin": True, "rolsuper": False, "mark": MARK}
        await admin.execute("CREATE TABLE later (secret text)")  # a table made after: not the role's either
    finally:
        await admin.close()
    conn = await asyncpg.connect(_dsn(database_url, role_name))
    try:
        assert await _refused(conn, "SELECT * FROM later")
    finally:
        await conn.close()


@PG
async def test_the_password_is_stored_as_the_scram_verifier_postgresql_itself_makes(
    database_url: str, role_name: str, tmp_path: Path
) -> None:
    _make_role(database_url, tmp_path, role_name)
    ours = await stored_password(database_url, role_name)
    assert ours == same_verifier(PASSWORD, ours)
    # The server's own verifier of the same password: ours, with its salt and iterations, equals it.
    await as_admin(
        database_url,
        "SET password_encryption = 'scram-sha-256'",
        f"ALTER ROLE \"{role_name}\" PASSWORD '{PASSWORD}'",
    )
    servers = await stored_password(database_url, role_name)
    assert servers.startswith("SCRAM-SHA-256$") and servers != ours
    assert same_verifier(PASSWORD, servers) == servers


@PG
async def test_without_password_stdin_a_password_is_made_and_printed_once(
    database_url: str, role_name: str, tmp_path: Path
) -> None:
    done = routedesk(cli_env(database_url, tmp_path), "db", "analyst-role", role_name)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("password (shown once): ") and done.stdout.count("password") == 1
    password = lines[-1].removeprefix("password (shown once): ")
    stored = await stored_password(database_url, role_name)
    assert stored == same_verifier(password, stored)


@PG
@pytest.mark.parametrize(
    ("name", "stdin", "says"),
    [
        ('x"; DROP TABLE message; --', PASSWORD, "not a role name"),
        ("Analyst", PASSWORD, "not a role name"),
        ("pg_analyst", PASSWORD, "not a role name"),
        ("public", PASSWORD, "not a role name"),
        ("postgres", PASSWORD, "was not made by this command"),
        ("analyst_short_password", "short", "12 to 200 printable ASCII"),
    ],
)
async def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    database_url: str, tmp_path: Path, name: str, stdin: str, says: str
) -> None:
    done = routedesk(cli_env(database_url, tmp_path), "db", "analyst-role", name, "--password-stdin", stdin=stdin)
    assert done.returncode == 2 and says in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    admin = await asyncpg.connect(_dsn(database_url))
    try:
        assert await admin.fetchval("SELECT to_regclass('message') IS NOT NULL")
        assert not await admin.fetchval(
            "SELECT count(*) FROM pg_roles WHERE shobj_description(oid, 'pg_authid') = $1 AND rolname = $2", MARK, name
        )
        assert await admin.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'")
    finally:
        await admin.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_it_says_why_in_one_line_and_exits_2(database_url: str, tmp_path: Path) -> None:
    done = routedesk(
        cli_env(database_url, tmp_path), "db", "analyst-role", "analyst", "--password-stdin", stdin=PASSWORD
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: analyst roles are PostgreSQL's: on SQLite whoever can read the database file reads all of it"
    ]


@PG
async def test_a_role_made_before_the_fact_table_still_reads_ticket_facts_after_its_migration(
    database_url: str, role_name: str
) -> None:
    """Migration 0011 replaces ticket_facts (now over the table ticket_fact): the grants it had are
    given again, and the table under it is not."""
    await downgrade_async(database_url, "0010")
    await ensure_analyst_role(database_url, role_name, password=PASSWORD)
    await upgrade_async(database_url)
    await _check_reads_views_only(database_url, role_name)
