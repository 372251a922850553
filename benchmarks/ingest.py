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

Sender trust (--trust off,authres,dkim, issue 14): the mailbox holds the corpus DKIM-signed for real
(dkimpy, the From domain as d=, eight test RSA-2048 keys shared out over the domains; the corpus's own
made-up signatures removed, its Authentication-Results from mx1.support.example.com kept), and each
condition is timed on the same bytes: "off" trusts nothing (the default), "authres" trusts
mx1.support.example.com's Authentication-Results, "dkim" adds ROUTEDESK_INGEST__VERIFY_DKIM=true. The
test keys are not in any DNS: the timed process is this script (--child-poll), which runs
`routedesk poll --once` with its parse workers started by an initializer that answers DKIM key
lookups from the benchmark's records in-process (mailtext.trust.use_dns), cached per worker as in
production. Only the lookup is replaced; dkimpy verifies every signature.

Memory, read from /proc every 5 ms while the poll runs: peak_rss_mb is the poll process's own peak
(the kernel's VmHWM); tree_peak_rss_mb adds the peaks of every process it started (parse worker,
multiprocessing's resource tracker): an upper bound of what the machine had to hold at once. Not
ru_maxrss from wait4(), which also counts the benchmark's own pages, shared with the child between
fork and exec.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Iterable
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
    return await load_raws(url, folder, (raw for raw, _label in generate_emails(n)))


async def load_raws(url: str, folder: str, raws: Iterable[bytes]) -> int:
    endpoint = parse_imap_url(url)
    settings = ImapSettings()
    total = 0
    async with ImapClient(endpoint, settings) as client:
        await client.create_folder(folder)
        for raw in raws:
            await client.append(raw, folder)
            total += len(raw)
    return total


TRUSTED_AUTHSERV_ID = "mx1.support.example.com"  # the demo corpus's receiving MTA
TRUST_CONDITIONS = {
    "off": {},
    "authres": {"ROUTEDESK_INGEST__TRUSTED_AUTHSERV_IDS": TRUSTED_AUTHSERV_ID},
    "dkim": {"ROUTEDESK_INGEST__TRUSTED_AUTHSERV_IDS": TRUSTED_AUTHSERV_ID, "ROUTEDESK_INGEST__VERIFY_DKIM": "true"},
}
_FAKE_SIGNATURE = re.compile(rb"^DKIM-Signature:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*\r?\n", re.M | re.I)


class Signer:
    """Real DKIM signatures (dkimpy) for the corpus: d= the From domain, selector bench, one of a few
    RSA keys per domain; `records` is the DNS a parse worker is given to verify them."""

    def __init__(self, keys: int = 8, bits: int = 2048) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.keys: list[tuple[bytes, str]] = []
        for _ in range(keys):
            key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )
            der = key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            self.keys.append((pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode("ascii")))
        self.records: dict[str, str] = {}

    def sign(self, raw: bytes) -> bytes:
        import dkim

        from mailtext.message import parse_message

        raw = _FAKE_SIGNATURE.sub(b"", raw)
        sender = parse_message(raw).from_address or "someone@unknown.example"
        domain = sender.rpartition("@")[2]
        pem, txt = self.keys[zlib.crc32(domain.encode()) % len(self.keys)]
        self.records[f"bench._domainkey.{domain}"] = txt
        return bytes(dkim.sign(raw, b"bench", domain.encode(), pem, canonicalize=(b"relaxed", b"relaxed"))) + raw


def _worker_with_dns(parent_pid: int, records: dict[str, str]) -> None:
    """A parse worker's initializer in --child-poll: what app.worker's does, then the benchmark's DNS."""
    from app.inbox.parsing import die_with_parent
    from mailtext.trust import use_dns

    die_with_parent(parent_pid)
    use_dns(records.get)


def child_poll(records_path: str) -> None:
    """The timed process of a --trust run: `routedesk poll --once`, its parse workers answering DKIM key
    lookups from the benchmark's records (a JSON file) instead of the DNS."""
    import functools

    import app.worker
    from app.cli import main as routedesk
    from mailtext.trust import use_dns

    records: dict[str, str] = json.loads(Path(records_path).read_text())
    use_dns(records.get)  # for batches small enough to parse in this process
    app.worker.parse_executor = functools.partial(
        app.worker.parse_executor, initializer=_worker_with_dns, initargs=(records,)
    )
    sys.argv = ["routedesk", "poll", "--once"]
    routedesk()


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
    trust: str
    verdicts: dict[str, int]
    n: int
    wall_s: float
    msgs_per_s: float
    cpu_s: float
    peak_rss_mb: float
    tree_peak_rss_mb: float
    mailbox_mb: float


