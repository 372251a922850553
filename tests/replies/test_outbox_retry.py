"""Failed outbox rows sent again: `routedesk outbox list/retry` (in-process, tests/cli.py `routedesk`) and
the admin API, down to the real SMTP server (aiosmtpd). The first test lists the failed rows with the real
command in a subprocess (`run_routedesk`): the outbox group's smoke test of the real entry point."""

from __future__ import annotations

import json

from sqlalchemy import select, update

from app.inbox.models import Mailbox
from app.replies.models import Outbox, OutboxStatus
from tests.api.desk import SUPPORT, Desk
from tests.cli import routedesk, run_routedesk
from tests.mailgen import mail


async def _add_mailbox_without_smtp(desk: Desk) -> int:
    # The README's old steps: an IMAP URL only, nothing about SMTP (unchecked: no IMAP server here).
    done = await routedesk(
        desk.settings,
        "mailbox",
        "add",
        "nosmtp",
        "--imap-url",
        "imap://support%40routedesk.example:secret@127.0.0.1:1/INBOX",
        "--no-check",
    )
    assert done.returncode == 0, done.stderr
    mailbox_id = await desk.scalar(select(Mailbox.id).where(Mailbox.name == "nosmtp"))
    assert mailbox_id is not None
    return int(mailbox_id)


async def test_acknowledgement_failed_for_want_of_smtp_is_delivered_after_smtp_is_set_and_retry_all(
    desk: Desk,
) -> None:
    mailbox_id = await _add_mailbox_without_smtp(desk)
    await desk.ingest(mail(message_id="<readme1@merchant.example>"), mailbox_id=mailbox_id)
    await desk.send_due()
    [ack] = await desk.all(select(Outbox).where(Outbox.kind == "acknowledgement"))
    assert (ack.status, ack.last_error) == (OutboxStatus.FAILED, "the mailbox has no SMTP settings")

    listed = await run_routedesk(desk.settings, "outbox", "list", "--failed")
    assert listed.returncode == 0, listed.stderr
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["id"], row["status"], row["last_error"]) == (ack.id, "failed", "the mailbox has no SMTP settings")
    assert "raw" not in row

    patched = await desk.admin.patch(
        f"/admin/mailboxes/{mailbox_id}",
        json={"smtp_host": desk.smtp.host, "smtp_port": desk.smtp.port, "smtp_security": "none"},
    )
    assert patched.status_code == 200, patched.text
    # Setting SMTP alone sends nothing: the row stays failed until it is retried.
    await desk.send_due()
    assert desk.smtp.messages == []

    retried = await routedesk(desk.settings, "outbox", "retry", "--all")
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout.splitlines()[-1]) == {"retried": [ack.id]}
    row_after = await desk.scalar(select(Outbox).where(Outbox.id == ack.id))
    assert (row_after.status, row_after.attempts, row_after.last_error) == (OutboxStatus.QUEUED, 0, None)

    await desk.send_due()
    [received] = desk.smtp.messages
    assert received.rcpt_tos == ("ana@merchant.example",)
    assert received.message["In-Reply-To"] == "<readme1@merchant.example>"
    assert received.mail_from == SUPPORT
    assert (await desk.scalar(select(Outbox.status).where(Outbox.id == ack.id))) == OutboxStatus.SENT
    empty = await routedesk(desk.settings, "outbox", "list", "--failed")
    assert (empty.returncode, empty.stdout, empty.stderr.strip()) == (0, "", "no failed messages")


async def test_outbox_retry_of_one_id_requeues_only_that_row(desk: Desk) -> None:
    await desk.ingest(
        mail(message_id="<one1@merchant.example>"), mail(message_id="<one2@a.example>", sender="bo@shop.example")
    )
    await desk.execute(update(Outbox).values(status=OutboxStatus.FAILED, attempts=8, last_error="gave up"))
    first, second = await desk.all(select(Outbox.id).order_by(Outbox.id))
    done = await routedesk(desk.settings, "outbox", "retry", str(second))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"retried": [second]}
    statuses = dict((r.id, r.status) for r in await desk.all(select(Outbox).order_by(Outbox.id)))
    assert statuses == {first: OutboxStatus.FAILED, second: OutboxStatus.QUEUED}
    await desk.send_due()
    assert [m.rcpt_tos for m in desk.smtp.messages] == [("bo@shop.example",)]


