from __future__ import annotations

from sqlalchemy import select

from app.db import unit_of_work
from app.inbox import ingest
from app.inbox.models import Mailbox
from app.inbox.parsing import prepare
from tests.api.desk import Desk, sqlite_only
from tests.mailgen import mail

IMAP_SECRET = "imap-S3cret-value"
SMTP_SECRET = "smtp-S3cret-value"


def _mailbox(**fields: object) -> dict[str, object]:
    return {
        "name": "billing",
        "imap_host": "imap.routedesk.example",
        "imap_username": "billing@routedesk.example",
        "imap_password": IMAP_SECRET,
        "address": "billing@routedesk.example",
        "smtp_host": "smtp.routedesk.example",
        "smtp_port": 587,
        "smtp_username": "billing@routedesk.example",
        "smtp_password": SMTP_SECRET,
        **fields,
    }


# -- areas ---------------------------------------------------------------------------------------------


async def test_admin_creates_lists_and_updates_areas(desk: Desk) -> None:
    created = await desk.admin.post(
        "/admin/areas", json={"name": "payouts", "title": "Payouts", "first_response_minutes": 60}
    )
    updated = await desk.admin.patch(
        "/admin/areas/payouts", json={"title": "Payouts & transfers", "acknowledge": False}
    )
    listed = {a["name"]: a for a in (await desk.admin.get("/admin/areas")).json()}
    assert (created.status_code, updated.status_code) == (201, 200)
    assert (listed["payouts"]["title"], listed["payouts"]["first_response_minutes"]) == ("Payouts & transfers", 60)
    assert listed["payouts"]["acknowledge"] is False


async def test_area_names_are_unique(desk: Desk) -> None:
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    response = await desk.admin.post("/admin/areas", json={"name": "payouts"})
    assert response.status_code == 409
    assert response.json()["error"] == "Conflict"


@sqlite_only
async def test_area_name_must_be_a_slug(desk: Desk) -> None:
    response = await desk.admin.post("/admin/areas", json={"name": "Pay outs'; --"})
    assert response.status_code == 422


async def test_triage_cannot_be_deactivated(desk: Desk) -> None:
    await desk.new_ticket(mail())  # ingestion creates the triage area on first use
    response = await desk.admin.patch("/admin/areas/triage", json={"active": False})
    assert response.status_code == 422


async def test_updating_an_unknown_area_is_404(desk: Desk) -> None:
    response = await desk.admin.patch("/admin/areas/nowhere", json={"title": "x"})
    assert response.status_code == 404


# -- macros --------------------------------------------------------------------------------------------


async def test_admin_creates_updates_and_deactivates_macros(desk: Desk) -> None:
    created = (await desk.admin.post("/admin/macros", json={"title": "Hello", "body": "Hi {customer_name}"})).json()
    updated = await desk.admin.patch(f"/admin/macros/{created['id']}", json={"body": "Hello {customer_name}"})
    deactivated = await desk.admin.delete(f"/admin/macros/{created['id']}")
    active = (await desk.agent.get("/macros")).json()
    assert updated.json()["body"] == "Hello {customer_name}"
    assert deactivated.json()["active"] is False
    assert active == []


async def test_agents_read_macros_but_cannot_write_them(desk: Desk) -> None:
    created = (await desk.admin.post("/admin/macros", json={"title": "Hello", "body": "Hi"})).json()
    assert (await desk.agent.get(f"/macros/{created['id']}")).json()["title"] == "Hello"
    assert (await desk.agent.post("/admin/macros", json={"title": "Mine", "body": "x"})).status_code == 403


async def test_macro_for_an_unknown_area_is_404(desk: Desk) -> None:
    response = await desk.admin.post("/admin/macros", json={"title": "Hello", "body": "Hi", "area_id": 4242})
    assert response.status_code == 404


# -- mailboxes -----------------------------------------------------------------------------------------


@sqlite_only
async def test_a_mailbox_address_the_outbox_cannot_send_from_is_refused(desk: Desk) -> None:
    # Its acknowledgements and replies would each fail permanently at the sender (app/mail/addresses.py).
    created = await desk.admin.post("/admin/mailboxes", json=_mailbox(address="support@localhost"))
    mailbox_id = (await desk.admin.post("/admin/mailboxes", json=_mailbox())).json()["id"]
    patched = await desk.admin.patch(f"/admin/mailboxes/{mailbox_id}", json={"address": "sup,port@routedesk.example"})
    assert (created.status_code, patched.status_code) == (422, 422)
    assert [f["type"] for f in created.json()["fields"] + patched.json()["fields"]] == ["address_invalid"] * 2


