"""Console benchmark: the server time of the queue list, a ticket list and the ticket page with
100,000 tickets in the database.

Usage:
    python benchmarks/console.py [--db sqlite|postgresql|both] [--tickets 100000] [--requests 300]

It fills a database of its own with the reports benchmark's generator (benchmarks/reports.py: tickets
over a year in 10 areas, with their messages, events and SLA clocks, shaped as the real code writes
them), signs an agent in through the console's sign-in form, then times GET /console/queues,
/console/tickets?view=unassigned and /console/tickets/{id} for random tickets, through the app in
process (httpx's ASGI transport: no socket, so the time is the server's, plus httpx's small share).
Target: p99 <= 50 ms for each. The last line printed is a JSON object, with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import reports as generator  # noqa: E402  (benchmarks/reports.py: its seeding)

from app.config import Settings  # noqa: E402
from app.db import unit_of_work  # noqa: E402
from app.main import create_app  # noqa: E402
from app.migrate import upgrade_async  # noqa: E402
from app.runtime import open_runtime  # noqa: E402
from app.tickets.models import Ticket  # noqa: E402
from app.users import service as users  # noqa: E402

TARGET_MS = 50.0
PAGES = ("queues", "unassigned", "ticket")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(url: str, data_dir: Path, requests: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    settings = Settings(database_url=url, data_dir=data_dir, log_level="warning")
    rng = random.Random(7)
    async with open_runtime(settings) as runtime:
        async with unit_of_work(runtime.sessionmaker) as session:
            name = f"bench-{uuid.uuid4().hex[:8]}"  # a kept --sqlite-file already has the last run's
            _user, token = await users.create_user(session, name=name, email=f"{name}@bench.example", role="agent")
            low, high = (await session.execute(select(func.min(Ticket.id), func.max(Ticket.id)))).one()
        app = create_app(runtime=runtime)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
        ):
            form = await client.get("/console/sign-in")
            form_token = re.search(r'name="form_token" value="([^"]+)"', form.text)
            assert form_token is not None
            signed = await client.post("/console/sign-in", data={"token": token, "form_token": form_token.group(1)})
            assert signed.status_code == 303, signed.text
            urls: dict[str, Callable[[], str]] = {
                "queues": lambda: "/console/queues",
                "unassigned": lambda: "/console/tickets?view=unassigned",
                "ticket": lambda: f"/console/tickets/{rng.randint(low, high)}",
            }
            for _ in range(10):  # warm-up: plans, caches, the pool's connection, the templates
                for make in urls.values():
                    assert (await client.get(make())).status_code == 200
            found: dict[str, Any] = {}
            for name, make in urls.items():
                timings = []
                for _ in range(requests):
                    target = make()
                    started = time.perf_counter()
                    response = await client.get(target)
                    timings.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (target, response.status_code)
                found[name] = {
                    "p50_ms": round(statistics.median(timings), 1),
                    "p99_ms": round(percentile(timings, 0.99), 1),
                    "kib": len(response.content) // 1024,
                }
                p50, p99 = found[name]["p50_ms"], found[name]["p99_ms"]
                print(f"  {name:10} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms", flush=True)
    return found


def run_one(db: str, tickets: int, requests: int, workdir: Path, *, reuse: Path | None = None) -> dict[str, Any]:
    pg_base = os.environ.get("ROUTEDESK_BENCH_POSTGRES_URL", generator.DEFAULT_PG)
    pg_name = None
    if db == "sqlite":
        path = reuse or workdir / "console.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        pg_name = f"routedesk_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(generator.pg_admin(pg_base, f'CREATE DATABASE "{pg_name}"'))
        dsn = pg_base.rsplit("/", 1)[0] + f"/{pg_name}"
        url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        if reuse is None or not reuse.exists():
            asyncio.run(upgrade_async(url))
            started = time.perf_counter()
            writer: Any = generator.SqliteWriter(path) if db == "sqlite" else generator.PostgresWriter(dsn)
            counts = asyncio.run(generator.seed(url, writer, tickets))
            print(f"{db}: seeded {counts} in {time.perf_counter() - started:.0f} s", flush=True)
        figures = asyncio.run(measure(url, workdir / f"data-{db}", requests))
    finally:
        if pg_name:
            asyncio.run(generator.pg_admin(pg_base, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
    within = all(figures[p]["p99_ms"] <= TARGET_MS for p in PAGES)
    return {"db": db, "tickets": tickets, **figures, "target_p99_ms": TARGET_MS, "within_target": within}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument(
        "--sqlite-file", type=Path, help="SQLite only: seed this file if it does not exist, else reuse it (kept)"
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="routedesk-console-"))
    try:
        engines = ["postgresql", "sqlite"] if args.db == "both" else [args.db]
        results = [run_one(db, args.tickets, args.requests, workdir, reuse=args.sqlite_file) for db in engines]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps({"benchmark": "console", "load": os.getloadavg(), "results": results}))


if __name__ == "__main__":
    main()
