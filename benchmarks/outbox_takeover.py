"""Outbox takeover benchmark: how long a reply waits after its sender is killed with SIGKILL mid-send.

Usage:
    python benchmarks/outbox_takeover.py [--reps 3] [--database-url URL] [--lease S] [--heartbeat S]

Two sender processes (`python -m tests.replies.sender_process`) run against one database and a real
aiosmtpd sink on loopback. The sink holds the first DATA, so sender A has the reply in hand when it is
killed; sender B polls all along. Timed: from the kill to the reply accepted at the sink (sent by B).
With the default settings (30 s lease renewed every 10 s) the bound is lease + poll interval; before
the heartbeat it was the 300 s lease. SQLite in a temporary directory unless --database-url.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.config import Settings  # noqa: E402
from app.db import unit_of_work, utcnow  # noqa: E402
from app.inbox import mailboxes  # noqa: E402
from app.inbox.schemas import MailboxCreate  # noqa: E402
from app.mail.compose import compose, new_message_id  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.replies.models import Outbox  # noqa: E402
from app.runtime import open_runtime  # noqa: E402
from tests.fixtures.smtp import SmtpTestServer  # noqa: E402

SUPPORT = "support@routedesk.example"


def _env(settings: Settings, smtp: dict[str, float]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEDESK_")}
    env.update(
        ROUTEDESK_DATABASE_URL=settings.database_url,
        ROUTEDESK_DATA_DIR=str(settings.data_dir),
        ROUTEDESK_LOG_LEVEL="warning",
        PYTHONPATH=str(REPO),
    )
    env.update({f"ROUTEDESK_SMTP__{k.upper()}": str(v) for k, v in smtp.items()})
    return env


async def _spawn(owner: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.replies.sender_process", owner, env=env, cwd=REPO
    )


async def _queue(settings: Settings, mailbox_id: int, n: int) -> None:
    async with open_runtime(settings) as runtime, unit_of_work(runtime.sessionmaker) as session:
        message_id = new_message_id(SUPPORT)
        raw = compose(
            from_address=SUPPORT,
            from_name="Support",
            to=["ana@merchant.example"],
            subject=f"Re: Payout missing ({n})",
            body="Your payout left on Tuesday.",
            message_id=message_id,
            in_reply_to=None,
            references=[],
            date=utcnow(),
            automatic=False,
        )
        session.add(
            Outbox(mailbox_id=mailbox_id, kind="reply", mail_from=SUPPORT, rcpt_to="ana@merchant.example", raw=raw)
        )


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="outbox-takeover-"))
    url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'routedesk.db'}"
    settings = Settings(database_url=url, data_dir=tmp / "data")
    await asyncio.to_thread(upgrade, settings.database_url)
    sink = SmtpTestServer()
    server = await asyncio.get_running_loop().create_server(sink._protocol, host=sink.host, port=0)
    sink.port = server.sockets[0].getsockname()[1]
    async with open_runtime(settings) as runtime, unit_of_work(runtime.sessionmaker) as session:
        mailbox = await mailboxes.create_mailbox(
            session,
            MailboxCreate(
                name="support",
                imap_host="127.0.0.1",
                imap_username=SUPPORT,
                imap_password="x",
                address=SUPPORT,
                smtp_host=sink.host,
                smtp_port=sink.port,
                smtp_security="none",
            ),
            secrets=runtime.secrets,
        )
        mailbox_id = mailbox.id
    smtp: dict[str, float] = {}
    if args.lease:
        smtp["send_lease_seconds"] = args.lease
    if args.heartbeat:
        smtp["send_heartbeat_seconds"] = args.heartbeat
    effective = Settings(smtp=smtp).smtp
    env = _env(settings, smtp)
    waits = []
    for n in range(args.reps):
        sink.hold()
        doomed = await _spawn(f"doomed-{n}", env)
        await _queue(settings, mailbox_id, n)
        await sink.wait_held(1, timeout=60)
        survivor = await _spawn(f"survivor-{n}", env)
        await asyncio.sleep(1)  # the survivor is up and polling before the kill
        doomed.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await doomed.wait()
        await sink.wait_none_held(timeout=30)
        sink.release()
        await sink.wait_for(n + 1, timeout=effective.send_lease_seconds * 3 + 60)
        waits.append(time.monotonic() - killed)
        survivor.send_signal(signal.SIGKILL)
        await survivor.wait()
    server.close()
    print(
        json.dumps(
            {
                "database": url.split(":", 1)[0],
                "send_lease_seconds": effective.send_lease_seconds,
                "send_heartbeat_seconds": effective.send_heartbeat_seconds,
                "poll_interval": effective.poll_interval,
                "takeover_s": [round(w, 1) for w in waits],
                "median_s": round(statistics.median(waits), 1),
                "max_s": round(max(waits), 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--database-url")
    parser.add_argument("--lease", type=float)
    parser.add_argument("--heartbeat", type=float)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
