"""The analysts' PostgreSQL role: it logs in and reads the report views (migration 0009) and nothing
else: no table (so no raw mail, no user or token rows, no mailbox secrets), no writes, nothing created.

A view reads its tables with its owner's rights (PostgreSQL's default, `security_invoker` off), so
SELECT on the three views is all the role is granted. What PUBLIC holds, every role holds, so the
command also takes from PUBLIC the two things a fresh PostgreSQL 15 database still gives it beyond
reading the catalogs: TEMPORARY on the database, and CREATE on the schema when the database was
upgraded from before 15. The role running the command is granted both itself first, so the
application's own role keeps what it had.

The password reaches the server only as a SCRAM-SHA-256 verifier computed here (as psql's
\\password does): never the password itself, so not in the server's statement log either."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import create_engine, is_sqlite
from app.errors import InvalidInput

ANALYST_VIEWS = ("ticket_facts", "reply_facts", "sla_events")
# What marks a role this command made: it only ever changes a role that carries it.
MARK = "routedesk analyst: reads the report views only"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_PASSWORD = re.compile(r"[\x20-\x7e]{12,200}")
_SCRAM_ITERATIONS = 4096
_RESERVED = frozenset({"public", "none", "current_user", "session_user", "current_role"})


SQLITE_REFUSAL = "analyst roles are PostgreSQL's: on SQLite whoever can read the database file reads all of it"


class AnalystRoleRefused(InvalidInput):
    """Bad input or a setup the command will not touch: one line, and nothing changed."""


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name.startswith("pg_") or name in _RESERVED:
        raise AnalystRoleRefused(
            f"{name!r} is not a role name this command makes: lower-case letters, digits and _, "
            "starting with a letter or _, at most 63 characters, not starting with pg_ nor a reserved name"
        )
    return name


def check_password(password: str) -> str:
    # Printable ASCII: PostgreSQL's SASLprep leaves it as it is, so the verifier made here is the one
    # the server would make.
    if not _PASSWORD.fullmatch(password):
        raise AnalystRoleRefused("the password must be 12 to 200 printable ASCII characters")
    return password


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = _SCRAM_ITERATIONS) -> str:
    """PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802, 7677)."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


@dataclass(frozen=True, slots=True)
class AnalystRole:
    name: str
    created: bool  # False: an analyst role made before, brought back to exactly this
    views: tuple[str, ...]


_DEFAULT_KINDS = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES", "n": "SCHEMAS"}


def _literal(value: str) -> str:
    # Only for text made here (the verifier, the mark): never quotes, backslashes or control characters.
    assert re.fullmatch(r"[A-Za-z0-9+/=$:. _-]*", value), "not a literal this module makes"
    return f"'{value}'"


async def ensure_analyst_role(database_url: str, name: str, *, password: str) -> AnalystRole:
    """Create the role, or bring an analyst role made before back to exactly this (the password
    replaced): idempotent. Refused on SQLite, for a name that is not a plain identifier, for an
    existing role this command did not make, and while the views are missing or read as the invoker."""
    if is_sqlite(database_url):
        raise AnalystRoleRefused(SQLITE_REFUSAL)
    check_name(name)
    check_password(password)
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            return await _ensure(conn, name, scram_verifier(password))
    finally:
        await engine.dispose()


async def _ensure(conn: AsyncConnection, name: str, verifier: str) -> AnalystRole:
    quote = conn.dialect.identifier_preparer.quote_identifier
    database, schema, me = (await conn.execute(text("SELECT current_database(), current_schema(), current_user"))).one()
    views = {
        row.relname: row.reloptions or []
        for row in await conn.execute(
            text(
                "SELECT c.relname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind = 'v' AND n.nspname = :schema AND c.relname = ANY(:views)"
            ),
            {"schema": schema, "views": list(ANALYST_VIEWS)},
        )
    }
    missing = [v for v in ANALYST_VIEWS if v not in views]
    if missing:
        raise AnalystRoleRefused(f"the views {', '.join(missing)} are missing: run `routedesk db upgrade` first")
    invoker = [v for v, options in views.items() if any(o.lower() == "security_invoker=true" for o in options)]
    if invoker:
        # Such a view reads its tables as the analyst, who may read no table: it would show nothing.
        raise AnalystRoleRefused(f"the views {', '.join(sorted(invoker))} read as their invoker (security_invoker)")
    existing = (
        await conn.execute(
            text("SELECT shobj_description(oid, 'pg_authid') AS mark FROM pg_roles WHERE rolname = :name"),
            {"name": name},
        )
    ).first()
    if existing is not None and existing.mark != MARK:
        raise AnalystRoleRefused(f"a role named {name} exists and was not made by this command: choose another name")
    if name == me:
        raise AnalystRoleRefused("the role running this command cannot be made an analyst role")
    role, db, space = quote(name), quote(database), quote(schema)
    attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS"
    verb = "CREATE" if existing is None else "ALTER"
    statements = [
        f"{verb} ROLE {role} WITH {attributes} PASSWORD {_literal(verifier)}",
        f"COMMENT ON ROLE {role} IS {_literal(MARK)}",
        # Defence in depth (a session may turn it off; the grants below are what holds).
        f"ALTER ROLE {role} SET default_transaction_read_only = on",
    ]
    # Whatever it was given since, in this database: back to nothing, then the views alone.
    memberships = await conn.execute(
        text(
            "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
            " JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = :name"
        ),
        {"name": name},
    )
    statements += [f"REVOKE {quote(group)} FROM {role}" for (group,) in memberships]
    schemas = [
        s
        for (s,) in await conn.execute(
            text("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'")
        )
    ]
    for other in schemas:
        statements += [
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {quote(other)} FROM {role}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {quote(other)} FROM {role}",
            f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {quote(other)} FROM {role}",
            f"REVOKE ALL ON SCHEMA {quote(other)} FROM {role}",
        ]
    # Default privileges someone gave the role on objects not made yet: taken back as well.
    defaults = await conn.execute(
        text(
            "SELECT pg_get_userbyid(d.defaclrole) AS owner, n.nspname AS schema, d.defaclobjtype::text AS kind"
            " FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace,"
            " aclexplode(d.defaclacl) a WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = :name)"
        ),
        {"name": name},
    )
    for owner, in_schema, kind in defaults:
        where = f" IN SCHEMA {quote(in_schema)}" if in_schema is not None else ""
        statements.append(
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {quote(owner)}{where} REVOKE ALL ON {_DEFAULT_KINDS[kind]} FROM {role}"
        )
    statements += [
        f"REVOKE ALL ON DATABASE {db} FROM {role}",
        # Taken from PUBLIC, which every role is in; the role running this keeps them by a grant of its own.
        f"GRANT TEMPORARY ON DATABASE {db} TO {quote(me)}",
        f"REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC",
        f"GRANT CREATE ON SCHEMA {space} TO {quote(me)}",
        f"REVOKE CREATE ON SCHEMA {space} FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {db} TO {role}",
        f"GRANT USAGE ON SCHEMA {space} TO {role}",
        f"GRANT SELECT ON {', '.join(f'{space}.{quote(v)}' for v in ANALYST_VIEWS)} TO {role}",
    ]
    for statement in statements:
        await conn.exec_driver_sql(statement)
    return AnalystRole(name=name, created=existing is None, views=ANALYST_VIEWS)
