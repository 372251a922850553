from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.config import Settings, get_settings
from app.console import pages as console_pages
from app.csat import endpoints as csat_api
from app.csat import pages as csat_pages
from app.docs import install_docs
from app.errors import ERROR_RESPONSES, install_error_handlers
from app.health import endpoints as health_api
from app.http import FailedAuthThrottle, GuardedFastAPI
from app.inbox import endpoints as inbox_api
from app.kb import endpoints as kb_api
from app.kb import pages as kb_pages
from app.logs import configure_logging
from app.macros import endpoints as macros_api
from app.metrics import HttpMetrics
from app.replies import endpoints as replies_api
from app.reports import endpoints as reports_api
from app.routing import endpoints as routing_api
from app.runtime import Runtime, open_runtime
from app.sla import endpoints as sla_api
from app.tickets import endpoints as tickets_api
from app.users import endpoints as users_api


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """The HTTP service. Everything it holds is built in the lifespan, never at import."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is not None:
            _attach(app, runtime)
            yield
            return
        own = settings
        if own is None:  # a `serve --workers` process: it configures itself from the environment
            own = get_settings()
            configure_logging(own.log_level, json=own.log_json)
        async with open_runtime(own) as rt:
            _attach(app, rt)
            yield

    app = GuardedFastAPI(  # request limits and hardening headers: app/http.py
        title="Routedesk",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served from the app's own assets by install_docs, below
        redoc_url=None,
        description="Agents' queues, tickets, macro suggestions and replies; admin for areas, mailboxes, "
        "users, macros and routing models. Every route under /api/v1 needs a bearer token.",
    )
    install_error_handlers(app)
    install_docs(app)
    for module in (
        tickets_api,
        routing_api,
        inbox_api,
        users_api,
        macros_api,
        replies_api,
        sla_api,
        reports_api,
        kb_api,
    ):
        app.include_router(module.router, prefix="/api/v1", responses=ERROR_RESPONSES)
    for router in (csat_api.reports_router, csat_api.admin_router):
        app.include_router(router, prefix="/api/v1", responses=ERROR_RESPONSES)
    app.include_router(kb_pages.router)  # the public help centre: no login (app/kb/pages.py)
    app.include_router(csat_pages.router)  # the CSAT survey's pages: no login (app/csat/pages.py)
    console_pages.install(app)  # the agents' web console, with its sign-in redirect (app/console/pages.py)

    # On the app itself, not through an included router: the container check reads them from app.routes.
    for path, endpoint in (
        ("/healthz", health_api.healthz),
        ("/readyz", health_api.readyz),
        ("/metrics", health_api.metrics),
    ):
        app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)
    return app


def _attach(app: FastAPI, runtime: Runtime) -> None:
    app.state.runtime = runtime
    app.state.sessionmaker = runtime.sessionmaker
    app.state.settings = runtime.settings
    app.state.auth_throttle = FailedAuthThrottle.from_settings(runtime.settings.http)
    # The requests counted since the app started serving on this runtime (its lifespan).
    app.state.http_metrics = HttpMetrics()
