"""README's "Running it for real" block, run as a user would paste it: its shell lines, read from
README.md at test time, in one bash script, against a real Dovecot (ROUTEDESK_TEST_DOVECOT_URL, from
tests/fixtures/dovecot.sh) and a real SMTP server (aiosmtpd, asking for the same login).

The only changes made to the lines (each asserted to be found, so that a README edit that drops one
fails here rather than silently testing less):
- `postgresql://routedesk@db/routedesk` -> this test's PostgreSQL database;
- `ROUTEDESK_SECRET_KEY=...` -> a freshly generated Fernet key;
- `imaps://` -> `imap://`: the Dovecot fixture listens without TLS;
- `imap.example.com:993` and `smtp.example.com:587` -> the two servers' 127.0.0.1:PORT;
- `/INBOX` -> this test's own Dovecot folder (the mail user `support%40example.com` stays as written);
- `PASSWORD` (both) -> the Dovecot user's password, which the SMTP server asks for too;
- `?tls=starttls` removed from the SMTP URL: the test SMTP server speaks no TLS;
- `routedesk run` -> `exec routedesk run --port PORT`: a free port, and SIGTERM reaches the process.
Then one mail is delivered to the folder and the acknowledgement must reach the SMTP server; SIGTERM
must end `routedesk run` cleanly (exit 0)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.fixtures.imap import ImapTestServer
from tests.fixtures.smtp import SmtpTestServer, smtp_server
from tests.mailgen import mail

__all__ = ["smtp_server"]

REPO = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
    pytest.mark.parametrize("imap_server", ["dovecot"], indirect=True),
]


def readme_block() -> str:
    """The first shell code block of README's "Running it for real" section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Running it for real\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```(?:sh|bash|shell)\n(.*?)```", section, re.S)
    assert match, "no shell code block in README's 'Running it for real'"
    return match.group(1)


def substitute(block: str, replacements: list[tuple[str, str]]) -> str:
    for old, new in replacements:
        assert old in block, f"README's 'Running it for real' no longer has {old!r}: update this test"
        block = block.replace(old, new)
    return block


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_readme_running_it_for_real_works_verbatim(
    database_url: str, imap_server: ImapTestServer, smtp_server: SmtpTestServer, tmp_path: Path
) -> None:
    imap = imap_server.endpoint
    smtp_server.require_login(imap.username, imap.password)
    port = free_port()
    block = readme_block()
    assert re.search(r"^routedesk run\b", block, re.M), "the block no longer starts `routedesk run`"
    script = substitute(
        block,
        [
            ("postgresql://routedesk@db/routedesk", database_url),
            ("ROUTEDESK_SECRET_KEY=...", f"ROUTEDESK_SECRET_KEY={Fernet.generate_key().decode()}"),
            ("imaps://", "imap://"),
            ("imap.example.com:993", f"{imap.host}:{imap.port}"),
            ("smtp.example.com:587", f"{smtp_server.host}:{smtp_server.port}"),
            ("/INBOX", f"/{imap.folder}"),
            ("PASSWORD", imap.password),
            ("?tls=starttls", ""),
        ],
    )
    script = re.sub(r"^routedesk run\b", f"exec routedesk run --port {port}", script, flags=re.M)
    assert imap.username == "support@example.com", "the README's mail user is the Dovecot fixture's"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEDESK_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-euo",
        "pipefail",
        "-c",
        script,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = asyncio.create_task(proc.stdout.read()) if proc.stdout else None
    try:
        async with httpx.AsyncClient() as client:
            async with asyncio.timeout(240):
                while True:
                    assert proc.returncode is None, "the README's lines stopped before `routedesk run` served"
                    try:
                        if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.wait({asyncio.ensure_future(proc.wait())}, timeout=0.2)
        await imap_server.append(mail(message_id="<readme-real@merchant.example>", sender="Ana <ana@merchant.example>"))
        [ack] = await smtp_server.wait_for(1, timeout=120)
        assert ack.rcpt_tos == ("ana@merchant.example",)
        assert ack.mail_from == "support@example.com"
        assert str(ack.message["From"]) == "Acme Support <support@example.com>"
        assert ack.message["In-Reply-To"] == "<readme-real@merchant.example>"
        assert smtp_server.logins and set(smtp_server.logins) == {"support@example.com"}
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            code = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = (await output).decode(errors="replace") if output else ""
    assert code == 0, text
    assert "mailbox 'support' added" in text and "smtp: ok" in text and "imap: ok" in text, text
    assert imap.password not in text, "a password was printed"
