"""Prometheus metrics (prometheus_client): what each process counts, how the counts of other processes
reach a scrape, and the HTTP middleware that counts requests.

- The API's own figures (requests by route template and status, their latency) live in `HttpMetrics`,
  one per app. Under `serve --workers N` they are kept in prometheus_client's multiprocess files
  (`PROMETHEUS_MULTIPROC_DIR`, which `serve` sets up) and a scrape sums every process's files.
- What a worker counts (mail ingested and failed, poll errors, IMAP reconnects, send failures,
  classification latency) lives in `WorkerMetrics`, one per process. A worker may run on another host
  than the API, so its counts travel in its heartbeat row (`snapshot`, written by app/health): a
  scrape sums the rows of every worker (`merge`) and, in `routedesk run`, the live counts of its own.
- Figures read from the database at scrape time (queues, outbox backlog) are added by app/health.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
HTTP_PREFIX = "routedesk_http_"  # every family of HttpMetrics, and only those

# Classification of a batch takes from well under a millisecond (rules) to a second (a large model).
_CLASSIFY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Label for a request that matched no route: its raw path would make one series per typo or probe.
UNMATCHED = "(unmatched)"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_ENV) or None


def prepare_multiprocess_dir(path: Path) -> Path:
    """The directory the processes of one `serve --workers N` share, emptied of a previous run's files
    (prometheus_client requires that: stale files would add a dead run's counts to this one's)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


@dataclass
class WorkerMetrics:
    """What one process's pollers and sender count, in a registry of its own (never the global one)."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        r = self.registry
        self.ingested = Counter(
            "routedesk_messages_ingested", "Messages stored from a mailbox", ["mailbox"], registry=r
        )
        self.failed = Counter(
            "routedesk_messages_failed", "Messages stored raw because they could not be parsed", ["mailbox"], registry=r
        )
        self.poll_errors = Counter(
            "routedesk_poll_errors",
            "Failed polls of a mailbox (login, connection, other)",
            ["mailbox"],
            registry=r,
        )
        self.reconnects = Counter(
            "routedesk_imap_reconnects", "IMAP connections made again after a failed one", ["mailbox"], registry=r
        )
        self.sent = Counter("routedesk_outbox_sent", "Outbox messages the SMTP server accepted", registry=r)
        self.send_failures = Counter(
            "routedesk_outbox_send_failures",
            "Sends that failed: temporary (retried) or permanent (shown on the ticket)",
            ["kind"],
            registry=r,
        )
        self.classification = Histogram(
            "routedesk_classification_seconds",
            "Time the router took to decide the areas of one batch of new tickets",
            buckets=_CLASSIFY_BUCKETS,
            registry=r,
        )


@dataclass
class HttpMetrics:
    """The API's requests, one per app. The registry is private; in multiprocess mode the values live
    in the shared files instead, and the scrape reads those."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "routedesk_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "routedesk_http_request_seconds", "HTTP request latency by route template", ["method", "route"], registry=r
        )
        # One per serving process; summed (livesum) across the processes of `serve --workers N`.
        self.processes = Gauge(
            "routedesk_http_processes", "Processes serving the API", registry=r, multiprocess_mode="livesum"
        )
        self.processes.set(1)


# ---------------------------------------------------------------------------------------------------
# A worker's counts as JSON (in its heartbeat row), and their sum over workers.

Snapshot = dict[str, dict[str, Any]]


def snapshot(registry: CollectorRegistry) -> Snapshot:
    """Samples by family: {name: {type, help, samples: [[name, labels, value]]}}. `_created` samples are
    left out: a sum over processes has no creation time."""
    out: Snapshot = {}
    for family in registry.collect():
        samples = [[s.name, dict(s.labels), s.value] for s in family.samples if not s.name.endswith("_created")]
        out[family.name] = {"type": family.type, "help": family.documentation, "samples": samples}
    return out


def merge(snapshots: Iterable[Snapshot]) -> Snapshot:
    """The sum of the snapshots, sample by sample (same name and labels)."""
    families: dict[str, dict[str, Any]] = {}
    sums: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for snap in snapshots:
        for name, family in snap.items():
            families.setdefault(name, {"type": family["type"], "help": family["help"]})
            totals = sums.setdefault(name, {})
            for sample_name, labels, value in family["samples"]:
                key = (sample_name, tuple(sorted(labels.items())))
                totals[key] = totals.get(key, 0.0) + float(value)
    return {
        name: {**families[name], "samples": [[s, dict(labels), v] for (s, labels), v in totals.items()]}
        for name, totals in sums.items()
    }


class SnapshotCollector(Collector):
    """Exposes a (merged) snapshot as metric families."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        for name, family in sorted(self.snap.items()):
            metric = Metric(name, family["help"], family["type"])
            for sample_name, labels, value in family["samples"]:
                metric.add_sample(sample_name, labels, value)
            yield metric


class GaugeCollector(Collector):
    """Gauges read at scrape time: {name: (help, label name or None, {label value or "": value})}."""

    def __init__(self, gauges: dict[str, tuple[str, str | None, dict[str, float]]]) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        for name, (doc, label, values) in self.gauges.items():
            metric = Metric(name, doc, "gauge")
            for label_value, value in sorted(values.items()):
                metric.add_sample(name, {label: label_value} if label else {}, value)
            yield metric


# ---------------------------------------------------------------------------------------------------
# HTTP requests


class RequestMetrics:
    """Pure ASGI, outermost, so that refusals before routing (413, 422) are counted too. The route is
    the template the router matched (`/api/v1/tickets/{ticket_id}`), read from the scope after the app
    ran: never the raw path, so ticket ids never become labels."""

    def __init__(self, app: ASGIApp, metrics: Callable[[], HttpMetrics | None]) -> None:
        self.app = app
        self.metrics = metrics  # the serving runtime's, read per request: set by the app's lifespan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = self.metrics()
        if scope["type"] != "http" or metrics is None:
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets when the app raises before answering
        started = time.perf_counter()

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            route = route_template(scope)
            method = scope.get("method", "")
            method = method if method in _METHODS else "other"
            metrics.requests.labels(method, route, str(status)).inc()
            metrics.latency.labels(method, route).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The template of the route that answered (`/api/v1/tickets/{ticket_id}`), never the raw path.
    The route in the scope knows its own path; a router included under a prefix (`/api/v1`) may hand
    over the route as it was declared, without the prefix: the prefix is then the part of the path
    before what the route's pattern matched (static text the router matched, never an id)."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    pattern = getattr(route, "path_regex", None)
    if not isinstance(template, str) or pattern is None:
        return UNMATCHED
    path: str = scope.get("path", "")
    if pattern.match(path):
        return template
    for i, char in enumerate(path):
        if char == "/" and pattern.match(path[i:]):
            return path[:i] + template
    return template


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
