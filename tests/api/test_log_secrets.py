"""A run full of failures, then a search of everything it logged for every secret it used.

The failures are the ones an operator's worst day brings: 500s (a route failing while it holds a token,
passwords and a mail body; a broken database schema under authenticated requests), bad tokens,
validation errors carrying passwords, mailboxes created with a wrong IMAP password and their poller's
login refused by a real IMAP server, a reply whose SMTP login a real SMTP server refuses, and a
database that refuses connections. Both log formats, at debug level (the most the log ever says),
in-process through httpx and as a real `routedesk serve` process. No secret may appear in any form:
raw, base64, URL-encoded, repr'd or JSON-escaped."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from sqlalchemy import select, text
from starlette.requests import Request

from app.config import Settings
from app.db import SessionDep, unit_of_work
from app.inbox import repository
from app.inbox.models import Mailbox
from app.inbox.poller import MailboxPoller, MailboxRef
from app.inbox.schemas import MailboxCreate
from app.ports import free_port
from app.runtime import Runtime
from app.users import service as users
from tests.api.desk import SUPPORT, Desk
from tests.fixtures.imap import ImapTestServer
from tests.logcapture import LogCapture
from tests.mailgen import mail

REPO = Path(__file__).resolve().parents[2]
FORMATS = pytest.mark.parametrize("json_format", [False, True], ids=["console", "json"])


def _forms(secret: str) -> set[str]:
    raw = secret.encode()
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        forms |= {encoded, encoded.rstrip("=")}
    return forms


def _assert_no_secret(text: str, secrets: dict[str, str]) -> None:
    leaks = {name: form for name, secret in secrets.items() for form in _forms(secret) if form in text}
    assert not leaks, leaks


def _token(client: httpx.AsyncClient) -> str:
    return client.headers["authorization"].split(" ", 1)[1]


def _secrets(desk: Desk) -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {
        "admin_token": _token(desk.admin),
        "agent_token": _token(desk.agent),
        "imap_wrong": f"imap-wrong-{tag}",
        "smtp_wrong": f"smtp-wrong-{tag}",
        "smtp_right": f"smtp-right-{tag}",
        "validation_password": f"val-pass-{tag}",
        "bad_token": f"rdt_bad{tag}",
        "bad_plain_token": f"notatoken-{tag}",
        "basic_password": f"basic-pass-{tag}",
        "body": f"body-marker-{tag}",
        "reply_body": f"reply-marker-{tag}",
    }


async def _bad_requests(admin: httpx.AsyncClient, anonymous: httpx.AsyncClient, s: dict[str, str]) -> None:
    """Bad tokens and validation errors carrying passwords: a client's mistakes, logged or not."""
    for header in (
        f"Bearer {s['bad_token']}",
        f"Bearer {s['bad_plain_token']}",
        "Basic " + base64.b64encode(f"root:{s['basic_password']}".encode()).decode(),
    ):
        assert (await anonymous.get("/queues", headers={"Authorization": header})).status_code == 401
    invalid = await admin.post(
        "/admin/mailboxes",
        json={
            "name": "bad mailbox name",
            "imap_host": "127.0.0.1",
            "imap_port": s["validation_password"],
            "imap_username": "u",
            "imap_password": s["validation_password"],
            "smtp_password": s["validation_password"],
        },
    )
    assert invalid.status_code == 422


