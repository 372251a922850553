"""Checkouts' ingest, interleaved: `benchmarks/ingest.py` of A, then of B (, C...), then again, one poll each.

Usage:
    python benchmarks/ingest_ab.py A_CHECKOUT B_CHECKOUT [C_CHECKOUT ...] [--rounds 3] [--n 5000]
                                   [--db sqlite|postgresql|both] [--model none|demo]

Each checkout runs its own `benchmarks/ingest.py --reps 1` with its own `.venv` (so A can be a commit
from before a change), against one Dovecot started here and shared by all. On a machine other work
loads, runs one after another drift with that work; interleaved, the checkouts see the same load in
turn (and each round starts with the next checkout, so none always follows another). Prints every run
(with the load average as it started) and per database and checkout the medians of wall time, rate
and CPU (poll process and its children), each against A's."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def start_dovecot(workdir: Path) -> tuple[str, Path]:
    """The ingest benchmark's throwaway Dovecot (loaded by path: the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("ingest_benchmark", REPO / "benchmarks/ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    url, directory = module.start_dovecot(workdir)
    return str(url), Path(directory)


def one_poll(checkout: Path, db: str, n: int, model: str, imap_url: str) -> dict[str, float]:
    command = [
        str(checkout / ".venv/bin/python"),
        str(checkout / "benchmarks/ingest.py"),
        *("--n", str(n), "--reps", "1", "--db", db, "--model", model, "--imap-url", imap_url),
    ]
    out = subprocess.run(command, cwd=checkout, check=True, capture_output=True, text=True).stdout
    run_line = next(line for line in out.splitlines() if " run 1: " in line)
    return dict(json.loads(run_line.split(" run 1: ", 1)[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkouts", type=Path, nargs="+", help="the first is the one the others are read against")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--model", choices=["none", "demo"], default="none")
    args = parser.parse_args()
    checkouts = [c.resolve() for c in args.checkouts]
    names = [chr(ord("A") + i) for i in range(len(checkouts))]
    for name, checkout in zip(names, checkouts, strict=True):
        print(f"{name}: {checkout}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="routedesk-ab-"))
    imap_url, dovecot_dir = start_dovecot(workdir)
    try:
        dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
        runs: dict[tuple[str, str], list[dict[str, float]]] = {}
        for round_ in range(args.rounds):
            for db in dbs:
                shift = round_ % len(names)
                for index in [*range(shift, len(names)), *range(shift)]:
                    load = os.getloadavg()[0]
                    result = one_poll(checkouts[index], db, args.n, args.model, imap_url)
                    result["load"] = round(load, 2)
                    runs.setdefault((db, names[index]), []).append(result)
                    print(f"{db} {names[index]} round {round_ + 1}: {json.dumps(result)}", flush=True)
        summary = []
        for db in dbs:
            medians = {}
            for name in names:
                found = runs[(db, name)]
                medians[name] = {
                    "wall_s": statistics.median(r["wall_s"] for r in found),
                    "msgs_per_s": statistics.median(r["msgs_per_s"] for r in found),
                    "cpu_s": statistics.median(r["cpu_s"] for r in found),
                    "cpu_runs": [r["cpu_s"] for r in found],
                    "wall_runs": [r["wall_s"] for r in found],
                    "loads": [r["load"] for r in found],
                }
            base = medians["A"]
            for name in names[1:]:
                medians[name]["cpu_vs_a"] = round(medians[name]["cpu_s"] / base["cpu_s"] - 1, 3)  # type: ignore[operator]
                medians[name]["wall_vs_a"] = round(medians[name]["wall_s"] / base["wall_s"] - 1, 3)  # type: ignore[operator]
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
