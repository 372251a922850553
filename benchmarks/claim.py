"""Claim benchmark: agents claim and solve tickets, all at once, through a running `routedesk serve`.

Usage:
    python benchmarks/claim.py [--db postgresql|sqlite] [--agents 50] [--tickets 8000] [--duration 10]
                               [--servers 1] [--workers 1] [--pool-size N] [--profile FILE]

It seeds a database of its own (areas with routing rules, one agent user and token per agent, tickets
made by ingesting generated mail), starts `routedesk serve` as subprocesses (uvicorn; several with
--servers, each on its own port, agents spread over them: the API is stateless; --workers for
`serve --workers`, processes sharing one port), waits for /readyz,
then runs the agents for --duration seconds after a short warm-up. Each agent works one area: claim
the most urgent ticket, solve it, claim the next, until time is up or its queue is empty.

Measured on the client (plain keep-alive HTTP/1.1 on asyncio streams, so that the load generator costs
little of the CPU it shares with the server), per claim request: latency (p50, p99) and claims per
second, counting claims sent in the measured window. Afterwards the database is read back: a ticket
claimed twice, or a claim answered for a ticket whose stored assignee is someone else, is a double
assignment; there must be none (exit status 1 otherwise). On Linux it also reads, from /proc, the CPU
time the server processes, PostgreSQL and the load generator spent in the measured window, per claim.

PostgreSQL comes from ROUTEDESK_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test):
a new database is created for the run and dropped after. The last line printed is a JSON object.
Targets (PostgreSQL): >= 400 claims/s, p99 <= 100 ms, 0 double assignments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db import unit_of_work  # noqa: E402
from app.inbox import ingest  # noqa: E402
from app.inbox.parsing import prepare  # noqa: E402
from app.migrate import upgrade_async  # noqa: E402
from app.ports import free_port  # noqa: E402
from app.routing import service as routing  # noqa: E402
from app.routing.schemas import AreaCreate, RuleCreate  # noqa: E402
from app.runtime import open_runtime  # noqa: E402
from app.tickets.models import Ticket, TicketEvent  # noqa: E402
from app.users import service as users  # noqa: E402
from app.users.models import User  # noqa: E402

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
AREAS = ["payouts", "chargebacks", "onboarding", "api"]
TARGET_CLAIMS_PER_S = 400
TARGET_P99_MS = 100


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def customer_mail(i: int, area: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {i} <customer{i}@{area}.example>"
    msg["To"] = "support@routedesk.example"
    msg["Subject"] = f"Question {i} about {area}"
    msg["Message-ID"] = f"<bench-{i}@{area}.example>"
    msg.set_content(f"Hello, this is question {i} about {area}. Could you look into it? Thanks.")
    return msg.as_bytes()


async def pg_admin(base_url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(base_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def seed(settings: Settings, *, agents: int, tickets: int) -> list[tuple[str, str, str]]:
    """Areas routed by sender domain, agents with tokens, tickets through ingestion.
    Returns (name, token, area) per agent."""
    await upgrade_async(settings.database_url)
    async with open_runtime(settings) as runtime:
        async with unit_of_work(runtime.sessionmaker) as session:
            for area in AREAS:
                await routing.create_area(session, AreaCreate(name=area, acknowledge=False))
                await routing.create_rule(
                    session, RuleCreate(kind="sender_domain", pattern=f"{area}.example", area=area)
                )
            team = []
            for i in range(agents):
                name = f"agent{i:02d}"
                _user, token = await users.create_user(
                    session, name=name, email=f"{name}@routedesk.example", role="agent"
                )
                team.append((name, token, AREAS[i % len(AREAS)]))
        async with unit_of_work(runtime.sessionmaker) as session:
            await runtime.router.refresh(session, force=True)
        source = ingest.Source(mailbox_id=None, uidvalidity=None)
        for start in range(0, tickets, 500):
            batch = [
                prepare(customer_mail(i, AREAS[i % len(AREAS)]), None, max_attachment_bytes=1024)
                for i in range(start, min(tickets, start + 500))
            ]
            async with unit_of_work(runtime.sessionmaker) as session:
                await ingest.ingest_batch(session, batch, source=source, settings=settings, router=runtime.router)
        return team


async def audit(settings: Settings, told: list[tuple[int, str]]) -> dict[str, int]:
    """Double assignments, read back from the database: tickets claimed more than once, and claims
    whose ticket is stored as someone else's."""
    async with open_runtime(settings) as runtime, unit_of_work(runtime.sessionmaker) as session:
        claimed_twice = int(
            await session.scalar(
                select(func.count()).select_from(
                    select(TicketEvent.ticket_id)
                    .where(TicketEvent.kind == "claimed")
                    .group_by(TicketEvent.ticket_id)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
            or 0
        )
        stored = dict(
            (await session.execute(select(Ticket.id, User.name).join(User, User.id == Ticket.assignee_id))).all()
        )
    told_twice = sum(1 for n in Counter(ticket for ticket, _agent in told).values() if n > 1)
    mismatched = sum(1 for ticket, agent in told if stored.get(ticket) != agent)
    return {"claimed_twice_in_db": claimed_twice, "answered_twice": told_twice, "assignee_mismatch": mismatched}


def cpu_seconds(pids: list[int] | None = None, command: str | None = None) -> float:
    """CPU time (user + system) used so far by these processes, or by every process named `command`
    (Linux /proc; 0 elsewhere). Sampled around the measured window, it tells where the CPU went."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    proc = Path("/proc")
    if pids is None:
        pids = []
        for entry in proc.iterdir() if proc.is_dir() else ():
            with contextlib.suppress(OSError):
                if entry.name.isdigit() and (entry / "comm").read_text().strip() == command:
                    pids.append(int(entry.name))
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def with_children(pids: list[int]) -> list[int]:
    """These processes and their children (the workers of `serve --workers`)."""
    found = list(pids)
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def start_server(
    env: dict[str, str], port: int, log: Path, profile: str | None, workers: int = 1
) -> subprocess.Popen[bytes]:
    prefix = ["-m", "cProfile", "-o", profile] if profile else []
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                *prefix,
                "-m",
                "app.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(90):
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"routedesk serve exited with {process.returncode}")
            try:
                if (await client.get(f"{base}/readyz", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, claims in the measured window
    solve_latencies: list[float] = field(default_factory=list)
    told: list[tuple[int, str]] = field(default_factory=list)  # (ticket, agent) for every 200 claim
    errors: Counter[str] = field(default_factory=Counter)
    claims: int = 0
    empty: int = 0


class Connection:
    """One agent's keep-alive HTTP/1.1 connection. A few lines of asyncio streams instead of an HTTP
    client library: on a two-core machine the load generator shares the CPU with the server under test,
    and httpx would spend more of it per request than the server does."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.auth = f"Authorization: Bearer {token}\r\n"
        self.method = "POST"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"{self.method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        content = await self.reader.readexactly(length)
        if close:
            await self.close()
        return int(status_line.split()[1]), content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.writer = None


async def agent_loop(
    connection: Connection, name: str, area: str, tally: Tally, measure_from: float, stop_at: float
) -> None:
    try:
        while (now := time.perf_counter()) < stop_at:
            status, content = await connection.post(f"/api/v1/queues/{area}/claim")
            latency = time.perf_counter() - now
            if status == 404:
                tally.empty += 1
                return  # this agent's queue is empty
            if status != 200:
                tally.errors[f"claim {status}"] += 1
                continue
            ticket_id = json.loads(content)["id"]
            tally.told.append((ticket_id, name))
            if now >= measure_from:
                tally.claims += 1
                tally.latencies.append(latency)
            started = time.perf_counter()
            status, _ = await connection.post(f"/api/v1/tickets/{ticket_id}/status", b'{"status": "solved"}')
            if status != 200:
                tally.errors[f"solve {status}"] += 1
            elif now >= measure_from:
                tally.solve_latencies.append(time.perf_counter() - started)
    finally:
        await connection.close()


async def load(
    ports: list[int], team: list[tuple[str, str, str]], *, warmup: float, duration: float, server_pids: list[int]
) -> tuple[Tally, float, dict[str, float]]:
    """Run the agents; returns the tally, the measured seconds and the CPU seconds each party used in them."""
    tally = Tally()
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration
    cpu: dict[str, float] = {}

    async def sample_cpu() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        server_pids[:] = with_children(server_pids)
        before = (cpu_seconds(server_pids), cpu_seconds(command="postgres"), time.process_time())
        await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
        after = (cpu_seconds(server_pids), cpu_seconds(command="postgres"), time.process_time())
        cpu.update(
            zip(("server", "postgres", "client"), (b - a for a, b in zip(before, after, strict=True)), strict=True)
        )

    sampler = asyncio.create_task(sample_cpu())
    await asyncio.gather(
        *(
            agent_loop(Connection("127.0.0.1", ports[i % len(ports)], token), name, area, tally, measure_from, stop_at)
            for i, (name, token, area) in enumerate(team)
        )
    )
    ended = time.perf_counter()
    if not sampler.done():  # the queues ran dry before the end: no CPU figures for a partial window
        sampler.cancel()
    return tally, max(1e-9, min(ended, stop_at) - measure_from), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--tickets", type=int, default=8000)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds, after the warm-up")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--servers", type=int, default=1, help="`routedesk serve` processes, each on its own port")
    parser.add_argument("--workers", type=int, default=1, help="worker processes of each `routedesk serve`")
    parser.add_argument("--pool-size", type=int, help="ROUTEDESK_DATABASE_POOL_SIZE of each server process")
    parser.add_argument("--profile", help="write a cProfile of the (first) server process to this file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="routedesk-claim-"))
    pg_base, pg_name = os.environ.get("ROUTEDESK_BENCH_POSTGRES_URL", DEFAULT_PG), None
    if args.db == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    else:
        pg_name = f"routedesk_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(pg_admin(pg_base, f'CREATE DATABASE "{pg_name}"'))
        url = pg_base.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{pg_name}"
    settings = Settings(database_url=url, data_dir=workdir / "data", ingest={"parse_workers": 0})
    servers: list[subprocess.Popen[bytes]] = []
    try:
        started = time.perf_counter()
        team = asyncio.run(seed(settings, agents=args.agents, tickets=args.tickets))
        print(
            f"seeded {args.tickets} tickets in {len(AREAS)} areas and {args.agents} agents "
            f"({args.db}) in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEDESK_")}
        env.update(ROUTEDESK_DATABASE_URL=url, ROUTEDESK_DATA_DIR=str(settings.data_dir), ROUTEDESK_LOG_LEVEL="warning")
        if args.pool_size:
            env["ROUTEDESK_DATABASE_POOL_SIZE"] = str(args.pool_size)
        ports = [free_port() for _ in range(args.servers)]
        servers = [
            start_server(env, port, workdir / f"serve-{port}.log", args.profile if i == 0 else None, args.workers)
            for i, port in enumerate(ports)
        ]
        bases = [f"http://127.0.0.1:{port}" for port in ports]

        async def run() -> tuple[Tally, float, dict[str, float]]:
            await asyncio.gather(*(wait_ready(base, process) for base, process in zip(bases, servers, strict=True)))
            return await load(
                ports, team, warmup=args.warmup, duration=args.duration, server_pids=[p.pid for p in servers]
            )

        tally, elapsed, cpu = asyncio.run(run())
        for process in servers:
            process.send_signal(signal.SIGINT)
        for process in servers:
            process.wait(timeout=30)
        checks = asyncio.run(audit(settings, tally.told))
    finally:
        for process in servers:
            if process.poll() is None:
                process.kill()
        if pg_name:
            asyncio.run(pg_admin(pg_base, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        shutil.rmtree(workdir, ignore_errors=True)

    latencies = sorted(tally.latencies)
    solves = sorted(tally.solve_latencies)
    doubles = checks["claimed_twice_in_db"] + checks["answered_twice"] + checks["assignee_mismatch"]
    result: dict[str, Any] = {
        "benchmark": "claim",
        "db": args.db,
        "agents": args.agents,
        "servers": args.servers,
        "workers": args.workers,
        "measured_s": round(elapsed, 2),
        "claims": tally.claims,
        "claims_per_s": round(tally.claims / elapsed, 1),
        "claim_p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "claim_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "solve_p50_ms": round(percentile(solves, 0.50) * 1000, 1),
        "solve_p99_ms": round(percentile(solves, 0.99) * 1000, 1),
        # CPU milliseconds per claim (a claim and a solve: two requests), by who spent them
        **{f"cpu_ms_per_claim_{who}": round(1000 * seconds / max(1, tally.claims), 2) for who, seconds in cpu.items()},
        "double_assignments": doubles,
        **checks,
        "queues_emptied": tally.empty,
        "errors": dict(tally.errors),
    }
    result["targets_met"] = (
        result["claims_per_s"] >= TARGET_CLAIMS_PER_S and result["claim_p99_ms"] <= TARGET_P99_MS and doubles == 0
    )
    print(
        f"{args.db}: {result['claims']} claims in {elapsed:.1f} s = {result['claims_per_s']} claims/s; "
        f"claim latency p50 {result['claim_p50_ms']} ms, p99 {result['claim_p99_ms']} ms "
        f"(target >= {TARGET_CLAIMS_PER_S}/s, p99 <= {TARGET_P99_MS} ms); "
        f"solve p50 {result['solve_p50_ms']} ms; double assignments: {doubles}; errors: {dict(tally.errors)}"
    )
    if cpu:
        print(
            "CPU ms per claim and solve: "
            + ", ".join(f"{who} {1000 * seconds / max(1, tally.claims):.2f}" for who, seconds in cpu.items())
        )
    if tally.empty:
        print(f"warning: {tally.empty} agents found their queue empty before the end: raise --tickets", file=sys.stderr)
    print(json.dumps(result), flush=True)
    if doubles:
        sys.exit(1)


if __name__ == "__main__":
    main()
