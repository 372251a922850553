"""Run Alembic from code, so that `routedesk db upgrade` works from an installed package too."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


# env.py runs its own event loop, so async callers give it a thread of its own.
async def upgrade_async(database_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), revision)


async def downgrade_async(database_url: str, revision: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), revision)


# Indexes on expressions, which Alembic compares as text and so always reports as changed (PostgreSQL)
# or cannot reflect at all (SQLite). Autogenerate leaves them alone; tests/test_migrations.py checks
# each one directly.
EXPRESSION_INDEXES = frozenset({"ix_ticket_claim_order"})


def include_object(_obj: object, name: str | None, type_: str, _reflected: bool, _compare_to: object) -> bool:
    return not (type_ == "index" and name in EXPRESSION_INDEXES)
