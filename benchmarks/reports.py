"""Reports benchmark: the summary of a 90-day window and the daily time series over a year of tickets.

Usage:
    python benchmarks/reports.py [--db postgresql|sqlite|both] [--tickets 1000000] [--repeat 3]

It migrates a database of its own (a SQLite file in a temporary folder; a PostgreSQL database it
creates and drops, from ROUTEDESK_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test)
and fills it with --tickets tickets spread over 2025 in 10 areas, with the rows the real code writes
for them, shaped as it writes them: customer, ticket, message (the customer's mail and each reply),
ticket_event (created, claimed, replied, customer_message, status, rerouted) and sla_clock (first
reply, next reply cycles, resolution). Bulk inserts (COPY on PostgreSQL, executemany on SQLite), then
ANALYZE. sla_event rows are not written: no report reads them. Then the reports' fact rows
(`ticket_fact`) by `app/reports/facts.py:refresh`, the lifecycle's own step, in chunks of tickets taken
in creation order (the order a desk writes them in, and the migration's backfill), and ANALYZE again.
With --keep the database stays, to be timed again by --reuse URL (migrated to the head first: a
database seeded before migration 0011 gets its fact rows from the migration's backfill).

Then, timed (best of --repeat, after one warm-up run): `reports.summary` for 90 days (2025-04-01 to
2025-06-29) and `reports.timeseries` per day over the same window for created, backlog,
first_reply_median_minutes and first_reply_compliance: the service calls the API makes, without HTTP.
Targets: <= 1 s on PostgreSQL, <= 5 s on SQLite. The last line printed is a JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import app.models  # noqa: E402, F401
from app.db import Base, create_engine, create_sessionmaker, unit_of_work  # noqa: E402
from app.migrate import upgrade_async  # noqa: E402
from app.reports import facts  # noqa: E402
from app.reports import service as reports  # noqa: E402
from app.reports.repository import Filters  # noqa: E402
from app.reports.schemas import Interval  # noqa: E402
from app.routing import service as routing  # noqa: E402
from app.routing.schemas import AreaCreate  # noqa: E402
from app.tickets.models import Ticket  # noqa: E402
from app.users import service as users  # noqa: E402

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
AREAS = [f"area{i}" for i in range(10)]
AGENTS = 50
CUSTOMERS = 50_000
YEAR = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = (date(2025, 4, 1), date(2025, 6, 29))  # 90 days
SERIES = ("created", "backlog", "first_reply_median_minutes", "first_reply_compliance")
TARGETS = {"postgresql": 1.0, "sqlite": 5.0}
CHUNK = 20_000
TABLES = {t.name: t for t in Base.metadata.sorted_tables}


def full(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    """The row with every column of the table, in the table's order, defaults filled as the ORM would."""
    values = []
    for column in TABLES[table].columns:
        if column.key in row:
            values.append(row[column.key])
        elif column.default is not None and column.default.is_scalar:
            values.append(column.default.arg)  # type: ignore[attr-defined]
        else:
            values.append(None)
    return tuple(values)


