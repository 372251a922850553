"""Latency of the public help centre's pages through the real app, at 1,000 articles.

    python benchmarks/kb.py [--articles 1000] [--requests 300] [--database-url postgresql+asyncpg://...]

Builds a fresh database (a temporary SQLite file unless --database-url names an empty one to migrate) and
fills it with generated articles: titles and bodies (markdown: headings, a list, emphasis) drawn from the
demo corpus of payments-support mail, spread over the demo's areas, 90% published. Then serves the app
through httpx's ASGI transport (routing, dependencies, the database session, the kb_version read and
Jinja2 rendering all run; no sockets) and prints p50/p99 of the index, an article page and a search, each
request on its own; plus the cold build of the in-memory index that the first request pays, and the
article matching an acknowledgement would run (app/kb/matching.py) for each unseen mail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from app.config import Settings
from app.db import unit_of_work
from app.demo.corpus import AREAS, labelled_examples
from app.kb import service as kb
from app.kb.matching import match_articles
from app.kb.schemas import ArticleCreate
from app.main import create_app
from app.migrate import upgrade_async
from app.routing.models import Area
from app.runtime import open_runtime


def sentences(text: str) -> list[str]:
    return [s.strip() + "." for s in text.replace("\n", " ").split(".") if len(s.split()) >= 4]


def article_text(rng: random.Random, pool: list[str], subject: str) -> str:
    picked = rng.sample(pool, min(8, len(pool))) or [subject]
    steps = "\n".join(f"- {s}" for s in picked[3:6])
    return (
        f"{' '.join(picked[:3])}\n\n## What to check\n\n{steps}\n\n## If it still fails\n\n"
        f"Write to us with the **reference** of the payment. {' '.join(picked[6:])}\n"
    )


async def populate(settings: Settings, *, n_articles: int, seed: int) -> tuple[list[str], list[str]]:
    """Fills the database; returns the published slugs and search queries (subjects of unseen mail)."""
    rng = random.Random(seed)
    examples = labelled_examples(n_articles * 2 + 200, seed=seed)
    async with open_runtime(settings) as runtime, unit_of_work(runtime.sessionmaker) as session:
        session.add_all(Area(name=name, title=name.replace("_", " ").title()) for name in AREAS)
        await session.flush()
        slugs = []
        for i in range(n_articles):
            first, second = examples[2 * i], examples[2 * i + 1]
            pool = sentences(first.body) + sentences(second.body)
            data = ArticleCreate(
                title=f"{first.subject[:150]} ({i})",
                body=article_text(rng, pool, first.subject),
                area=first.label if rng.random() < 0.85 else None,
                tags=[first.label.replace("_", " ")],
                published=rng.random() < 0.9,
            )
            article = await kb.create_article(session, data=data)
            if article.published:
                slugs.append(article.slug)
    # Search queries are the subjects of mail no article was made from; tickets, the whole of that mail.
    queries = [f"{e.subject}\n\n{e.body}" for e in examples[n_articles * 2 :]]
    return slugs, queries


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(settings: Settings, slugs: list[str], queries: list[str], *, requests: int, seed: int) -> None:
    rng = random.Random(seed + 1)
    async with open_runtime(settings) as runtime:
        app = create_app(runtime=runtime)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
        ):
            start = time.perf_counter()
            assert (await client.get("/help")).status_code == 200
            cold = (time.perf_counter() - start) * 1000
            pages: dict[str, Callable[[], str]] = {
                "index": lambda: "/help",
                "article": lambda: f"/help/articles/{rng.choice(slugs)}",
                "search": lambda: "/help/search?" + str(httpx.QueryParams({"q": rng.choice(queries).split("\n")[0]})),
            }
            for _ in range(20):  # warm-up
                for url in pages.values():
                    await client.get(url())
            print(f"first request (builds the index of {len(slugs)} published articles): {cold:.0f} ms")
            for name, url in pages.items():
                timings = []
                for _ in range(requests):
                    target = url()
                    start = time.perf_counter()
                    response = await client.get(target)
                    timings.append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200, (target, response.status_code)
                print(
                    f"{name:8} p50 {statistics.median(timings):6.2f} ms   p99 {percentile(timings, 0.99):6.2f} ms"
                    f"   ({requests} requests, {len(response.content) // 1024} KiB)"
                )
            index = runtime.help_centre.index
            assert index is not None
            timings, suggested = [], 0
            for ticket in queries * max(1, requests // len(queries)):
                start = time.perf_counter()
                suggested += len(match_articles(index, text=ticket, area_id=None))
                timings.append((time.perf_counter() - start) * 1000)
            print(
                f"matching p50 {statistics.median(timings):6.2f} ms   p99 {percentile(timings, 0.99):6.2f} ms"
                f"   ({len(timings)} tickets, {suggested / len(timings):.1f} articles suggested per ticket;"
                " the pure function, no request)"
            )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/kb.db"
        await upgrade_async(url)
        settings = Settings(database_url=url, data_dir=Path(tmp) / "data", secret_key=None)
        slugs, queries = await populate(settings, n_articles=args.articles, seed=args.seed)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"{os.cpu_count()} cores, load average {load} (1, 5, 15 min) before measuring")
        await measure(settings, slugs, queries, requests=args.requests, seed=args.seed)


if __name__ == "__main__":
    asyncio.run(main())
