"""The admins' configuration pages through the real app over httpx, on both engines: areas and their
SLA policies, routing rules, macros, help-centre articles with the preview, and mailboxes with their
write-only secrets; each form's effect checked through the JSON API, bad input re-shown with the
service's reason and nothing changed; and the customer's CSAT on the ticket page, in one query."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, update

from app.csat.models import CsatSurvey
from app.db import utcnow
from app.inbox.models import MailboxState
from tests.api.desk import Desk
from tests.console.browser import Console
from tests.mailgen import mail

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


async def _admin(desk: Desk) -> Console:
    _name, token = await desk.new_user("admin")
    console = Console(desk)
    assert (await console.sign_in(token)).status_code == 303
    return console


async def test_an_admin_creates_edits_archives_and_deletes_an_area_with_its_policy(desk: Desk) -> None:
    console = await _admin(desk)
    created = await console.post(
        "/console/admin/areas",
        {"name": "payouts", "title": "Payouts", "first_response_minutes": "60", "resolution_minutes": "600"},
    )
    assert created.status_code == 303, created.text
    area = next(a for a in (await desk.admin.get("/admin/areas")).json() if a["name"] == "payouts")
    assert (area["title"], area["first_response_minutes"], area["resolution_minutes"]) == ("Payouts", 60, 600)
    assert "payouts" in (await console.get("/console/admin/areas")).text

    taken = await console.post("/console/admin/areas", {"name": "payouts"})
    assert taken.status_code == 409 and "exists already" in taken.text
    bad = await console.post("/console/admin/areas", {"name": "cards", "first_response_minutes": "soon"})
    assert bad.status_code == 422 and "first_response_minutes" in bad.text
    assert 'value="cards"' in bad.text  # the form again, as typed
    assert "cards" not in [a["name"] for a in (await desk.admin.get("/admin/areas")).json()]

    saved = await console.post(
        "/console/admin/areas/payouts",
        {"action": "save", "title": "Payouts and transfers", "first_response_minutes": "90",
         "resolution_minutes": "900", "survey_delay_minutes": "60", "acknowledge": "yes", "hold_failed_mail": "yes"},
    )  # fmt: skip
    assert saved.status_code == 303, saved.text
    area = (await desk.admin.get("/admin/areas")).json()
    payouts = next(a for a in area if a["name"] == "payouts")
    assert (payouts["title"], payouts["hold_failed_mail"]) == ("Payouts and transfers", True)
    assert 'name="hold_failed_mail" value="yes" checked' in (await console.get("/console/admin/areas")).text

    targets = {"normal.first_reply": "120", "normal.resolution": "1440", "urgent.first_reply": "15"}
    put = await console.post("/console/admin/areas/payouts/policy", targets)
    assert put.status_code == 303, put.text
    policy = (await desk.admin.get("/admin/sla/policies/payouts")).json()
    assert policy["targets"] == {"normal": {"first_reply": 120, "resolution": 1440}, "urgent": {"first_reply": 15}}
    assert policy["business_hours"] is False
    page = await console.get("/console/admin/areas")
    assert (
        'name="urgent.first_reply" aria-label="urgent first reply" inputmode="numeric" size="6" value="15"' in page.text
    )
    no_normal = await console.post("/console/admin/areas/payouts/policy", {"high.first_reply": "30"})
    assert no_normal.status_code == 422 and "normal priority" in no_normal.text
    no_schedule = await console.post(
        "/console/admin/areas/payouts/policy", {"normal.first_reply": "30", "business_hours": "yes"}
    )
    assert no_schedule.status_code == 422 and "needs a schedule" in no_schedule.text
    assert (await desk.admin.get("/admin/sla/policies/payouts")).json() == policy
    assert (await console.post("/console/admin/areas/payouts/policy", {"action": "delete"})).status_code == 303
    assert (await desk.admin.get("/admin/sla/policies/payouts")).status_code == 404

    assert (await console.post("/console/admin/areas/payouts", {"action": "archive"})).status_code == 303
    assert next(a for a in (await desk.admin.get("/admin/areas")).json() if a["name"] == "payouts")["archived"]
    assert (await console.post("/console/admin/areas/payouts", {"action": "unarchive"})).status_code == 303
    rule = (
        await desk.admin.post("/admin/rules", json={"kind": "keyword", "pattern": "payout", "area": "payouts"})
    ).json()
    referred = await console.post("/console/admin/areas/payouts", {"action": "delete"})
    assert referred.status_code == 409 and "cannot be deleted: 1 rule refer" in referred.text
    assert "payouts" in [a["name"] for a in (await desk.admin.get("/admin/areas")).json()]
    assert (await desk.admin.delete(f"/admin/rules/{rule['id']}")).status_code == 204
    assert (await console.post("/console/admin/areas/payouts", {"action": "delete"})).status_code == 303
    assert "payouts" not in [a["name"] for a in (await desk.admin.get("/admin/areas")).json()]
    missing = await console.post("/console/admin/areas/payouts", {"action": "archive"})
    assert missing.status_code == 404
    await console.aclose()


async def test_an_admin_adds_and_deletes_a_routing_rule_and_a_bad_one_changes_nothing(desk: Desk) -> None:
    assert (await desk.admin.post("/admin/areas", json={"name": "payouts"})).status_code == 201
    console = await _admin(desk)
    added = await console.post(
        "/console/admin/rules",
        {"kind": "sender_domain", "pattern": "@Bank.example", "area": "payouts", "priority": "high"},
    )
    assert added.status_code == 303, added.text
    rules = (await desk.admin.get("/admin/rules")).json()
    assert [(r["kind"], r["pattern"], r["area"], r["priority"]) for r in rules] == [
        ("sender_domain", "bank.example", "payouts", "high")
    ]
    assert "<code>bank.example</code>" in (await console.get("/console/admin/rules")).text
    for data, message in [
        ({"kind": "sender_domain", "pattern": "not a domain", "area": "payouts"}, "domain such as"),
        ({"kind": "keyword", "pattern": "refund", "area": "nowhere"}, "no area named"),
        ({"kind": "regex", "pattern": "x", "area": "payouts"}, "kind"),
    ]:
        refused = await console.post("/console/admin/rules", data)
        assert refused.status_code in (404, 422) and message in refused.text, (data, refused.text[-500:])
    assert (await desk.admin.get("/admin/rules")).json() == rules
    deleted = await console.post(f"/console/admin/rules/{rules[0]['id']}/delete", {})
    assert deleted.status_code == 303
    assert (await desk.admin.get("/admin/rules")).json() == []
    again = await console.post(f"/console/admin/rules/{rules[0]['id']}/delete", {})
    assert again.status_code == 404 and "no rule" in again.text
    await console.aclose()


async def test_an_admin_creates_edits_and_deletes_a_macro_showing_its_placeholders(desk: Desk) -> None:
    console = await _admin(desk)
    body = "Hi {customer_first_name},\nyour ticket {ticket_reference} is solved."
    created = await console.post("/console/admin/macros", {"title": "Solved", "body": body})
    assert created.status_code == 303, created.text
    (macro,) = (await desk.admin.get("/macros")).json()
    assert (macro["title"], macro["body"], macro["area"]) == ("Solved", body, None)
    listed = await console.get("/console/admin/macros")
    row = next(r for r in listed.text.split("<tr>") if "Solved" in r)
    assert "<code>{customer_first_name}</code> <code>{ticket_reference}</code>" in row

    unknown = await console.post(f"/console/admin/macros/{macro['id']}", {"title": "Solved", "body": "Hi {nmae}"})
    assert unknown.status_code == 422 and "unknown placeholders: {nmae}" in unknown.text
    assert "Hi {nmae}" in unknown.text  # the form again, as typed
    assert (await desk.admin.get("/macros")).json() == [macro]

    edit = await console.get(f"/console/admin/macros/{macro['id']}")
    assert edit.status_code == 200 and f'action="/console/admin/macros/{macro["id"]}"' in edit.text
    saved = await console.post(
        f"/console/admin/macros/{macro['id']}", {"title": "Solved, thanks", "body": "Done.", "active": "yes"}
    )
    assert saved.status_code == 303
    (changed,) = (await desk.admin.get("/macros")).json()
    assert (changed["title"], changed["body"], changed["active"]) == ("Solved, thanks", "Done.", True)
    assert (await console.post(f"/console/admin/macros/{macro['id']}", {"action": "delete"})).status_code == 303
    assert (await desk.admin.get("/macros")).json() == []  # deactivated, as the API's DELETE does
    assert (await desk.admin.get("/macros", params={"include_inactive": "true"})).json()[0]["active"] is False
    assert (await console.get("/console/admin/macros/999999")).status_code == 404
    await console.aclose()


HOSTILE = (
    "# Refunds\n\nAsk for a **refund** [here](javascript:alert(1)) or [there](/help).\n\n"
    '<script>alert("x")</script>\n\n<p><a href="javascript:alert(3)">raw</a></p>\n\n'
    '<img src="https://evil.example/x.png" onerror="alert(2)">\n'
)


async def test_the_article_preview_renders_like_the_help_centre_sanitised_and_saves_nothing(desk: Desk) -> None:
    console = await _admin(desk)
    form = {"title": "Refunds", "body": HOSTILE, "published": "yes"}
    preview = await console.post("/console/admin/articles", form | {"action": "preview"})
    assert preview.status_code == 200, preview.text
    assert "default-src 'none'; script-src 'self'" in preview.headers["content-security-policy"]
    shown = preview.text.split('<article id="preview">')[1].split("</article>")[0]
    assert "<h2>Refunds</h2>" in shown and "<strong>refund</strong>" in shown
    assert '<a href="/help" rel="nofollow noopener">there</a>' in shown
    assert "<script" not in shown and "alert(&#34;x&#34;)" not in shown and 'alert("x")' not in shown
    assert 'href="javascript' not in shown and "onerror" not in shown and '<a rel="nofollow noopener">raw</a>' in shown
    assert "evil.example" not in shown
    assert "<script>alert" not in preview.text  # nor anywhere on the page: the textarea holds it escaped
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in preview.text
    assert (await desk.admin.get("/articles")).json() == []  # a preview saves nothing

    saved = await console.post("/console/admin/articles", form | {"action": "save", "tags": "money, refunds"})
    assert saved.status_code == 303, saved.text
    (article,) = (await desk.admin.get("/articles")).json()
    assert (article["slug"], article["tags"], article["published"]) == ("refunds", ["money", "refunds"], True)
    help_page = await console.get("/help/articles/refunds")
    edit = await console.post(f"/console/admin/articles/{article['id']}", form | {"action": "preview"})
    preview_html = edit.text.split('<article id="preview">')[1].split("</article>")[0].strip()
    assert preview_html in help_page.text  # the help centre's own rendering, byte for byte

    taken = await console.post("/console/admin/articles", {"title": "Refunds", "body": "Again", "action": "save"})
    assert taken.status_code == 409 and "refunds" in taken.text
    empty = await console.post(f"/console/admin/articles/{article['id']}", {"title": "", "body": "x"})
    assert empty.status_code == 422
    assert (await desk.admin.get("/articles")).json() == [article]
    renamed = await console.post(
        f"/console/admin/articles/{article['id']}", {"title": "Refunds, how", "body": "Write to us.", "action": "save"}
    )
    assert renamed.status_code == 303
    assert (await desk.admin.get(f"/articles/{article['id']}")).json()["body"] == "Write to us."
    deleted = await console.post(f"/console/admin/articles/{article['id']}", {"action": "delete"})
    assert deleted.status_code == 303
    assert (await desk.admin.get("/articles")).json() == []
    await console.aclose()


async def test_mailbox_pages_never_show_a_password_and_an_empty_one_keeps_the_stored(desk: Desk) -> None:
    console = await _admin(desk)
    secret, smtp_secret = "imap-Pa55-word-xyz", "smtp-Pa55-word-abc"
    form = {
        "name": "billing", "imap_host": "127.0.0.1", "imap_port": "1", "imap_security": "none",
        "imap_username": "billing@routedesk.example", "imap_password": secret, "folder": "INBOX",
        "smtp_host": desk.smtp.host, "smtp_port": str(desk.smtp.port), "smtp_security": "none",
        "smtp_username": "billing", "smtp_password": smtp_secret,
    }  # fmt: skip
    created = await console.post("/console/admin/mailboxes", form)
    assert created.status_code == 303, created.text
    stored = next(m for m in (await desk.admin.get("/admin/mailboxes")).json() if m["name"] == "billing")
    assert stored["smtp_password_set"] is True and stored["imap_port"] == 1
    imap, _smtp = await _stored(desk, "billing")
    assert imap.password == secret

    pages = [
        await console.get("/console/admin/mailboxes"),
        await console.get(f"/console/admin/mailboxes/{stored['id']}"),
    ]
    listed = pages[0].text
    assert "billing" in listed and "never" in listed  # not polled yet
    assert "enabled, no worker polling it" in listed
    until = desk.runtime.clock() + timedelta(minutes=5)
    held = update(MailboxState).where(MailboxState.mailbox_id == stored["id"])
    await desk.execute(held.values(lease_owner="worker-7", lease_expires_at=until, last_error="login refused"))
    leased = (await console.get("/console/admin/mailboxes")).text
    row = next(r for r in leased.split("<tr>") if "billing" in r)
    assert "polled by worker-7" in row and "login refused" in row
    refused = await console.post("/console/admin/mailboxes", form | {"imap_port": "99999"})
    assert refused.status_code == 422 and "imap_port" in refused.text
    pages.append(refused)
    saved = await console.post(
        f"/console/admin/mailboxes/{stored['id']}",
        {k: v for k, v in form.items() if k not in ("name", "imap_password", "smtp_password")}
        | {"folder": "Support", "enabled": "yes", "imap_password": "", "smtp_password": "", "action": "save"},
    )
    assert saved.status_code == 303, saved.text
    imap, smtp = await _stored(desk, "billing")
    assert (imap.password, imap.folder) == (secret, "Support")  # the empty field kept the stored password
    assert smtp is not None and smtp.password == smtp_secret
    bad = await console.post(
        f"/console/admin/mailboxes/{stored['id']}", {"imap_host": "", "imap_password": secret, "action": "save"}
    )
    assert bad.status_code == 422 and "cannot be null" in bad.text
    pages.append(bad)
    assert (await _stored(desk, "billing"))[0].folder == "Support"

    test = await console.post(f"/console/admin/mailboxes/{stored['id']}", {"action": "test"})
    assert test.status_code == 200
    # Real servers: nothing listens on port 1; the test's aiosmtpd refuses these credentials.
    checks = dict(re.findall(r'<li data-check="(imap|smtp)">.*?<strong>failed</strong> \(([a-z ]+)\)', test.text))
    assert checks == {"imap": "refused", "smtp": "login refused"}
    pages.append(test)
    for shown in pages:
        assert secret not in shown.text and smtp_secret not in shown.text
        assert 'type="password" maxlength="1024" autocomplete="new-password" value' not in shown.text
        assert not re.search(r'name="(imap|smtp)_password"[^>]*value=', shown.text)

    deleted = await console.post(f"/console/admin/mailboxes/{stored['id']}", {"action": "delete"})
    assert deleted.status_code == 303
    assert "billing" not in [m["name"] for m in (await desk.admin.get("/admin/mailboxes")).json()]
    await console.aclose()


async def _stored(desk: Desk, name: str) -> Any:
    from app.db import unit_of_work
    from app.inbox import mailboxes

    async with unit_of_work(desk.runtime.sessionmaker) as session:
        return await mailboxes.stored_servers(session, name, secrets=desk.runtime.secrets)


async def test_the_ticket_page_shows_the_customers_csat_of_each_ticket_in_one_query(desk: Desk) -> None:
    ids = [
        await desk.new_ticket(mail(subject=f"Question {i}", message_id=f"<csat{i}@merchant.example>")) for i in range(4)
    ]
    now = utcnow()
    for ticket_id, cycle, rating in [(ids[0], 1, "bad"), (ids[0], 2, "good"), (ids[1], 1, "bad"), (ids[3], 1, "good")]:
        await desk.execute(
            insert(CsatSurvey).values(
                ticket_id=ticket_id, cycle=cycle, solved_at=now.replace(microsecond=cycle), status="sent",
                sent_at=now, rating=rating, rated_at=now,
            )
        )  # fmt: skip
    _name, token = await desk.new_user("agent")
    console = Console(desk)
    await console.sign_in(token)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = desk.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        page = await console.get(f"/console/tickets/{ids[3]}")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert page.status_code == 200
    assert '<p id="csat-this">This ticket\'s CSAT: <strong class="csat-good">good</strong></p>' in page.text
    earlier = {
        int(i): rating
        for i, rating in re.findall(
            r'<li><a href="/console/tickets/(\d+)">.*?CSAT (?:<strong class="csat-\w+">)?(good|bad|not rated)',
            page.text,
        )
    }
    assert earlier == {ids[0]: "good", ids[1]: "bad", ids[2]: "not rated"}  # ids[0]: its latest cycle's
    assert len([s for s in statements if "csat_survey" in s]) == 1
    await console.aclose()
