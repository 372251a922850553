"""Ingest's storing step alone, in process: N generated emails, parsed beforehand, stored by
`ingest_batch` in batches of 200 into a fresh SQLite database, with and without the SLA bookkeeping.

Usage:
    python benchmarks/ingest_store.py [--n 4000] [--reps 5] [--variants full,nosla,nostore]

Variants, run in turn within each rep (so that they share the machine's load):
- full: as ingest runs.
- nosla: the same, with the SLA ledger's step replaced by one that moves no clock and writes no row
  (the policies and clocks are still read per batch): what the clocks and their rows cost.
- nostore: no batch stored at all: the process's fixed cost, for counts that cover the whole process.
Prints the median process CPU (all threads: aiosqlite's thread runs SQLite) per variant. For counts
that the machine's load does not move, run one variant at a time under callgrind and compare the
instructions it reports: `valgrind --tool=callgrind python benchmarks/ingest_store.py --n 1000 --reps 1
--variants full` (and nosla, nostore), with PYTHONHASHSEED=0."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.config import Settings  # noqa: E402
from app.db import create_engine, create_sessionmaker, unit_of_work  # noqa: E402
from app.demo.corpus import generate_emails  # noqa: E402
from app.inbox import ingest  # noqa: E402
from app.inbox.parsing import Incoming, prepare  # noqa: E402
from app.routing.service import Router  # noqa: E402

BATCH = 200
_skip_sla = False

try:
    from app.sla import service as sla
except ImportError:  # a checkout from before the SLA clocks: nothing to skip
    pass
else:
    _apply = sla.Ledger.apply

    def _ledger_step(self: sla.Ledger, ticket: Any, fact: Any, *, area_id: int, priority: str) -> sla.Due:
        if _skip_sla:
            return sla.Due(None, None, None)
        return _apply(self, ticket, fact, area_id=area_id, priority=priority)

    sla.Ledger.apply = _ledger_step  # type: ignore[method-assign]


async def store(template: Path, workdir: Path, batch: list[Incoming], variant: str) -> float:
    global _skip_sla
    _skip_sla = variant == "nosla"
    database = workdir / f"{variant}.db"
    shutil.copyfile(template, database)
    settings = Settings(database_url=f"sqlite+aiosqlite:///{database}", data_dir=workdir / "data")
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    router = Router()
    source = ingest.Source(mailbox_id=None, uidvalidity=None, own_addresses=frozenset({"support@support.example.com"}))
    start = time.process_time()
    for i in range(0, len(batch) if variant != "nostore" else 0, BATCH):
        async with unit_of_work(sessionmaker) as session:
            await ingest.ingest_batch(session, batch[i : i + BATCH], source=source, settings=settings, router=router)
    spent = time.process_time() - start
    await engine.dispose()
    database.unlink()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--variants", default="full,nosla")
    args = parser.parse_args()
    variants = args.variants.split(",")
    batch = [
        prepare(raw, uid, max_attachment_bytes=10 << 20) for uid, (raw, _label) in enumerate(generate_emails(args.n), 1)
    ]
    workdir = Path(tempfile.mkdtemp(prefix="routedesk-store-"))
    try:
        template = workdir / "template.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEDESK_")}
        env.update(ROUTEDESK_DATABASE_URL=f"sqlite:///{template}", ROUTEDESK_DATA_DIR=str(workdir / "data"))
        subprocess.run(
            [sys.executable, "-m", "app.cli", "db", "upgrade"], cwd=REPO, env=env, check=True, capture_output=True
        )
        # Not counted: what the first batch of a process pays once (lazy imports, module caches).
        asyncio.run(store(template, workdir, batch[:BATCH], "full"))
        spent: dict[str, list[float]] = {v: [] for v in variants}
        for _rep in range(args.reps):
            for variant in variants:
                spent[variant].append(asyncio.run(store(template, workdir, batch, variant)))
        print(
            json.dumps(
                {
                    "n": args.n,
                    "load": round(os.getloadavg()[0], 2),
                    **{
                        v: {"median_cpu_s": round(statistics.median(s), 3), "cpu_s": [round(x, 3) for x in s]}
                        for v, s in spent.items()
                    },
                }
            )
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
