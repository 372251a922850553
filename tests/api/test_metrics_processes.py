"""`routedesk serve --workers 2` in a subprocess: every scrape, whichever process answers it, sums the
requests of both processes (prometheus_client's multiprocess mode, in a directory serve makes and
removes)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.db import utcnow
from app.health.heartbeat import beat_once
from app.metrics import WorkerMetrics
from app.ports import free_port
from app.runtime import Runtime
from tests.api.desk import sqlite_only
from tests.api.server import serve_processes

TOKEN = "scrape-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _healthz(port: int) -> int:
    # A connection of its own, so that the kernel hands it to either process.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        return (await client.get("/healthz")).status_code


@sqlite_only
async def test_serve_with_two_workers_sums_both_processes_in_every_scrape(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    # A worker elsewhere sent one message: its counts come from its heartbeat row, once.
    worker = WorkerMetrics()
    worker.sent.inc()
    await beat_once(runtime.sessionmaker, worker_id="elsewhere", process="worker", metrics=worker, now=utcnow())
    port = free_port()
    shared = Path(settings.data_dir).resolve() / "metrics" / f"serve-{port}"
    shared.mkdir(parents=True)
    (shared / "counter_999999.db").write_bytes(b"a previous run's file")  # emptied at start
    log = (tmp_path / "serve.log").open("wb")
    server = serve_processes(settings, port, log, 2, ROUTEDESK_METRICS__TOKEN=TOKEN)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            # Generous: each process imports the app (scikit-learn included), slow on a loaded machine.
            async with asyncio.timeout(180):
                while True:  # until both processes have started their app
                    assert server.poll() is None, (tmp_path / "serve.log").read_text()
                    try:
                        response = await client.get("/metrics", headers=AUTH)
                        if (
                            response.status_code == 200
                            and _samples(response.text)[("routedesk_http_processes", ())] == 2
                        ):
                            break
                    except (httpx.TransportError, KeyError):
                        pass
                    await asyncio.sleep(0.2)
            assert not (shared / "counter_999999.db").exists()
            assert await asyncio.gather(*(_healthz(port) for _ in range(30))) == [200] * 30
            healthz = ("routedesk_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))
            for _ in range(6):  # on new connections: either process answers, each with the sum of both
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as scraper:
                    response = await scraper.get("/metrics", headers=AUTH)
                assert response.status_code == 200
                assert _samples(response.text)[healthz] == 30
                assert _samples(response.text)[("routedesk_outbox_sent_total", ())] == 1
                assert response.text.count("# TYPE routedesk_outbox_sent") == 1  # not the API processes' own too
            assert (await client.get("/metrics")).status_code == 401
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert not shared.exists()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
