"""/healthz, /readyz and the Prometheus scrape, /metrics (added to the app by app/main.py). Outside
/api/v1: they take no user token."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import MetricsSettings
from app.db import SessionDep
from app.errors import NotFound, Unauthorized
from app.health import service
from app.metrics import HTTP_PREFIX, GaugeCollector, SnapshotCollector, merge, multiprocess_dir, snapshot
from app.replies import service as replies
from app.runtime import Runtime, RuntimeDep
from app.tickets import service as tickets


async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def readyz(request: Request, runtime: RuntimeDep) -> JSONResponse:
    body: dict[str, Any] = {"database": "ok"}
    try:
        async with runtime.sessionmaker() as session:
            await session.execute(text("SELECT 1"))
            newest = await service.newest_beat(session)
    except Exception as exc:
        body["database"] = f"unavailable: {type(exc).__name__}"
        return JSONResponse(body, status_code=503)
    problem = service.worker_problem(
        newest, now=runtime.clock(), settings=runtime.settings.health, in_process=bool(runtime.workers)
    )
    body["worker"] = problem or ("ok" if newest is not None else "none expected")
    return JSONResponse(body, status_code=503 if problem else 200)


class HttpFamilies(Collector):
    """The API's own families of the multiprocess files. The files hold every metric the processes
    made, the (idle) worker counters of each API process's runtime too: those come from the worker
    heartbeat rows instead, and must not be exposed twice."""

    def __init__(self, source: Collector) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        return (family for family in self.source.collect() if family.name.startswith(HTTP_PREFIX))


def check_scrape_token(settings: MetricsSettings, authorization: str | None) -> None:
    if settings.token is None:
        raise NotFound("metrics are off: set ROUTEDESK_METRICS__TOKEN to scrape them")
    scheme, _, given = (authorization or "").partition(" ")
    # Digests of equal length, compared in constant time: neither the token nor its length leaks.
    expected = hashlib.sha256(settings.token.get_secret_value().encode()).digest()
    if scheme.lower() != "bearer" or not hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(), expected):
        raise Unauthorized("the metrics token is missing or not valid")


async def metrics(request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    check_scrape_token(runtime.settings.metrics, request.headers.get("authorization"))
    registry = CollectorRegistry(auto_describe=True)
    shared = multiprocess_dir()
    if shared is not None:  # `serve --workers N`: every process's requests, from the shared files
        registry.register(HttpFamilies(MultiProcessCollector(None, path=shared)))  # type: ignore[no-untyped-call]
    else:
        registry.register(SnapshotCollector(snapshot(request.app.state.http_metrics.registry)))
    # Workers elsewhere from their heartbeat rows; one in this process (`run`) from its live counts.
    rows = await service.worker_snapshots(session, excluding=runtime.workers)
    live = [snapshot(runtime.metrics.registry)] if runtime.workers else []
    registry.register(SnapshotCollector(merge([*rows, *live])))
    registry.register(GaugeCollector(await _database_gauges(session, runtime)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


Gauges = dict[str, tuple[str, str | None, dict[str, float]]]


async def _database_gauges(session: AsyncSession, runtime: Runtime) -> Gauges:
    now = runtime.clock()
    queues = await tickets.queue_counts(session, now=now)
    gauges: Gauges = {
        "routedesk_queue_open_tickets": ("Open tickets by area (queue depth)", "area", {}),
        "routedesk_queue_unassigned_tickets": ("Open tickets nobody holds, by area", "area", {}),
        "routedesk_queue_breached_tickets": ("Unsolved tickets past their due time, by area", "area", {}),
        "routedesk_queue_at_risk_tickets": ("Unsolved tickets due within the area's warning window", "area", {}),
    }
    for queue in queues:
        gauges["routedesk_queue_open_tickets"][2][queue.area] = queue.open
        gauges["routedesk_queue_unassigned_tickets"][2][queue.area] = queue.unassigned
        gauges["routedesk_queue_breached_tickets"][2][queue.area] = queue.breached
        gauges["routedesk_queue_at_risk_tickets"][2][queue.area] = queue.at_risk
    backlog = await replies.backlog(session)
    gauges["routedesk_outbox_backlog"] = ("Outbox messages not sent yet, by status", "status", dict(backlog))
    newest = await service.newest_beat(session)
    if newest is not None:
        age = {"": max(0.0, (now - newest).total_seconds())}
        gauges["routedesk_worker_heartbeat_age_seconds"] = ("Seconds since the newest worker heartbeat", None, age)
    return gauges