class Generator:
    """Tickets with their histories, as the lifecycle would have left them."""

    def __init__(self, area_ids: list[int], agent_ids: list[tuple[int, str]], seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.area_ids = area_ids
        self.agents = agent_ids
        self.ticket_id = self.message_id = self.event_id = self.clock_id = 0

    def customers(self) -> list[tuple[Any, ...]]:
        return [
            full(
                "customer",
                {"id": i, "email": f"c{i}@shop{i % 997}.example", "name": f"Customer {i}", "created_at": YEAR},
            )
            for i in range(1, CUSTOMERS + 1)
        ]

    def chunk(self, count: int) -> dict[str, list[tuple[Any, ...]]]:
        rows: dict[str, list[tuple[Any, ...]]] = {"ticket": [], "message": [], "ticket_event": [], "sla_clock": []}
        for _ in range(count):
            self._ticket(rows)
        return rows

    def _message(self, rows: dict[str, list[Any]], ticket: int, at: datetime, direction: str, customer: int) -> None:
        self.message_id += 1
        n = self.message_id
        raw = f"Message-ID: <m{n}@bench.example>\r\nSubject: Question {ticket}\r\n\r\nHello {n}\r\n".encode()
        rows["message"].append(
            full(
                "message",
                {
                    "id": n,
                    "direction": direction,
                    "mailbox_id": None,
                    "message_id": f"m{n}@bench.example",
                    "raw_sha256": hashlib.sha256(raw).hexdigest(),
                    "raw": raw,
                    "size": len(raw),
                    "parse_status": "ok",
                    "subject": f"Question {ticket}",
                    "from_address": f"c{customer}@shop{customer % 997}.example" if direction == "inbound" else None,
                    "to_addresses": "",
                    "cc_addresses": "",
                    "body_text": f"Hello {n}",
                    "new_text": f"Hello {n}",
                    "headers_text": "",
                    "ticket_id": ticket,
                    "customer_id": customer if direction == "inbound" else None,
                    "created_at": at,
                },
            )
        )

    def _event(self, rows: dict[str, list[Any]], ticket: int, kind: str, at: datetime, actor: str, **data: Any) -> None:
        self.event_id += 1
        rows["ticket_event"].append(
            full(
                "ticket_event",
                {
                    "id": self.event_id,
                    "ticket_id": ticket,
                    "kind": kind,
                    "actor": actor,
                    "data": data,
                    "created_at": at,
                },
            )
        )

    def _clock(
        self,
        rows: dict[str, list[Any]],
        ticket: int,
        metric: str,
        cycle: int,
        target: int,
        started: datetime,
        ended: datetime | None,
        state: str = "fulfilled",
    ) -> None:
        self.clock_id += 1
        due = started + timedelta(minutes=target)
        minutes = (ended - started).total_seconds() / 60 if ended else 0.0
        # A running clock past due was breached by the worker's recorder at its due time.
        breached = due if (ended or NOW) > due else None
        rows["sla_clock"].append(
            full(
                "sla_clock",
                {
                    "id": self.clock_id,
                    "ticket_id": ticket,
                    "metric": metric,
                    "cycle": cycle,
                    "state": state if ended else "running",
                    "target_minutes": target,
                    "business_hours": False,
                    "schedule_id": None,
                    "started_at": started,
                    "running_since": None if ended else started,
                    "due_at": due,
                    "fulfilled_at": ended if state == "fulfilled" else None,
                    "breached_at": breached,
                    "calendar_minutes": minutes,
                    # Business hours are a third of the week's: the shape, not the calendar maths.
                    "business_minutes": minutes * 0.35,
                },
            )
        )

    def _ticket(self, rows: dict[str, list[Any]]) -> None:
        r = self.random
        self.ticket_id += 1
        tid = self.ticket_id
        created = YEAR + timedelta(seconds=r.randrange(365 * 86400))
        area = r.choice(self.area_ids)
        customer = r.randrange(1, CUSTOMERS + 1)
        routed_by = r.choices(("rule", "model", "fallback"), (2, 7, 1))[0]
        priority = r.choices(("low", "normal", "high", "urgent"), (2, 6, 1.5, 0.5))[0]
        assignee: tuple[int, str] | None = None
        status, first_reply, solved = "open", None, None
        self._message(rows, tid, created, "inbound", customer)
        self._event(rows, tid, "created", created, "system", area_id=area, routed_by=routed_by, priority=priority)
        rerouted = r.random() < 0.1
        if rerouted:
            assignee_name = r.choice(self.agents)[1]
            self._event(rows, tid, "rerouted", created + timedelta(minutes=5), f"agent:{assignee_name}", from_="x")
            area = r.choice(self.area_ids)
        last = customer_last = created
        if r.random() < 0.92:
            assignee = r.choice(self.agents)
            who = f"agent:{assignee[1]}"
            first_reply = created + timedelta(minutes=r.expovariate(1 / 180))
            self._event(rows, tid, "claimed", first_reply, who)
            self._event(rows, tid, "replied", first_reply, who)
            self._message(rows, tid, first_reply, "outbound", customer)
            self._clock(rows, tid, "first_reply", 0, 240, created, first_reply)
            last = first_reply
            cycle = 0
            while r.random() < 0.35 and cycle < 3:
                cycle += 1
                asked = last + timedelta(minutes=r.expovariate(1 / 600))
                answered = asked + timedelta(minutes=r.expovariate(1 / 240))
                self._event(rows, tid, "customer_message", asked, "system", threaded_by="header")
                self._message(rows, tid, asked, "inbound", customer)
                customer_last = asked
                self._event(rows, tid, "replied", answered, who)
                self._message(rows, tid, answered, "outbound", customer)
                self._clock(rows, tid, "next_reply", cycle, 480, asked, answered)
                last = answered
            if r.random() < 0.88:
                solved = last + timedelta(minutes=r.expovariate(1 / 120))
                self._event(rows, tid, "status", solved, who, **{"from": "open", "to": "solved"})
                status = "solved"
                if r.random() < 0.05:  # reopened by the customer, solved again
                    back = solved + timedelta(hours=r.expovariate(1 / 24))
                    self._event(rows, tid, "customer_message", back, "system", reopened_from="solved")
                    self._message(rows, tid, back, "inbound", customer)
                    customer_last = back
                    solved = back + timedelta(minutes=r.expovariate(1 / 120))
                    self._event(rows, tid, "status", solved, who, **{"from": "open", "to": "solved"})
            else:
                status = r.choice(("open", "pending"))
        else:
            self._clock(rows, tid, "first_reply", 0, 240, created, None)
        self._clock(rows, tid, "resolution", 0, 2880, created, solved, state="fulfilled" if solved else "running")
        rows["ticket"].append(
            full(
                "ticket",
                {
                    "id": tid,
                    "reference": f"RD-{tid:08d}",
                    "subject": f"Question {tid}",
                    "subject_key": f"question {tid}",
                    "status": status,
                    "area_id": area,
                    "customer_id": customer,
                    "mailbox_id": None,
                    "assignee_id": assignee[0] if assignee else None,
                    "previous_ticket_id": None,
                    "routed_by": "agent" if rerouted else routed_by,
                    "model_version": "v1" if routed_by == "model" else None,
                    "route_probability": round(r.uniform(0.5, 1.0), 3) if routed_by == "model" else None,
                    "priority": priority,
                    "created_at": created,
                    "updated_at": solved or last,
                    "last_customer_message_at": customer_last,
                    "first_responded_at": first_reply,
                    "solved_at": solved,
                    "claimed_at": first_reply,
                },
            )
        )


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores it
    if isinstance(value, dict):
        return json.dumps({k.rstrip("_"): v for k, v in value.items()})
    if isinstance(value, bool):
        return int(value)
    return value


def _pg_value(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps({k.rstrip("_"): v for k, v in value.items()})
    return value


class SqliteWriter:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA synchronous = OFF")

    async def write(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        columns = [c.name for c in TABLES[table].columns]
        marks = ", ".join("?" * len(columns))
        names = ", ".join(f'"{c}"' for c in columns)
        self.db.executemany(
            f'INSERT INTO "{table}" ({names}) VALUES ({marks})', ([_sqlite_value(v) for v in row] for row in rows)
        )
        self.db.commit()

    async def finish(self) -> None:
        self.db.execute("ANALYZE")
        self.db.commit()
        self.db.close()


class PostgresWriter:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: Any = None

    async def write(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        import asyncpg

        if self.conn is None:
            self.conn = await asyncpg.connect(self.dsn)
        columns = [c.name for c in TABLES[table].columns]
        await self.conn.copy_records_to_table(
            table, records=[[_pg_value(v) for v in row] for row in rows], columns=columns
        )

    async def finish(self) -> None:
        for table in ("customer", "ticket", "message", "ticket_event", "sla_clock"):
            await self.conn.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT max(id) FROM \"{table}\"))"
            )
        await self.conn.execute("VACUUM ANALYZE")
        await self.conn.close()


async def fill_facts(url: str, chunk: int = 5000) -> None:
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with unit_of_work(sessionmaker) as session:
            ids = list(await session.scalars(select(Ticket.id).order_by(Ticket.created_at, Ticket.id)))
        for at in range(0, len(ids), chunk):
            async with unit_of_work(sessionmaker) as session:
                await facts.refresh(session, ids[at : at + chunk])
        async with engine.connect() as conn:
            analyze = "ANALYZE ticket_fact"
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).exec_driver_sql(analyze)
    finally:
        await engine.dispose()


async def seed(url: str, writer: Any, tickets: int) -> dict[str, int]:
    engine = create_engine(url)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            areas = [await routing.create_area(session, AreaCreate(name=name)) for name in AREAS]
            agents = [
                (await users.create_user(session, name=f"agent{i}", email=f"agent{i}@bench.example", role="agent"))[0]
                for i in range(AGENTS)
            ]
            area_ids, agent_ids = [a.id for a in areas], [(u.id, u.name) for u in agents]
    finally:
        await engine.dispose()
    gen = Generator(area_ids, agent_ids)
    await writer.write("customer", gen.customers())
    counts = dict.fromkeys(("ticket", "message", "ticket_event", "sla_clock"), 0)
    for done in range(0, tickets, CHUNK):
        rows = gen.chunk(min(CHUNK, tickets - done))
        for table in ("ticket", "message", "ticket_event", "sla_clock"):
            await writer.write(table, rows[table])
            counts[table] += len(rows[table])
    await writer.finish()
    await fill_facts(url)
    return counts


async def timed(url: str, repeat: int) -> dict[str, float]:
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    span = reports.window(*WINDOW)
    found: dict[str, float] = {}

    async def summary() -> Any:
        async with unit_of_work(sessionmaker) as session:
            return await reports.summary(session, span, Filters())

    def series(metric: str) -> Any:
        async def run() -> Any:
            async with unit_of_work(sessionmaker) as session:
                return await reports.timeseries(session, span, Filters(), metric=metric, interval=Interval.DAY)

        return run

    try:
        for name, call in [("summary_90_days", summary), *((f"daily_{m}", series(m)) for m in SERIES)]:
            await call()  # warm-up: plans, caches, the pool's connection
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                result = await call()
                times.append(time.perf_counter() - started)
            found[name] = round(min(times), 3)
            if name == "summary_90_days":
                found["window_tickets"] = result.total.created
    finally:
        await engine.dispose()
    return found


async def pg_admin(base_url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(base_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def run_one(
    db: str,
    tickets: int,
    repeat: int,
    workdir: Path,
    *,
    keep: bool = False,
    reuse: str | None = None,
    seed_only: bool = False,
) -> dict[str, Any]:
    if reuse is not None:
        # A database seeded by an earlier run (--keep): migrated to the head (which fills the fact
        # table from its tickets), then timed.
        asyncio.run(upgrade_async(reuse))
        figures = asyncio.run(timed(reuse, repeat))
        return _result(db, tickets, figures, None)
    pg_base = os.environ.get("ROUTEDESK_BENCH_POSTGRES_URL", DEFAULT_PG)
    pg_name = None
    if db == "sqlite":
        path = workdir / "reports.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        pg_name = f"routedesk_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(pg_admin(pg_base, f'CREATE DATABASE "{pg_name}"'))
        dsn = pg_base.rsplit("/", 1)[0] + f"/{pg_name}"
        url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        asyncio.run(upgrade_async(url))
        started = time.perf_counter()
        writer: Any = SqliteWriter(path) if db == "sqlite" else PostgresWriter(dsn)
        counts = asyncio.run(seed(url, writer, tickets))
        seeded = time.perf_counter() - started
        print(f"{db}: seeded {counts} in {seeded:.0f} s", flush=True)
        figures = {} if seed_only else asyncio.run(timed(url, repeat))
    finally:
        if pg_name and not keep:
            asyncio.run(pg_admin(pg_base, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        if keep:
            print(f"kept {url}", flush=True)
    return _result(db, tickets, figures, seeded)


def _result(db: str, tickets: int, figures: dict[str, float], seeded: float | None) -> dict[str, Any]:
    slowest = max((v for k, v in figures.items() if k != "window_tickets"), default=0.0)
    result: dict[str, Any] = {"db": db, "tickets": tickets, **figures, "target_seconds": TARGETS[db]}
    if seeded is not None:
        result["seed_seconds"] = round(seeded)
    result["within_target"] = slowest <= TARGETS[db]
    for key, value in result.items():
        print(f"  {key}: {value}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the database (PostgreSQL's, or the SQLite file in --workdir) for --reuse; drop it after",
    )
    parser.add_argument("--workdir", type=Path, help="where the SQLite file is written (default: a temporary folder)")
    parser.add_argument("--seed-only", action="store_true", help="seed (with --keep) and time nothing")
    parser.add_argument("--reuse", metavar="URL", help="time a database an earlier --keep run seeded (one --db)")
    args = parser.parse_args()
    if args.reuse is not None and args.db == "both":
        parser.error("--reuse takes one --db")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="routedesk-reports-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        engines = ["postgresql", "sqlite"] if args.db == "both" else [args.db]
        results = [
            run_one(db, args.tickets, args.repeat, workdir, keep=args.keep, reuse=args.reuse, seed_only=args.seed_only)
            for db in engines
        ]
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps({"benchmark": "reports", "load": os.getloadavg(), "results": results}))


if __name__ == "__main__":
    main()