async def _poll_until_refused(runtime: Runtime, mailbox_id: int) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        row = await session.get(Mailbox, mailbox_id)
        assert row is not None
        ref = MailboxRef.from_row(row, runtime.secrets)
    poller = MailboxPoller(
        ref, sessionmaker=runtime.sessionmaker, settings=runtime.settings, router=runtime.router, owner="t"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        async with asyncio.timeout(30):
            while True:
                async with unit_of_work(runtime.sessionmaker) as session:
                    state = await repository.state(session, mailbox_id)
                if state is not None and state.last_error:
                    assert "login refused" in state.last_error
                    break
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


def _add_failing_routes(desk: Desk, s: dict[str, str]) -> None:
    async def holds_secrets(request: Request) -> None:
        authorization = request.headers.get("authorization")
        payload = await request.json()
        raise RuntimeError(f"failed with {len(str(authorization)) + len(str(payload))} bytes in hand")

    async def quotes_a_mailbox_password() -> None:
        # A careless message: the password is a registered secret (the mailbox above stored it).
        raise ValueError(f"login failed for {SUPPORT} with {s['imap_wrong']}")

    async def validation_quoting_its_input() -> None:
        MailboxCreate.model_validate(
            {
                "name": "x",
                "imap_host": s["body"],
                "imap_port": s["validation_password"],
                "imap_username": "u",
                "imap_password": s["validation_password"],
            }
        )

    async def sql_with_a_secret_parameter(session: SessionDep) -> None:
        await session.execute(text("SELECT * FROM no_such_table WHERE x = :p"), {"p": s["smtp_right"]})

    desk.app.add_api_route("/api/v1/fail/holds", holds_secrets, methods=["POST"])
    desk.app.add_api_route("/api/v1/fail/quotes", quotes_a_mailbox_password)
    desk.app.add_api_route("/api/v1/fail/validation", validation_quoting_its_input)
    desk.app.add_api_route("/api/v1/fail/sql", sql_with_a_secret_parameter)


@pytest.mark.own_app
@pytest.mark.parametrize("imap_server", ["pymap", "dovecot"], indirect=True)
@FORMATS
async def test_a_run_full_of_failures_logs_no_secret_and_no_mail_body(
    desk: Desk, imap_server: ImapTestServer, log_capture: Callable[..., LogCapture], json_format: bool
) -> None:
    capture = log_capture(json=json_format, level="debug")
    s = _secrets(desk)
    await _bad_requests(desk.admin, desk.client(), s)

    # A mailbox on a real IMAP server with the wrong password; its poller's login is refused.
    endpoint = imap_server.endpoint
    created = await desk.admin.post(
        "/admin/mailboxes",
        json={
            "name": "wrong-password",
            "imap_host": endpoint.host,
            "imap_port": endpoint.port,
            "imap_security": endpoint.security,
            "imap_username": endpoint.username,
            "imap_password": s["imap_wrong"],
            "folder": endpoint.folder,
            "smtp_host": desk.smtp.host,
            "smtp_port": desk.smtp.port,
            "smtp_security": "none",
            "smtp_username": SUPPORT,
            "smtp_password": s["smtp_wrong"],
        },
    )
    assert created.status_code == 201, created.text
    again = await desk.admin.post("/admin/mailboxes", json={**json.loads(created.request.content), "folder": "X"})
    assert again.status_code == 409
    await _poll_until_refused(desk.runtime, created.json()["id"])

    # A reply whose SMTP login is refused; the ticket's mail and the reply carry bodies to look for.
    desk.smtp.require_login(SUPPORT, s["smtp_right"])
    patched = await desk.admin.patch(
        f"/admin/mailboxes/{desk.mailbox_id}", json={"smtp_username": SUPPORT, "smtp_password": s["smtp_wrong"]}
    )
    assert patched.status_code == 200
    ticket_id = await desk.new_ticket(mail(body=f"My payout is missing. {s['body']}"))
    reply = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": f"On its way. {s['reply_body']}"})
    assert reply.status_code in (200, 201), reply.text
    await desk.send_due()
    assert not desk.smtp.messages

    # 500s from inside routes, holding or quoting secrets.
    _add_failing_routes(desk, s)
    answers = [
        await desk.admin.post("/fail/holds", json={"password": s["validation_password"], "body": s["body"]}),
        await desk.admin.get("/fail/quotes"),
        await desk.admin.get("/fail/validation"),
        await desk.admin.get("/fail/sql"),
    ]
    assert all(a.status_code in (500, 503) for a in answers), [a.status_code for a in answers]

    # A broken schema under authenticated requests: every one fails in the token check.
    await desk.execute(text('ALTER TABLE "user" RENAME COLUMN token_hash TO token_hash_gone'))
    broken = [await desk.admin.get("/queues"), await desk.agent.get("/me")]
    assert all(b.status_code in (500, 503) for b in broken)
    await desk.execute(text('ALTER TABLE "user" RENAME COLUMN token_hash_gone TO token_hash'))

    log = capture.text()
    _assert_no_secret(log, s)
    # The run did fail the ways it meant to, and the log says so.
    assert log.count("unexpected_error") >= 3
    assert "imap_login_refused" in log and "outbox_" in log
    if json_format:
        assert all(json.loads(line) for line in capture.lines())
    assert (await desk.agent.get("/queues")).status_code == 200
    assert await desk.scalar(select(Mailbox.id).where(Mailbox.name == "wrong-password"))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@FORMATS
async def test_routedesk_serve_logs_no_secret_through_a_run_of_failures(
    settings: Settings, runtime: Runtime, tmp_path: Path, json_format: bool
) -> None:
    """The real server: uvicorn's own logging included. A broken schema makes every authenticated
    request a 500 while its token is in hand; each 500 is one log line with its error id."""
    async with unit_of_work(runtime.sessionmaker) as session:
        _admin, admin_token = await users.create_user(session, name="root", email="root@x.example", role="admin")
    tag = uuid.uuid4().hex[:10]
    s = {
        "admin_token": admin_token,
        "bad_token": f"rdt_bad{tag}",
        "bad_plain_token": f"notatoken-{tag}",
        "basic_password": f"basic-pass-{tag}",
        "validation_password": f"val-pass-{tag}",
        "imap_password": f"imap-pass-{tag}",
        "smtp_password": f"smtp-pass-{tag}",
    }
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEDESK_")}
    env.update(
        ROUTEDESK_DATABASE_URL=settings.database_url,
        ROUTEDESK_DATA_DIR=str(settings.data_dir),
        ROUTEDESK_LOG_LEVEL="debug",
        ROUTEDESK_LOG_JSON="true" if json_format else "false",
    )
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}/api/v1"
            async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {admin_token}"}) as admin:
                async with asyncio.timeout(90):
                    while True:
                        assert server.poll() is None, log_path.read_text()
                        try:
                            if (await admin.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                                break
                        except httpx.TransportError:
                            pass
                        await asyncio.sleep(0.2)
                async with httpx.AsyncClient(base_url=base) as anonymous:
                    await _bad_requests(admin, anonymous, s)
                created = await admin.post(
                    "/admin/mailboxes",
                    json={
                        "name": "support",
                        "imap_host": "127.0.0.1",
                        "imap_port": free_port(),
                        "imap_username": "support",
                        "imap_password": s["imap_password"],
                        "smtp_host": "127.0.0.1",
                        "smtp_username": "support",
                        "smtp_password": s["smtp_password"],
                    },
                )
                assert created.status_code == 201, created.text
                async with unit_of_work(runtime.sessionmaker) as session:
                    await session.execute(text('ALTER TABLE "user" RENAME COLUMN token_hash TO token_hash_gone'))
                failed = [await admin.get("/queues") for _ in range(3)]
                failed.append(await admin.post("/admin/mailboxes", json=json.loads(created.request.content)))
                async with unit_of_work(runtime.sessionmaker) as session:
                    await session.execute(text('ALTER TABLE "user" RENAME COLUMN token_hash_gone TO token_hash'))
                assert [f.status_code for f in failed] == [500] * 4
                assert (await admin.get("/queues")).status_code == 200
            server.send_signal(signal.SIGTERM)
            # uvicorn stops gracefully, then re-raises the signal it caught.
            assert server.wait(timeout=30) in (0, -signal.SIGTERM)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    output = log_path.read_text(errors="backslashreplace")
    _assert_no_secret(output, s)
    lines = [line for line in output.splitlines() if line.strip()]
    for response in failed:
        error_id = response.json()["error_id"]
        assert len([line for line in lines if error_id in line]) == 1, output
    assert "Traceback" not in output and "Exception in ASGI application" not in output
    if json_format:
        assert all(json.loads(line) for line in lines)
