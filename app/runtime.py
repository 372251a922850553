"""What every process builds once at start: settings, engine, sessions, secrets and the router."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import Depends, Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import create_engine, create_sessionmaker, is_sqlite, shown_url, utcnow
from app.errors import ConfigurationError
from app.kb.cache import HelpCentreCache
from app.links import LinkSigner
from app.macros.cache import SuggestionCache
from app.metrics import WorkerMetrics
from app.migrate import alembic_config
from app.routing.service import Router
from app.secrets import SecretBox, load_secret_box


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    secrets: SecretBox
    router: Router
    suggestions: SuggestionCache = field(default_factory=SuggestionCache)
    help_centre: HelpCentreCache = field(default_factory=HelpCentreCache)
    # What this process's pollers and sender count (app/metrics.py).
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    # The ids of the workers running in this process (`run`): /readyz expects their heartbeat, and a
    # scrape reads their counts live rather than from their heartbeat rows.
    workers: set[str] = field(default_factory=set)
    clock: Callable[[], datetime] = utcnow

    @cached_property
    def links(self) -> LinkSigner:
        """The signer of customers' links (app/links.py), on this runtime's clock (read at each use)."""
        return LinkSigner(self.secrets.derive_key(b"routedesk signed links v1"), clock=lambda: self.clock())


async def schema_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def check_schema(engine: AsyncEngine, database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    current = await schema_revision(engine)
    if current != head:
        raise ConfigurationError(
            f"the database schema is at {current or 'nothing'} but this version needs {head}: "
            "run `routedesk db upgrade`"
        )


@asynccontextmanager
async def open_runtime(settings: Settings, *, check: bool = True) -> AsyncIterator[Runtime]:
    await asyncio.to_thread(Path(settings.data_dir).mkdir, parents=True, exist_ok=True)
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size, existing=True)
    try:
        if check:
            try:
                await check_schema(engine, settings.database_url)
            except OperationalError as exc:
                if not is_sqlite(settings.database_url):
                    raise
                raise ConfigurationError(
                    f"cannot open the database {shown_url(settings.database_url)} ({exc.orig}): "
                    "create it with `routedesk db upgrade`, "
                    "or check the path in ROUTEDESK_DATABASE_URL and its permissions"
                ) from exc
        metrics = WorkerMetrics()
        yield Runtime(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            secrets=load_secret_box(settings),
            router=Router(observe=metrics.classification.observe),
            metrics=metrics,
        )
    finally:
        await engine.dispose()


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_suggestion_cache(runtime: RuntimeDep) -> SuggestionCache:
    return runtime.suggestions


SuggestionCacheDep = Annotated[SuggestionCache, Depends(get_suggestion_cache)]