async def test_outbox_retry_of_a_row_not_failed_is_refused(desk: Desk) -> None:
    await desk.ingest(mail(message_id="<q1@merchant.example>"))
    [outbox_id] = await desk.all(select(Outbox.id))
    done = await routedesk(desk.settings, "outbox", "retry", str(outbox_id))
    assert done.returncode == 1
    assert f"outbox message {outbox_id} is queued, not failed" in done.stderr
    missing = await routedesk(desk.settings, "outbox", "retry", "999999")
    assert (missing.returncode, missing.stderr.strip()) == (1, "error: no outbox message 999999")
    neither = await routedesk(desk.settings, "outbox", "retry")
    assert (neither.returncode, neither.stderr.strip()) == (1, "error: give an outbox ID or --all")
    response = await desk.admin.post(f"/admin/outbox/{outbox_id}/retry")
    assert response.status_code == 409, response.text
    assert response.json()["error"] == "Conflict"


async def test_outbox_list_says_when_there_is_nothing(desk: Desk) -> None:
    empty = await routedesk(desk.settings, "outbox", "list")
    assert (empty.returncode, empty.stdout, empty.stderr.strip()) == (0, "", "outbox empty")
    await desk.ingest(mail(message_id="<l1@merchant.example>"))
    listed = await routedesk(desk.settings, "outbox", "list")
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["kind"], row["status"], row["rcpt_to"]) == ("acknowledgement", "queued", "ana@merchant.example")
    none_failed = await routedesk(desk.settings, "outbox", "list", "--failed")
    assert (none_failed.stdout, none_failed.stderr.strip()) == ("", "no failed messages")
    nothing = await routedesk(desk.settings, "outbox", "retry", "--all")
    assert (nothing.returncode, json.loads(nothing.stdout), nothing.stderr.strip()) == (
        0,
        {"retried": []},
        "no failed messages",
    )


async def test_admin_api_lists_failed_outbox_rows_and_retries_them(desk: Desk) -> None:
    desk.smtp.fail(550)
    await desk.ingest(
        mail(message_id="<a1@merchant.example>"), mail(message_id="<a2@b.example>", sender="bo@shop.example")
    )
    await desk.send_due()
    failed = await desk.admin.get("/admin/outbox", params={"status": "failed"})
    assert failed.status_code == 200, failed.text
    rows = failed.json()
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert all(r["last_error"].startswith("550") for r in rows)
    assert "raw" not in rows[0]
    desk.smtp.reset()

    one = await desk.admin.post(f"/admin/outbox/{rows[0]['id']}/retry")
    assert one.status_code == 200, one.text
    assert (one.json()["status"], one.json()["attempts"], one.json()["last_error"]) == ("queued", 0, None)
    rest = await desk.admin.post("/admin/outbox/retry")
    assert rest.status_code == 200, rest.text
    assert rest.json() == {"retried": [rows[1]["id"]]}
    await desk.send_due()
    assert sorted(m.rcpt_tos for m in desk.smtp.messages) == [("ana@merchant.example",), ("bo@shop.example",)]
    assert (await desk.admin.get("/admin/outbox", params={"status": "failed"})).json() == []
    assert (await desk.admin.post("/admin/outbox/999999/retry")).status_code == 404


async def test_outbox_routes_are_for_admins_only(desk: Desk) -> None:
    for method, path in (("GET", "/admin/outbox"), ("POST", "/admin/outbox/retry"), ("POST", "/admin/outbox/1/retry")):
        response = await desk.agent.request(method, path)
        assert response.status_code == 403, (path, response.text)
        assert (await desk.client().request(method, path)).status_code == 401
