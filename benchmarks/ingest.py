"""Ingest benchmark: N generated support emails in a real IMAP server, `routedesk poll --once` timed.

Usage:
    python benchmarks/ingest.py [--n 5000] [--reps 3] [--db sqlite|postgresql|both] [--imap-url URL]
                                [--model none|demo|both]

Without --imap-url it starts a throwaway Dovecot on loopback (needs `dovecot` installed, e.g.
`apt-get install dovecot-imapd`) through tests/fixtures/dovecot.sh; with --imap-url it uses that
server and a fresh folder in it. PostgreSQL comes from ROUTEDESK_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test): a new database is created per run and dropped after.

Timed: one `routedesk poll --once` process from spawn to exit (Python start-up, IMAP login, every
message fetched, parsed, threaded and committed). Not timed: loading the mailbox, creating the
database, training the model.

Two conditions (--model): "none", no routing model (every ticket waits in triage), and "demo", the
model `routedesk demo` trains (the project's labelled demo set, default parameters) trained and
activated before the poll, so that the poll loads it and routes every message with it.

Memory, read from /proc every 5 ms while the poll runs: peak_rss_mb is the poll process's own peak
(the kernel's VmHWM); tree_peak_rss_mb adds the peaks of every process it started (parse worker,
multiprocessing's resource tracker): an upper bound of what the machine had to hold at once. Not
ru_maxrss from wait4(), which also counts the benchmark's own pages, shared with the child between
fork and exec.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import TypedDict

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.config import ImapSettings  # noqa: E402
from app.demo.corpus import generate_emails  # noqa: E402
from app.mail.imap import ImapClient, parse_imap_url  # noqa: E402
from app.ports import free_port  # noqa: E402

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def start_dovecot(workdir: Path) -> tuple[str, Path]:
    if shutil.which("dovecot") is None:
        sys.exit("dovecot is not installed: apt-get install dovecot-imapd, or pass --imap-url")
    # tmpfs when there is one: Dovecot's APPEND is several times faster there than on this disk.
    shm = Path("/dev/shm")
    parent = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else workdir
    parent.chmod(0o755)  # Dovecot's unprivileged processes must be able to reach their files
    directory = parent / "dovecot"
    url = subprocess.run(
        ["bash", str(REPO / "tests/fixtures/dovecot.sh"), str(directory), str(free_port())],
        # stderr not captured: the daemonised Dovecot inherits it and would keep the pipe open forever.
        check=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        timeout=60,
    ).stdout.strip()
    return url, directory


async def load_mailbox(url: str, folder: str, n: int) -> int:
    endpoint = parse_imap_url(url)
    settings = ImapSettings()
    total = 0
    async with ImapClient(endpoint, settings) as client:
        await client.create_folder(folder)
        for raw, _label in generate_emails(n):
            await client.append(raw, folder)
            total += len(raw)
    return total


async def drop_folder(url: str, folder: str) -> None:
    async with ImapClient(parse_imap_url(url), ImapSettings()) as client:
        await client.delete_folder(folder)


def folder_url(url: str, folder: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + folder


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=REPO, env=env, check=True, capture_output=True, text=True
    )


def record_peaks(root: int, peaks: dict[int, int]) -> int:
    """Record the peak RSS (VmHWM, kB) so far of `root` and every descendant into `peaks`; returns
    the summed current RSS (VmRSS, kB) of the tree."""
    current, pending = 0, [(root, b"")]
    while pending:
        pid, parent_command = pending.pop()
        try:
            with open(f"/proc/{pid}/status") as status:
                fields = dict(line.split(":", 1) for line in status if line.startswith(("VmHWM:", "VmRSS:")))
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read()
            tasks = os.listdir(f"/proc/{pid}/task")
        except (FileNotFoundError, ProcessLookupError):
            continue
        # A child still running its parent's command is between fork and exec: its pages are the
        # parent's, shared, already counted (summing them counted the parent twice at every spawn).
        if command != parent_command:
            # The latest reading, not the largest: VmHWM only grows within one program, and a reading
            # taken between fork and exec counts the parent's pages, which the child only shares.
            if "VmHWM" in fields:  # absent once the process is exiting
                peaks[pid] = int(fields["VmHWM"].split()[0])
            current += int(fields.get("VmRSS", "0 kB").split()[0])
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    pending.extend((int(c), command) for c in children.read().split())
            except FileNotFoundError:
                continue
    return current


class TreeSampler(threading.Thread):
    """Samples a process tree from /proc until stopped: each process's own peak (the kernel's VmHWM)
    and the largest summed RSS seen at one moment."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peaks: dict[int, int] = {}
        self.together_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.together_kb = max(self.together_kb, record_peaks(self.pid, self.peaks))
            self.done.wait(self.interval)


