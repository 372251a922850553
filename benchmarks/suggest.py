"""Latency of app.macros.ranking.suggest on a warm cache, and what a cold start and a new use cost.

    python benchmarks/suggest.py [--macros 200] [--uses 2000] [--tickets 1000] [--requests 300]
                                 [--database-url postgresql+asyncpg://...]

Builds a fresh database (a temporary SQLite file unless --database-url names an empty one to migrate),
fills it with areas, macros whose text is drawn from the demo corpus of payments-support mail, tickets
each with a first inbound message, and uses of macros on those tickets. Then asks for suggestions for
unseen tickets and prints p50/p99 per request, each request in its own session and transaction the way
the API runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.db import create_engine, create_sessionmaker, unit_of_work
from app.demo.corpus import AREAS, labelled_examples
from app.inbox.models import Message
from app.macros import ranking
from app.macros import service as macros
from app.macros.cache import SuggestionCache
from app.macros.models import Macro, MacroUse
from app.migrate import upgrade_async
from app.routing.models import Area
from app.tickets.models import Customer, Ticket

GREETINGS = ["Hi {customer_first_name},", "Hello {customer_name},", "Dear {customer_name},"]
CLOSINGS = ["Best regards,\n{agent_name}\n{company}", "Kind regards,\n{agent_name}", "Thanks,\n{company}"]


def sentences(text: str) -> list[str]:
    return [s.strip() + "." for s in text.replace("\n", " ").split(".") if len(s.split()) >= 4]


async def populate(url: str, *, n_macros: int, n_tickets: int, n_uses: int, seed: int) -> list[str]:
    """Fills the database; returns ticket texts that are not in it, to ask suggestions for."""
    rng = random.Random(seed)
    examples = labelled_examples(n_tickets + n_macros * 3 + 400, seed=seed)
    for_macros, for_tickets, for_queries = (
        examples[: n_macros * 3],
        examples[n_macros * 3 : n_macros * 3 + n_tickets],
        examples[n_macros * 3 + n_tickets :],
    )
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with unit_of_work(sessionmaker) as session:
            areas = {name: Area(name=name, title=name.replace("_", " ").title()) for name in AREAS}
            session.add_all(areas.values())
            await session.flush()

            macro_rows = []
            for i in range(n_macros):
                sources = for_macros[i * 3 : i * 3 + 3]
                pool = [s for e in sources for s in sentences(e.body)] or [sources[0].subject]
                body = "\n\n".join(
                    [
                        rng.choice(GREETINGS),
                        " ".join(rng.sample(pool, min(5, len(pool)))),
                        rng.choice(CLOSINGS),
                    ]
                )
                area = areas[sources[0].label] if rng.random() < 0.8 else None
                macro_rows.append(Macro(title=sources[0].subject[:200], body=body, area_id=area and area.id))
            session.add_all(macro_rows)

            tickets = []
            for i, example in enumerate(for_tickets):
                customer = Customer(email=f"c{i}@merchant.example", name=example.from_name)
                ticket = Ticket(
                    reference=f"RD-B{i:07d}",
                    subject=example.subject,
                    area=areas[example.label],
                    customer=customer,
                )
                raw = example.text.encode()
                session.add(
                    Message(
                        direction="inbound",
                        ticket=ticket,
                        customer=customer,
                        subject=example.subject,
                        body_text=example.body,
                        new_text=example.body,
                        raw=raw,
                        size=len(raw),
                        raw_sha256=hashlib.sha256(raw + str(i).encode()).hexdigest(),
                        message_id=f"b{i}@bench",
                    )
                )
                tickets.append((ticket, example.label))
            await session.flush()

            by_area: dict[int | None, list[Macro]] = {}
            for macro in macro_rows:
                by_area.setdefault(macro.area_id, []).append(macro)
            for _ in range(n_uses):
                ticket, label = rng.choice(tickets)
                choices = by_area.get(areas[label].id) or macro_rows
                session.add(MacroUse(macro_id=rng.choice(choices).id, ticket_id=ticket.id))
    finally:
        await engine.dispose()
    return [e.text for e in for_queries]


async def timed(sessionmaker: object, cache: SuggestionCache, text: str, area_id: int | None) -> tuple[float, float]:
    """Wall-clock and CPU milliseconds of one request; CPU (all threads of this process, the database
    driver's included) is the figure to trust on a busy machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    async with unit_of_work(sessionmaker) as session:  # type: ignore[arg-type]
        await ranking.suggest(session, cache=cache, text=text, area_id=area_id, values={"customer_name": "Jane Doe"})
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--macros", type=int, default=200)
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--uses", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", help="an empty database to migrate and fill (default: temp SQLite)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        await upgrade_async(url)
        queries = await populate(url, n_macros=args.macros, n_tickets=args.tickets, n_uses=args.uses, seed=args.seed)
        engine = create_engine(url)
        sessionmaker = create_sessionmaker(engine)
        try:
            rng = random.Random(args.seed)
            cache = SuggestionCache()
            cold, _ = await timed(sessionmaker, cache, queries[0], 1)
            warm = [
                await timed(sessionmaker, cache, rng.choice(queries), rng.randint(1, len(AREAS)))
                for _ in range(args.requests)
            ]
            async with unit_of_work(sessionmaker) as session:
                await macros.record_use(session, macro_id=1, ticket_id=1, user_id=None)
            after_use, _ = await timed(sessionmaker, cache, queries[1], 1)
        finally:
            await engine.dispose()

    engine_name = url.split(":", 1)[0]
    print(f"suggest on {engine_name}: {args.macros} macros, {args.uses} uses over {args.tickets} tickets")
    walls, cpus = [w for w, _ in warm], [c for _, c in warm]
    print(
        f"  warm, wall   p50 {statistics.median(walls):6.2f} ms   p99 {percentile(walls, 0.99):6.2f} ms"
        f"   ({args.requests} requests, each its own session and transaction)"
    )
    print(f"  warm, CPU    p50 {statistics.median(cpus):6.2f} ms   p99 {percentile(cpus, 0.99):6.2f} ms")
    print(f"  cold   {cold:6.2f} ms   (fit the macro index and build the history)")
    print(f"  after a new use  {after_use:6.2f} ms   (history rebuilt from cached ticket vectors)")


if __name__ == "__main__":
    asyncio.run(main())