async def test_mailbox_secrets_are_never_returned(desk: Desk) -> None:
    created = await desk.admin.post("/admin/mailboxes", json=_mailbox())
    mailbox_id = created.json()["id"]
    patched = await desk.admin.patch(f"/admin/mailboxes/{mailbox_id}", json={"smtp_password": SMTP_SECRET + "2"})
    listed = await desk.admin.get("/admin/mailboxes")
    assert created.status_code == 201 and patched.status_code == 200
    for response in (created, patched, listed):
        assert IMAP_SECRET not in response.text and SMTP_SECRET not in response.text
        assert "imap_password" not in response.text and '"smtp_password"' not in response.text
    assert patched.json()["smtp_password_set"] is True


async def test_mailbox_secrets_are_encrypted_at_rest(desk: Desk) -> None:
    created = await desk.admin.post("/admin/mailboxes", json=_mailbox())
    row = await desk.scalar(select(Mailbox).where(Mailbox.id == created.json()["id"]))
    assert IMAP_SECRET.encode() not in (row.imap_password_encrypted or "").encode()
    assert SMTP_SECRET.encode() not in (row.smtp_password_encrypted or "").encode()
    assert desk.runtime.secrets.decrypt(row.smtp_password_encrypted) == SMTP_SECRET


async def test_mailbox_smtp_password_can_be_cleared(desk: Desk) -> None:
    mailbox_id = (await desk.admin.post("/admin/mailboxes", json=_mailbox())).json()["id"]
    patched = await desk.admin.patch(f"/admin/mailboxes/{mailbox_id}", json={"smtp_password": None})
    assert patched.json()["smtp_password_set"] is False


async def test_mailbox_names_are_unique(desk: Desk) -> None:
    await desk.admin.post("/admin/mailboxes", json=_mailbox())
    response = await desk.admin.post("/admin/mailboxes", json=_mailbox())
    assert response.status_code == 409


async def test_deleting_a_mailbox_removes_it(desk: Desk) -> None:
    mailbox_id = (await desk.admin.post("/admin/mailboxes", json=_mailbox())).json()["id"]
    response = await desk.admin.delete(f"/admin/mailboxes/{mailbox_id}")
    assert response.status_code == 204
    assert mailbox_id not in [m["id"] for m in (await desk.admin.get("/admin/mailboxes")).json()]


async def test_deleting_a_mailbox_keeps_its_tickets(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail())
    response = await desk.admin.delete(f"/admin/mailboxes/{desk.mailbox_id}")
    assert response.status_code == 204
    assert (await desk.agent.get(f"/tickets/{ticket_id}")).status_code == 200
    assert [m["id"] for m in (await desk.admin.get("/admin/mailboxes")).json()] == []


# -- messages that could not be stored whole ---------------------------------------------------------


async def test_admin_lists_problem_messages_and_downloads_their_raw_bytes(desk: Desk) -> None:
    raw = mail(subject="Huge", message_id="<huge@merchant.example>")
    truncated = prepare(raw, 7, size=len(raw) * 1000, truncated=True, max_attachment_bytes=1024)
    async with unit_of_work(desk.runtime.sessionmaker) as session:
        await ingest.ingest_batch(
            session,
            [truncated],
            source=ingest.Source(mailbox_id=desk.mailbox_id, uidvalidity=1),
            settings=desk.settings,
            router=desk.runtime.router,
        )
    problems = await desk.admin.get("/admin/messages/problems")
    assert problems.status_code == 200, problems.text
    [problem] = problems.json()
    download = await desk.admin.get(f"/admin/messages/{problem['id']}/raw")
    assert (problem["parse_status"], problem["uid"]) == ("too_large", 7)
    assert download.content == raw
    assert download.headers["content-type"].startswith("message/rfc822")


# -- users and rules -----------------------------------------------------------------------------------


async def test_user_names_are_unique(desk: Desk) -> None:
    response = await desk.admin.post("/admin/users", json={"name": "ana", "email": "ana2@routedesk.example"})
    assert response.status_code == 409


@sqlite_only
async def test_user_role_is_agent_or_admin(desk: Desk) -> None:
    response = await desk.admin.post("/admin/users", json={"name": "zed", "email": "z@x.example", "role": "root"})
    assert response.status_code == 422


async def test_admin_lists_users_with_their_roles(desk: Desk) -> None:
    users = {u["name"]: u["role"] for u in (await desk.admin.get("/admin/users")).json()}
    assert users == {"root": "admin", "ana": "agent"}


async def test_admin_creates_and_deletes_routing_rules(desk: Desk) -> None:
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    created = await desk.admin.post(
        "/admin/rules", json={"kind": "sender_domain", "pattern": "@Bank.example", "area": "payouts"}
    )
    rule = created.json()
    deleted = await desk.admin.delete(f"/admin/rules/{rule['id']}")
    assert (created.status_code, rule["pattern"], deleted.status_code) == (201, "bank.example", 204)
    assert (await desk.admin.get("/admin/rules")).json() == []