class PollCounts(TypedDict):
    """The last line `routedesk poll --once` prints."""

    fetched: int
    ingested: int
    duplicates: int
    threaded: int
    auto_replies: int
    failed: int


class Run(PollCounts):
    db: str
    model: str
    n: int
    wall_s: float
    msgs_per_s: float
    cpu_s: float
    peak_rss_mb: float
    tree_peak_rss_mb: float
    mailbox_mb: float


def timed_poll(env: dict[str, str], profile: str | None = None) -> tuple[float, float, float, float, PollCounts]:
    start = time.perf_counter()
    prefix = ["-m", "cProfile", "-o", profile] if profile else []
    proc = subprocess.Popen(
        [sys.executable, *prefix, "-m", "app.cli", "poll", "--once"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    sampler = TreeSampler(proc.pid)
    sampler.start()
    out = proc.stdout.read()
    err = proc.stderr.read()
    sampler.done.set()
    sampler.join()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"poll failed ({proc.returncode}): {err.decode()[-2000:]}")
    counts = json.loads(out.decode().strip().splitlines()[-1])
    # CPU seconds (user + system) of the poll process and its children (parse workers, reaped before
    # it exits): steadier than wall time on a machine that other processes load.
    cpu = usage.ru_utime + usage.ru_stime
    # Not ru_maxrss: it counts this process's pages, which the child shares between fork and exec.
    return wall, sampler.peaks.get(proc.pid, 0) / 1024, sum(sampler.peaks.values()) / 1024, cpu, counts


def train_demo_model(env: dict[str, str], workdir: Path) -> None:
    """Train and activate the model `routedesk demo` trains: the labelled demo set, default parameters."""
    from app.demo.corpus import as_rows, labelled_examples

    path = workdir / "labelled.csv"
    if not path.exists():
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["subject", "body", "label"], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(as_rows(labelled_examples()))
    run_cli(
        [
            "train",
            "--data",
            str(path),
            "--subject-col",
            "subject",
            "--body-col",
            "body",
            "--activate",
            "--create-areas",
        ],
        env,
    )


async def pg_database(base_url: str, name: str, *, drop: bool = False) -> str:
    import asyncpg

    conn = await asyncpg.connect(base_url)
    try:
        if drop:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return base_url.rsplit("/", 1)[0] + "/" + name


def one_run(
    db: str,
    imap_url: str,
    n: int,
    workdir: Path,
    extra_env: dict[str, str],
    profile: str | None = None,
    model: str = "none",
) -> Run:
    folder = f"bench{uuid.uuid4().hex[:8]}"
    size = asyncio.run(load_mailbox(imap_url, folder, n))
    run_dir = Path(tempfile.mkdtemp(dir=workdir))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEDESK_")}
    env.update(ROUTEDESK_DATA_DIR=str(run_dir / "data"), ROUTEDESK_LOG_LEVEL="warning", **extra_env)
    pg_name = None
    if db == "sqlite":
        env["ROUTEDESK_DATABASE_URL"] = f"sqlite:///{run_dir / 'bench.db'}"
    else:
        pg_name = f"routedesk_bench_{uuid.uuid4().hex[:8]}"
        base = os.environ.get("ROUTEDESK_BENCH_POSTGRES_URL", DEFAULT_PG)
        env["ROUTEDESK_DATABASE_URL"] = asyncio.run(pg_database(base, pg_name))
    try:
        run_cli(["db", "upgrade"], env)
        run_cli(["mailbox", "add", "bench", "--imap-url", folder_url(imap_url, folder)], env)
        if model == "demo":
            train_demo_model(env, workdir)
        wall, rss, tree_rss, cpu, counts = timed_poll(env, profile)
    finally:
        asyncio.run(drop_folder(imap_url, folder))
        if pg_name:
            asyncio.run(pg_database(os.environ.get("ROUTEDESK_BENCH_POSTGRES_URL", DEFAULT_PG), pg_name, drop=True))
        shutil.rmtree(run_dir, ignore_errors=True)
    if counts["fetched"] != n or counts["ingested"] + counts["duplicates"] != n:
        sys.exit(f"incomplete run: {counts}")
    return {
        "db": db,
        "model": model,
        "n": n,
        "wall_s": round(wall, 3),
        "msgs_per_s": round(n / wall, 1),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(rss, 1),
        "tree_peak_rss_mb": round(tree_rss, 1),
        "mailbox_mb": round(size / 1e6, 2),
        **counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--imap-url", help="an existing IMAP server (a fresh folder is made in it)")
    parser.add_argument("--parse-workers", type=int, default=None, help="ROUTEDESK_INGEST__PARSE_WORKERS")
    parser.add_argument("--fetch-batch", type=int, default=None, help="ROUTEDESK_IMAP__FETCH_BATCH")
    parser.add_argument("--profile", help="write a cProfile of the timed process to this file")
    parser.add_argument(
        "--model",
        choices=["none", "demo", "both"],
        default="both",
        help="poll without a routing model, with the demo's model active, or both",
    )
    args = parser.parse_args()
    extra: dict[str, str] = {}
    if args.parse_workers is not None:
        extra["ROUTEDESK_INGEST__PARSE_WORKERS"] = str(args.parse_workers)
    if args.fetch_batch is not None:
        extra["ROUTEDESK_IMAP__FETCH_BATCH"] = str(args.fetch_batch)
    workdir = Path(tempfile.mkdtemp(prefix="routedesk-bench-"))
    dovecot_dir = None
    try:
        imap_url = args.imap_url
        if imap_url is None:
            imap_url, dovecot_dir = start_dovecot(workdir)
        dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
        models = ["none", "demo"] if args.model == "both" else [args.model]
        summary = []
        for db in dbs:
            for model in models:
                runs = []
                for rep in range(args.reps):
                    result = one_run(db, imap_url, args.n, workdir, extra, args.profile, model)
                    runs.append(result)
                    print(f"{db} model={model} run {rep + 1}: {json.dumps(result)}", flush=True)
                median_wall = statistics.median(r["wall_s"] for r in runs)
                line = {
                    "db": db,
                    "model": model,
                    "n": args.n,
                    "median_wall_s": median_wall,
                    "median_msgs_per_s": round(args.n / median_wall, 1),
                    "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
                    "median_tree_peak_rss_mb": statistics.median(r["tree_peak_rss_mb"] for r in runs),
                    "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
                }
                summary.append(line)
                print(
                    f"routedesk {db} model={model} median of {args.reps}: {args.n} msgs in {median_wall:.2f} s = "
                    f"{line['median_msgs_per_s']} msg/s, peak RSS {line['median_peak_rss_mb']} MB "
                    f"(process tree {line['median_tree_peak_rss_mb']} MB), CPU {line['median_cpu_s']} s",
                    flush=True,
                )
        print(json.dumps(summary))
    finally:
        if dovecot_dir is not None:
            subprocess.run(
                ["doveadm", "-c", str(dovecot_dir / "dovecot.conf"), "stop"], check=False, capture_output=True
            )
            shutil.rmtree(dovecot_dir.parent, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