def timed_poll(
    env: dict[str, str], profile: str | None = None, records: Path | None = None
) -> tuple[float, float, float, float, PollCounts, dict[str, int]]:
    start = time.perf_counter()
    prefix = ["-m", "cProfile", "-o", profile] if profile else []
    command = ["-m", "app.cli", "poll", "--once"]
    if records is not None:
        command = [str(Path(__file__).resolve()), "--child-poll", str(records)]
    proc = subprocess.Popen(
        [sys.executable, *prefix, *command],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    sampler = TreeSampler(proc.pid)
    sampler.start()
    # Both pipes read at once: a poll logging at level info (--trust) fills stderr's pipe long before
    # it prints its counts, and one read after the other would have it wait on the full pipe.
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read() if proc.stderr else b""), daemon=True)
    reader.start()
    out = proc.stdout.read()
    reader.join()
    err = errors[0] if errors else b""
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
    peak, tree = sampler.peaks.get(proc.pid, 0) / 1024, sum(sampler.peaks.values()) / 1024
    return wall, peak, tree, cpu, counts, verdicts(err.decode(errors="replace"))


def verdicts(log: str) -> dict[str, int]:
    """The sender-trust verdicts the poll's batch_ingested lines counted (JSON logs at level info)."""
    totals = {"verified": 0, "unverified": 0, "failed": 0}
    for line in log.splitlines():
        if '"batch_ingested"' in line:
            event = json.loads(line)
            for verdict in totals:
                totals[verdict] += int(event.get(f"trust_{verdict}", 0))
    return totals


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
    trust: str | None = None,
    signed: tuple[list[bytes], Path] | None = None,
) -> Run:
    if signed is None:
        folder = f"bench{uuid.uuid4().hex[:8]}"
        size = asyncio.run(load_mailbox(imap_url, folder, n))
    else:  # the signed corpus, made once: every trust condition polls the same bytes
        folder = f"bench{uuid.uuid4().hex[:8]}"
        size = asyncio.run(load_raws(imap_url, folder, signed[0]))
    if trust is not None:
        extra_env = {**extra_env, **TRUST_CONDITIONS[trust]}
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
        if trust is not None:  # a line per batch (fetch_batch messages), to count the verdicts by
            env.update(ROUTEDESK_LOG_LEVEL="info", ROUTEDESK_LOG_JSON="true")
        wall, rss, tree_rss, cpu, counts, trusted = timed_poll(env, profile, signed[1] if signed else None)
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
        "trust": trust or "",
        "verdicts": trusted,
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
    parser.add_argument(
        "--trust",
        help="comma-separated sender-trust conditions to time on a DKIM-signed corpus: off, authres, dkim",
    )
    parser.add_argument("--child-poll", help=argparse.SUPPRESS)  # the timed process of a --trust run
    args = parser.parse_args()
    if args.child_poll:
        child_poll(args.child_poll)
        return
    trusts: list[str | None] = [None]
    if args.trust:
        trusts = [item.strip() for item in args.trust.split(",")]
        unknown = [item for item in trusts if item not in TRUST_CONDITIONS]
        if unknown:
            parser.error(f"--trust: unknown condition {unknown[0]!r} (off, authres, dkim)")
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
        signed: tuple[list[bytes], Path] | None = None
        if args.trust:
            signer = Signer()
            raws = [signer.sign(raw) for raw, _label in generate_emails(args.n)]
            records = workdir / "dns.json"
            records.write_text(json.dumps(signer.records))
            signed = (raws, records)
            print(f"signed {len(raws)} messages for {len(signer.records)} domains", flush=True)
        summary = []
        for db in dbs:
            conditions = [(model, trust) for model in models for trust in trusts]
            # Repetition by repetition, every condition in turn: a change in the machine's load (others
            # share it) then weighs on every condition alike rather than on the one running then.
            results: dict[tuple[str, str | None], list[Run]] = {condition: [] for condition in conditions}
            for rep in range(args.reps):
                for model, trust in conditions:
                    label = f"{db} model={model}" + (f" trust={trust}" if trust else "")
                    result = one_run(db, imap_url, args.n, workdir, extra, args.profile, model, trust, signed)
                    results[model, trust].append(result)
                    print(f"{label} run {rep + 1}: {json.dumps(result)}", flush=True)
            for (model, trust), runs in results.items():
                label = f"{db} model={model}" + (f" trust={trust}" if trust else "")
                median_wall = statistics.median(r["wall_s"] for r in runs)
                line = {
                    "db": db,
                    "model": model,
                    "trust": trust or "",
                    "n": args.n,
                    "median_wall_s": median_wall,
                    "median_msgs_per_s": round(args.n / median_wall, 1),
                    "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
                    "median_tree_peak_rss_mb": statistics.median(r["tree_peak_rss_mb"] for r in runs),
                    "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
                }
                summary.append(line)
                print(
                    f"routedesk {label} median of {args.reps}: {args.n} msgs in {median_wall:.2f} s = "
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
