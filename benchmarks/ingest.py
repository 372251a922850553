"""Ingest benchmark: N generated support emails in a real IMAP server, `routedesk poll --once` timed.

Usage:
    python benchmarks/ingest.py [--n 5000] [--reps 3] [--db sqlite|postgresql|both] [--imap-url URL]

Without --imap-url it starts a throwaway Dovecot on loopback (needs `dovecot` installed, e.g.
`apt-get install dovecot-imapd`) through tests/fixtures/dovecot.sh; with --imap-url it uses that
server and a fresh folder in it. PostgreSQL comes from ROUTEDESK_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test): a new database is created per run and dropped after.

Timed: one `routedesk poll --once` process from spawn to exit (Python start-up, IMAP login, every
message fetched, parsed, threaded and committed). Not timed: loading the mailbox, creating the
database. Peak RSS is the child's ru_maxrss from wait4().
"""

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
import uuid
from pathlib import Path

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
        check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=60,
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
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=env, check=True,
                          capture_output=True, text=True)


def timed_poll(env: dict[str, str], profile: str | None = None) -> tuple[float, float, float, dict[str, int]]:
    start = time.perf_counter()
    prefix = ["-m", "cProfile", "-o", profile] if profile else []
    proc = subprocess.Popen([sys.executable, *prefix, "-m", "app.cli", "poll", "--once"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"poll failed ({proc.returncode}): {err.decode()[-2000:]}")
    counts = json.loads(out.decode().strip().splitlines()[-1])
    # CPU seconds (user + system) of the poll process and its children (parse workers, reaped before
    # it exits): steadier than wall time on a machine that other processes load.
    cpu = usage.ru_utime + usage.ru_stime
    return wall, usage.ru_maxrss / 1024, cpu, counts


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
    db: str, imap_url: str, n: int, workdir: Path, extra_env: dict[str, str], profile: str | None = None
) -> dict[str, object]:
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
        wall, rss, cpu, counts = timed_poll(env, profile)
    finally:
        asyncio.run(drop_folder(imap_url, folder))
        if pg_name:
            asyncio.run(pg_database(os.environ.get("ROUTEDESK_BENCH_POSTGRES_URL", DEFAULT_PG), pg_name, drop=True))
        shutil.rmtree(run_dir, ignore_errors=True)
    if counts["fetched"] != n or counts["ingested"] + counts["duplicates"] != n:
        sys.exit(f"incomplete run: {counts}")
    return {"db": db, "n": n, "wall_s": round(wall, 3), "msgs_per_s": round(n / wall, 1),
            "cpu_s": round(cpu, 2), "peak_rss_mb": round(rss, 1), "mailbox_mb": round(size / 1e6, 2), **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--imap-url", help="an existing IMAP server (a fresh folder is made in it)")
    parser.add_argument("--parse-workers", type=int, default=None, help="ROUTEDESK_INGEST__PARSE_WORKERS")
    parser.add_argument("--fetch-batch", type=int, default=None, help="ROUTEDESK_IMAP__FETCH_BATCH")
    parser.add_argument("--profile", help="write a cProfile of the timed process to this file")
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
        summary = []
        for db in dbs:
            runs = []
            for rep in range(args.reps):
                result = one_run(db, imap_url, args.n, workdir, extra, args.profile)
                runs.append(result)
                print(f"{db} run {rep + 1}: {json.dumps(result)}", flush=True)
            median_wall = statistics.median(r["wall_s"] for r in runs)  # type: ignore[misc]
            line = {
                "db": db, "n": args.n, "median_wall_s": median_wall,
                "median_msgs_per_s": round(args.n / median_wall, 1),
                "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),  # type: ignore[misc]
                "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),  # type: ignore[misc]
            }
            summary.append(line)
            print(f"routedesk {db} median of {args.reps}: {args.n} msgs in {median_wall:.2f} s = "
                  f"{line['median_msgs_per_s']} msg/s, peak RSS {line['median_peak_rss_mb']} MB, "
                  f"CPU {line['median_cpu_s']} s", flush=True)
        print(json.dumps(summary))
    finally:
        if dovecot_dir is not None:
            subprocess.run(["doveadm", "-c", str(dovecot_dir / "dovecot.conf"), "stop"], check=False,
                           capture_output=True)
            shutil.rmtree(dovecot_dir.parent, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
