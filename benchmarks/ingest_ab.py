"""Checkouts' ingest, interleaved: `benchmarks/ingest.py` of A, then of B (, C...), then again, one poll each.

Usage:
    python benchmarks/ingest_ab.py A_CHECKOUT B_CHECKOUT [C_CHECKOUT ...] [--rounds 3] [--n 5000]
                                   [--db sqlite|postgresql|both] [--model none|demo]

Each checkout runs its own `benchmarks/ingest.py --reps 1` with its own `.venv` (so A can be a commit
from before a change), against one Dovecot started here and shared by all. On a machine other work
loads, runs one after another drift with that work; interleaved, the checkouts see the same load in
turn (and each round starts with the next checkout, so none always follows another). Prints every run
(with the load average as it started) and per database and checkout the medians of wall time, rate
and CPU (poll process and its children), each against A's.

With --callgrind, each poll runs under valgrind's callgrind instead, and what is compared is the
instructions the poll and its children executed: the same work counts the same on a loaded machine
(one round is enough; a poll of 1,000 messages takes ~3 minutes so)."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def ingest_benchmark() -> Any:
    """benchmarks/ingest.py as a module (loaded by path: the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("ingest_benchmark", REPO / "benchmarks/ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_poll(checkout: Path, db: str, n: int, model: str, imap_url: str) -> dict[str, float]:
    command = [
        str(checkout / ".venv/bin/python"),
        str(checkout / "benchmarks/ingest.py"),
        *("--n", str(n), "--reps", "1", "--db", db, "--model", model, "--imap-url", imap_url),
    ]
    out = subprocess.run(command, cwd=checkout, check=True, capture_output=True, text=True).stdout
    run_line = next(line for line in out.splitlines() if " run 1: " in line)
    return dict(json.loads(run_line.split(" run 1: ", 1)[1]))


CALLGRIND = ["valgrind", "--tool=callgrind", "--trace-children=yes"]


def callgrind_poll(bench: Any, checkout: Path, db: str, n: int, imap_url: str) -> dict[str, float]:
    """One `poll --once` of the checkout under callgrind: the instructions it and its children (the
    parse worker, multiprocessing's resource tracker) executed. Not time: the same work counts the
    same however loaded the machine is (the database server's own work is not in it)."""
    folder = f"ab{uuid.uuid4().hex[:8]}"
    asyncio.run(bench.load_mailbox(imap_url, folder, n))
    run_dir = Path(tempfile.mkdtemp())
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEDESK_")}
    env.update(ROUTEDESK_DATA_DIR=str(run_dir / "data"), ROUTEDESK_LOG_LEVEL="warning", PYTHONHASHSEED="0")
    pg_name = None
    if db == "sqlite":
        env["ROUTEDESK_DATABASE_URL"] = f"sqlite:///{run_dir / 'bench.db'}"
    else:
        pg_name = f"routedesk_ab_{uuid.uuid4().hex[:8]}"
        env["ROUTEDESK_DATABASE_URL"] = asyncio.run(bench.pg_database(bench.DEFAULT_PG, pg_name))
    python = str(checkout / ".venv/bin/python")
    try:
        for args in (["db", "upgrade"], ["mailbox", "add", "bench", "--imap-url", bench.folder_url(imap_url, folder)]):
            subprocess.run([python, "-m", "app.cli", *args], cwd=checkout, env=env, check=True, capture_output=True)
        done = subprocess.run(
            [*CALLGRIND, f"--callgrind-out-file={run_dir}/callgrind.%p", python, "-m", "app.cli", "poll", "--once"],
            cwd=checkout,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        asyncio.run(bench.drop_folder(imap_url, folder))
        if pg_name:
            asyncio.run(bench.pg_database(bench.DEFAULT_PG, pg_name, drop=True))
        shutil.rmtree(run_dir, ignore_errors=True)
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    if counts["fetched"] != n:
        raise SystemExit(f"incomplete run: {counts}")
    per_process = [int(found.replace(",", "")) for found in re.findall(r"Collected : ([\d,]+)", done.stderr)]
    return {"instructions": sum(per_process), "processes": len(per_process), **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkouts", type=Path, nargs="+", help="the first is the one the others are read against")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--model", choices=["none", "demo"], default="none")
    parser.add_argument(
        "--callgrind", action="store_true", help="count instructions under valgrind instead of timing (no model)"
    )
    args = parser.parse_args()
    checkouts = [c.resolve() for c in args.checkouts]
    names = [chr(ord("A") + i) for i in range(len(checkouts))]
    for name, checkout in zip(names, checkouts, strict=True):
        print(f"{name}: {checkout}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="routedesk-ab-"))
    bench = ingest_benchmark()
    imap_url, dovecot_dir = bench.start_dovecot(workdir)
    try:
        dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
        runs: dict[tuple[str, str], list[dict[str, float]]] = {}
        medians: dict[str, dict[str, Any]]
        for round_ in range(args.rounds):
            for db in dbs:
                shift = round_ % len(names)
                for index in [*range(shift, len(names)), *range(shift)]:
                    load = os.getloadavg()[0]
                    if args.callgrind:
                        result = callgrind_poll(bench, checkouts[index], db, args.n, imap_url)
                    else:
                        result = one_poll(checkouts[index], db, args.n, args.model, imap_url)
                    result["load"] = round(load, 2)
                    runs.setdefault((db, names[index]), []).append(result)
                    print(f"{db} {names[index]} round {round_ + 1}: {json.dumps(result)}", flush=True)
        summary = []
        for db in dbs:
            medians = {}
            measures = ["instructions"] if args.callgrind else ["wall_s", "msgs_per_s", "cpu_s"]
            for name in names:
                found = runs[(db, name)]
                medians[name] = {m: statistics.median(r[m] for r in found) for m in measures}
                medians[name].update({f"{m}_runs": [r[m] for r in found] for m in measures})
                medians[name]["loads"] = [r["load"] for r in found]
            base = medians["A"]
            for name in names[1:]:
                for m in ("instructions", "cpu_s", "wall_s"):
                    if m in base:
                        medians[name][f"{m}_vs_a"] = round(medians[name][m] / base[m] - 1, 3)
            summary.append({"db": db, "n": args.n, "model": args.model, **medians})
            for name in names:
                print(f"{db} {name}: {json.dumps(medians[name])}", flush=True)
        print(json.dumps(summary))
    finally:
        subprocess.run(["doveadm", "-c", str(dovecot_dir / "dovecot.conf"), "stop"], check=False, capture_output=True)
        shutil.rmtree(dovecot_dir.parent, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
