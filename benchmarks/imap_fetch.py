"""How fast does the IMAP adapter pull mail? APPENDs N generated ~6 KB messages into a scratch
folder, then times uids_after + fetch in batches and prints msg/s.

    python benchmarks/imap_fetch.py imap://support%40example.com:PASS@127.0.0.1:11143/INBOX
    python benchmarks/imap_fetch.py --pymap              # in-process pymap instead of a URL
    python benchmarks/imap_fetch.py URL --raw            # also time plain aioimaplib, for comparison

The folder of the URL is ignored: a folder `rd_bench_<random>` is created and deleted afterwards,
unless --folder names one to reuse (messages already there count towards N; --keep keeps it).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aioimaplib

from app.config import ImapSettings
from app.demo.imap_server import LocalImapServer
from app.mail.imap import ImapClient, ImapEndpoint, parse_imap_url

_VOCABULARY = (
    "payment refund card charged twice invoice payout merchant account verification dispute "
    "chargeback settlement webhook api key dashboard login password reset bank transfer fee currency "
    "conversion subscription cancel renewal receipt order customer checkout terminal pos integration "
    "error timeout please help urgent thanks regards hello team question issue since yesterday again "
    "still not working"
)
WORDS = _VOCABULARY.split()


def generate_message(n: int, rng: random.Random, size: int = 6000) -> bytes:
    """A plain support email of about `size` bytes, CRLF line endings, with some 8-bit text."""
    sent = datetime(2024, 5, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=n)
    headers = (
        f"From: Customer {n} <customer{n}@merchant{n % 97}.example>\r\n"
        f"To: support@example.com\r\n"
        f"Subject: {' '.join(rng.choices(WORDS, k=6))} #{n}\r\n"
        f"Date: {format_datetime(sent)}\r\n"
        f"Message-ID: <bench-{n}-{rng.getrandbits(48):x}@merchant.example>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
    ).encode()
    lines: list[bytes] = []
    length = len(headers)
    while length < size:
        line = " ".join(rng.choices(WORDS, k=rng.randint(6, 14))).capitalize().encode()
        if rng.random() < 0.1:
            line += " (déjà vu, ça marche pas)".encode()
        lines.append(line + b"\r\n")
        length += len(lines[-1])
    return headers + b"".join(lines)


async def load(endpoint: ImapEndpoint, folder: str, count: int, start: int, connections: int) -> float:
    """APPEND `count` messages over several connections; returns the seconds it took."""
    settings = ImapSettings(command_timeout=120)
    began = time.perf_counter()

    async def worker(offset: int) -> None:
        rng = random.Random(offset)
        async with ImapClient(replace(endpoint, folder="INBOX"), settings) as client:
            for n in range(start + offset, start + count, connections):
                await client.append(generate_message(n, rng), folder)

    await asyncio.gather(*(worker(i) for i in range(connections)))
    return time.perf_counter() - began


async def time_adapter(endpoint: ImapEndpoint, batch: int) -> tuple[int, int, float, float]:
    """(messages, bytes, wall seconds, CPU seconds of this process) for uids_after + batched fetch."""
    async with ImapClient(endpoint, ImapSettings(fetch_batch=min(batch, 5000), command_timeout=300)) as client:
        wall, cpu = time.perf_counter(), time.process_time()
        uids = await client.uids_after(0)
        count = size = 0
        for i in range(0, len(uids), batch):
            for message in await client.fetch(uids[i : i + batch]):
                count += 1
                size += len(message.raw)
        return count, size, time.perf_counter() - wall, time.process_time() - cpu


async def time_raw_aioimaplib(endpoint: ImapEndpoint, batch: int) -> tuple[int, int, float, float]:
    """The same work through plain aioimaplib (its own reader), to show what the adapter changes."""
    imap = aioimaplib.IMAP4(host=endpoint.host, port=endpoint.port, timeout=300)
    await imap.wait_hello_from_server()
    await imap.login(f'"{endpoint.username}"', endpoint.password)
    await imap.select(f'"{endpoint.folder}"')
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        await imap.noop()
        response = await imap.uid_search("UID 1:*", charset=None)
        uids = sorted(int(token) for line in response.lines[:-1] for token in line.split() if token.isdigit())
        count = size = 0
        for i in range(0, len(uids), batch):
            chunk = uids[i : i + batch]
            response = await imap.uid("fetch", ",".join(map(str, chunk)), "(UID BODY.PEEK[])")
            for line in response.lines:
                if isinstance(line, bytearray):
                    count += 1
                    size += len(line)
        return count, size, time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await imap.logout()


def report(label: str, runs: Sequence[tuple[int, int, float, float]]) -> None:
    count, size = runs[0][0], runs[0][1]
    rates = [n / wall for n, _, wall, _ in runs]
    cpu_rates = [n / cpu for n, _, _, cpu in runs if cpu > 0]
    print(
        f"{label:<28} {count:>6} msgs {size / count / 1024:5.1f} KB avg | "
        f"best {max(rates):8.0f} msg/s  median {statistics.median(rates):8.0f} msg/s  "
        f"({max(rates) * size / count / 2**20:6.1f} MB/s) | "
        f"client CPU {statistics.median(cpu_rates):8.0f} msg/cpu-s"
    )


async def run(args: argparse.Namespace) -> None:
    if args.pymap:
        async with LocalImapServer() as server:
            await bench(args, server.endpoint, server)
    else:
        await bench(args, parse_imap_url(args.url), None)


async def bench(args: argparse.Namespace, base: ImapEndpoint, server: LocalImapServer | None) -> None:
    folder = args.folder or f"rd_bench_{uuid.uuid4().hex[:8]}"
    endpoint = replace(base, folder=folder)
    async with ImapClient(replace(base, folder="INBOX"), ImapSettings(command_timeout=120)) as admin:
        await admin.create_folder(folder)
        try:
            async with ImapClient(endpoint, ImapSettings()) as client:
                present = client.exists
            if present < args.messages:
                missing = args.messages - present
                if server is not None:
                    rng = random.Random(0)
                    began = time.perf_counter()
                    for n in range(present, args.messages):
                        await server.append(generate_message(n, rng), folder)
                    seconds = time.perf_counter() - began
                else:
                    seconds = await load(base, folder, missing, present, args.connections)
                rate = missing / seconds
                print(f"loaded {missing} messages into {folder!r} in {seconds:.1f}s ({rate:.0f} msg/s)")
            kind = "pymap in-process" if server else "by URL"
            print(f"server {base.host}:{base.port} ({kind}), folder {folder!r}")
            for batch in args.batch:
                runs = [await time_adapter(endpoint, batch) for _ in range(args.repeat)]
                report(f"adapter batch={batch}", runs)
                if args.raw:
                    raw_runs = [await time_raw_aioimaplib(endpoint, batch) for _ in range(args.repeat)]
                    report(f"plain aioimaplib batch={batch}", raw_runs)
        finally:
            if not args.keep:
                await admin.delete_folder(folder, missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", help="imap://USER:PASS@HOST:PORT/ (Dovecot)")
    parser.add_argument("--pymap", action="store_true", help="benchmark an in-process pymap server instead")
    parser.add_argument("-n", "--messages", type=int, default=5000)
    parser.add_argument(
        "--batch",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[100, 200, 500],
        help="comma-separated UIDs per fetch() call (default 100,200,500)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per batch size (best and median shown)")
    parser.add_argument("--connections", type=int, default=4, help="parallel connections while loading")
    parser.add_argument("--folder", help="reuse this folder instead of a scratch one")
    parser.add_argument("--keep", action="store_true", help="do not delete the folder afterwards")
    parser.add_argument("--raw", action="store_true", help="also time plain aioimaplib")
    args = parser.parse_args()
    if not args.url and not args.pymap:
        parser.error("give an IMAP URL or --pymap")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
