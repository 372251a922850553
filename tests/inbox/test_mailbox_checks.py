"""`routedesk mailbox add` checks the IMAP and SMTP servers before it stores a mailbox, and `mailbox test`
(and POST /admin/mailboxes/{name}/test) checks a stored one: the command in-process (tests/cli.py
`routedesk`, its logs included in stderr), against Dovecot (ROUTEDESK_TEST_DOVECOT_URL) and a real SMTP
server (aiosmtpd). The first test adds the mailbox with the real command in a subprocess
(`run_routedesk`): the mailbox group's smoke test, and the passwords it is given are looked for in what
the real process printed."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import select

from app.inbox.models import Mailbox
from tests.api.desk import Desk, api_app, desk, sqlite_only
from tests.cli import routedesk, run_routedesk
from tests.fixtures.imap import ImapTestServer
from tests.fixtures.smtp import smtp_server

# The desk's fixtures (imported, as tests/replies/conftest.py does for its tests).
__all__ = ["api_app", "desk", "smtp_server"]

pytestmark = [sqlite_only, pytest.mark.parametrize("imap_server", ["dovecot"], indirect=True)]

# Every step of a check waits this long at most, so that the timeouts below take half a second.
SHORT = {"ROUTEDESK_IMAP__CHECK_TIMEOUT": "0.5", "ROUTEDESK_SMTP__CHECK_TIMEOUT": "0.5"}
SMTP_PASSWORD = "s3cret p@ss:/"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _smtp_url(desk: Desk, *, password: str = "s3cret%20p%40ss%3A%2F", port: int | None = None, tail: str = "") -> str:
    return f"smtp://mailer:{password}@127.0.0.1:{port or desk.smtp.port}{tail}"


async def _mailbox(desk: Desk, name: str) -> Mailbox | None:
    result: Mailbox | None = await desk.scalar(select(Mailbox).where(Mailbox.name == name))
    return result


async def test_mailbox_add_checks_both_servers_and_stores_the_smtp_settings(
    desk: Desk, imap_server: ImapTestServer
) -> None:
    desk.smtp.require_login("mailer", SMTP_PASSWORD)
    imap_url = imap_server.url
    added = await run_routedesk(
        desk.settings,
        "mailbox", "add", "acme",
        "--imap-url", imap_url,
        "--smtp-url", _smtp_url(desk),
        "--from-name", "Acme Support",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert desk.smtp.logins == ["mailer"]
    output = added.stdout + added.stderr
    assert imap_server.endpoint.password not in output and "s3cret" not in output
    assert f"smtp smtp://mailer:***@127.0.0.1:{desk.smtp.port}, sent as 'Acme Support'" in added.stdout
    mailbox = await _mailbox(desk, "acme")
    assert mailbox is not None
    assert (mailbox.smtp_host, mailbox.smtp_port, mailbox.smtp_security, mailbox.smtp_username) == (
        "127.0.0.1",
        desk.smtp.port,
        "none",
        "mailer",
    )
    assert mailbox.from_name == "Acme Support"
    assert mailbox.smtp_password_encrypted is not None
    assert SMTP_PASSWORD.encode() not in mailbox.smtp_password_encrypted.encode()
    assert desk.runtime.secrets.decrypt(mailbox.smtp_password_encrypted) == SMTP_PASSWORD

    tested = await routedesk(desk.settings, "mailbox", "test", "acme")
    assert tested.returncode == 0, tested.stderr
    assert tested.stdout.splitlines() == [
        f"imap: ok {imap_server.endpoint}",
        f"smtp: ok smtp://mailer:***@127.0.0.1:{desk.smtp.port}",
    ]
    listed = await routedesk(desk.settings, "mailbox", "list")
    rows = {row["name"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert rows["acme"]["smtp"] == f"smtp://mailer:***@127.0.0.1:{desk.smtp.port}"
    assert "s3cret" not in listed.stdout

    response = await desk.admin.post("/admin/mailboxes/acme/test")
    assert response.status_code == 200, response.text
    assert [(c["check"], c["ok"], c["reason"]) for c in response.json()] == [("imap", True, None), ("smtp", True, None)]
    assert (await desk.agent.post("/admin/mailboxes/acme/test")).status_code == 403
    assert (await desk.admin.post("/admin/mailboxes/nope/test")).status_code == 404


async def test_mailbox_add_refuses_a_server_that_fails_its_check_with_the_exact_reason(
    desk: Desk, imap_server: ImapTestServer, silent_port: int, closed_port: int
) -> None:
    desk.smtp.require_login("mailer", SMTP_PASSWORD)
    good_imap = imap_server.endpoint
    good_smtp = _smtp_url(desk)
    plain = replace(good_imap, security="none")
    cases = [
        (replace(good_imap, password="wrong").to_url(), good_smtp, "imap: login refused"),
        (replace(good_imap, folder="NoSuchFolder").to_url(), good_smtp, "imap: no such folder"),
        (replace(good_imap, port=closed_port).to_url(), good_smtp, "imap: refused"),
        (replace(good_imap, port=silent_port).to_url(), good_smtp, "imap: timed out"),
        (plain.to_url().replace("imap://", "imaps://"), good_smtp, "imap: TLS failure"),
        (good_imap.to_url(), _smtp_url(desk, password="wrong"), "smtp: login refused"),
        (good_imap.to_url(), _smtp_url(desk, tail="?tls=starttls"), "smtp: TLS failure"),
        (good_imap.to_url(), _smtp_url(desk).replace("smtp://", "smtps://"), "smtp: TLS failure"),
        (good_imap.to_url(), _smtp_url(desk, port=closed_port), "smtp: refused"),
        (good_imap.to_url(), _smtp_url(desk, port=silent_port), "smtp: timed out"),
    ]
    for imap_url, smtp_url, reason in cases:
        done = await routedesk(
            desk.settings,
            "mailbox", "add", "acme", "--imap-url", imap_url, "--smtp-url", smtp_url,
            # Short steps only where the wait is the point: a loaded machine may log in slower than that.
            **(SHORT if reason.endswith("timed out") else {}),
        )  # fmt: skip
        assert done.returncode == 1, (reason, done.stdout, done.stderr)
        lines = done.stderr.splitlines()
        assert lines[-1] == "error: mailbox 'acme' not added (--no-check adds it without checking)", lines
        assert [line for line in lines[:-1] if line.startswith(f"error: {reason} ")], (reason, lines)
        assert good_imap.password not in done.stderr and "s3cret" not in done.stderr
        assert await _mailbox(desk, "acme") is None, reason


async def test_mailbox_add_tells_a_taken_name_or_a_bad_address_before_checking_any_server(
    desk: Desk, imap_server: ImapTestServer, silent_port: int
) -> None:
    taken = await routedesk(
        desk.settings, "mailbox", "add", "acme", "--imap-url", imap_server.endpoint.to_url(), "--no-check"
    )
    assert taken.returncode == 0, taken.stderr
    # A server that never answers: had either command checked it, it would say "imap: timed out".
    silent = replace(imap_server.endpoint, port=silent_port, security="none").to_url()
    for args, message in [
        (["acme"], "error: a mailbox named 'acme' exists already"),
        (["other", "--address", "not an address"], "error: invalid mailbox settings: address"),
    ]:
        done = await routedesk(desk.settings, "mailbox", "add", *args, "--imap-url", silent)
        assert done.returncode != 0, done.stdout
        assert done.stderr.strip().splitlines() == [message], done.stderr
    assert await _mailbox(desk, "other") is None


async def test_mailbox_added_without_checks_is_tested_one_line_per_check(
    desk: Desk, imap_server: ImapTestServer, closed_port: int
) -> None:
    added = await routedesk(
        desk.settings,
        "mailbox", "add", "unchecked",
        "--imap-url", replace(imap_server.endpoint, password="wrong").to_url(),
        "--smtp-url", f"smtp://127.0.0.1:{closed_port}",
        "--no-check",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "servers not checked (--no-check)" in added.stdout
    tested = await routedesk(desk.settings, "mailbox", "test", "unchecked")
    assert tested.returncode == 1
    imap_line, smtp_line = tested.stdout.splitlines()
    assert imap_line.startswith(f"imap: login refused {replace(imap_server.endpoint, password='x')}: login as ")
    assert smtp_line.startswith(f"smtp: refused smtp://127.0.0.1:{closed_port}: cannot connect to 127.0.0.1:")

    response = await desk.admin.post("/admin/mailboxes/unchecked/test")
    assert response.status_code == 200, response.text
    assert [(c["check"], c["ok"], c["reason"]) for c in response.json()] == [
        ("imap", False, "login refused"),
        ("smtp", False, "refused"),
    ]
    missing = await routedesk(desk.settings, "mailbox", "test", "nope")
    assert (missing.returncode, missing.stderr.strip()) == (1, "error: no mailbox named 'nope'")


async def test_mailbox_test_says_a_mailbox_without_smtp_cannot_send(desk: Desk, imap_server: ImapTestServer) -> None:
    added = await routedesk(desk.settings, "mailbox", "add", "inonly", "--imap-url", imap_server.url)
    assert added.returncode == 0, added.stderr
    assert "no SMTP: acknowledgements and replies fail until it is set" in added.stdout
    tested = await routedesk(desk.settings, "mailbox", "test", "inonly")
    assert tested.returncode == 1
    assert tested.stdout.splitlines()[1] == (
        "smtp: not configured: the mailbox has no SMTP settings: acknowledgements and replies cannot be sent"
    )
