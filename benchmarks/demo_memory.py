"""Memory of `routedesk demo --no-serve`: the peak RSS of its process tree, and in which phase it happens.

Usage:
    python benchmarks/demo_memory.py [--reps 3] [--messages 60] [--profile-python]

Each run is one `routedesk demo --no-serve` process (a fresh data dir in a temp folder, started from a
temp working directory). /proc is read every 5 ms as benchmarks/ingest.py does: tree_peak_rss_mb is
the sum of the peaks (VmHWM) of the demo process and every process it started (parse workers,
multiprocessing's resource tracker), an upper bound of what the machine had to hold at once;
together_peak_mb is the largest summed RSS seen at one instant; peak_rss_mb the demo process alone.

The demo prints a line as each phase starts and ends; the sampler notes when each line arrived, so
the output also says which phase the largest RSS was seen in (phase_peaks_mb: the largest summed RSS
while that line was the latest). The demo's routing accuracy is read from the model's cross-validated
metrics in the demo's database, so that a change for memory can be checked not to route worse.

--profile-python runs the demo's training in this process under tracemalloc instead, and prints the
largest Python allocations at the peak (numpy and scipy buffers are traced too).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from ingest import TreeSampler, record_peaks  # noqa: E402


class PhaseSampler(TreeSampler):
    """TreeSampler that also keeps the latest summed RSS, for the phase it is read in."""

    together_now = 0

    def run(self) -> None:
        while not self.done.is_set():
            self.together_now = record_peaks(self.pid, self.peaks)
            self.together_kb = max(self.together_kb, self.together_now)
            self.done.wait(self.interval)


def one_run(messages: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="routedesk-demo-mem-") as scratch:
        cwd, data = Path(scratch) / "cwd", Path(scratch) / "data"
        cwd.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEDESK_")}
        env.update(ROUTEDESK_DATA_DIR=str(data), ROUTEDESK_LOG_LEVEL="warning", PYTHONUNBUFFERED="1")
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "demo", "--no-serve", "--messages", str(messages)],
            cwd=cwd,
            env={**env, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        sampler = PhaseSampler(proc.pid)
        phases: list[tuple[float, str]] = [(0.0, "start-up")]
        phase_peaks: dict[str, int] = {}

        def follow() -> None:
            # The phase a sample belongs to is the last line printed before it.
            while not sampler.done.is_set():
                phase = phases[-1][1]
                phase_peaks[phase] = max(phase_peaks.get(phase, 0), sampler.together_now)
                sampler.done.wait(0.005)

        sampler.start()
        watcher = threading.Thread(target=follow, daemon=True)
        watcher.start()
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            phases.append((time.perf_counter() - started, line.strip()[:60]))
        err = proc.stderr.read()
        proc.wait()
        sampler.done.set()
        sampler.join()
        watcher.join()
        if proc.returncode != 0:
            sys.exit(f"demo failed ({proc.returncode}): {err[-2000:]}")
        wall = time.perf_counter() - started
        # Before the demo used a data dir it wrote routedesk-demo/ into the working directory.
        demo_dir = data / "demo" if (data / "demo").exists() else cwd / "routedesk-demo"
        with sqlite3.connect(demo_dir / "routedesk.db") as db:
            metrics = json.loads(db.execute("SELECT metrics FROM model_version WHERE active").fetchone()[0])
            routed_by = dict(db.execute("SELECT routed_by, count(*) FROM ticket GROUP BY routed_by").fetchall())
        return {
            "wall_s": round(wall, 1),
            "peak_rss_mb": round(sampler.peaks.get(proc.pid, 0) / 1024, 1),
            "tree_peak_rss_mb": round(sum(sampler.peaks.values()) / 1024, 1),
            "together_peak_mb": round(sampler.together_kb / 1024, 1),
            "processes": len(sampler.peaks),
            "cv_accuracy": round(float(metrics["accuracy"]), 4),
            "cv_macro_f1": round(float(metrics["macro_f1"]), 4),
            "auto_routed_share": round(float(metrics["auto_routed_share"]), 4),
            "tickets_routed_by": routed_by,
            "poll": json.loads(lines[-1]),
            "phase_peaks_mb": {k: round(v / 1024, 1) for k, v in phase_peaks.items()},
        }


def profile_python() -> None:
    import tracemalloc

    from app.demo.corpus import labelled_examples, write_labelled_csv
    from classifiers.data import load_examples
    from classifiers.train import train

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "labelled.csv"
        write_labelled_csv(path, labelled_examples())
        examples = load_examples(path, subject_col="subject", body_col="body")
    tracemalloc.start(25)
    model = train(examples)
    current, peak = tracemalloc.get_traced_memory()
    print(f"tracemalloc: peak {peak / 2**20:.1f} MB during training, {current / 2**20:.1f} MB held by the model")
    for stat in tracemalloc.take_snapshot().statistics("lineno")[:15]:
        print(f"  {stat.size / 2**20:8.1f} MB  {stat.traceback}")
    features = model.pipeline.named_steps["features"]
    for name, vectorizer in features.transformer_list:
        print(f"  {name}: {len(vectorizer.vocabulary_)} features")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--messages", type=int, default=60)
    parser.add_argument("--profile-python", action="store_true")
    args = parser.parse_args()
    if args.profile_python:
        profile_python()
        return
    runs = []
    for rep in range(args.reps):
        result = one_run(args.messages)
        runs.append(result)
        print(f"run {rep + 1}: {json.dumps(result)}", flush=True)
    summary = {
        "reps": args.reps,
        "median_tree_peak_rss_mb": statistics.median(r["tree_peak_rss_mb"] for r in runs),
        "median_together_peak_mb": statistics.median(r["together_peak_mb"] for r in runs),
        "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
        "median_wall_s": statistics.median(r["wall_s"] for r in runs),
        "cv_accuracy": [r["cv_accuracy"] for r in runs],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
