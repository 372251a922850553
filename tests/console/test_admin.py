"""The admins' console pages through the real app over httpx: the role check on every one, schedules
edited through the form (bad hours refused, nothing changed), users added with their token shown once,
the router's versions and confusion matrix, activation, and the reports page's charts and CSV."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from app.console import admin
from app.console.admin import config
from app.db import unit_of_work
from app.routing import training
from app.runtime import Runtime
from classifiers.train import TrainedModel
from tests.api.desk import Desk, sqlite_only
from tests.console.browser import Console
from tests.kb.test_doc_gaps import WEBHOOK, _desk_with_tickets
from tests.mailgen import mail
from tests.routing.test_routing import examples

# The configuration pages' router is included in the admin one, under its prefix.
ADMIN_ROUTES = [
    (method, prefix + route.path)
    for prefix, routes in (("", admin.router.routes), (admin.router.prefix, config.router.routes))
    for route in routes
    if isinstance(route, APIRoute)
    for method in sorted(route.methods or ())
]


@pytest.fixture(scope="session")
def trained() -> TrainedModel:
    return training.fit(examples())


async def _console(desk: Desk, role: str) -> Console:
    _name, token = await desk.new_user(role)
    console = Console(desk)
    assert (await console.sign_in(token)).status_code == 303
    return console


async def _register(runtime: Runtime, model: TrainedModel) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        return (await training.register(session, model, source="test")).version


@sqlite_only
async def test_every_admin_page_refuses_an_agent_and_changes_nothing(desk: Desk) -> None:
    console = await _console(desk, "agent")
    await desk.admin.post("/admin/areas", json={"name": "billing"})
    macro = (await desk.admin.post("/admin/macros", json={"title": "Hi", "body": "Hello"})).json()
    article = (await desk.admin.post("/admin/articles", json={"title": "Refunds", "body": "Ask."})).json()
    rule = {"kind": "keyword", "pattern": "refund", "area": "billing"}
    rule = (await desk.admin.post("/admin/rules", json=rule)).json()
    ids = {
        "{job_id}": 1, "{macro_id}": macro["id"], "{article_id}": article["id"], "{rule_id}": rule["id"],
        "{mailbox_id}": desk.mailbox_id,
    }  # fmt: skip

    async def state() -> list[object]:
        paths = ["/admin/users", "/admin/areas", "/admin/rules", "/macros", "/articles", "/admin/mailboxes"]
        return [(await desk.admin.get(p)).json() for p in [*paths, "/admin/sla/policies"]]

    before = await state()
    wrong = []
    for method, path in ADMIN_ROUTES:
        concrete = path.replace("{name}", "billing")
        for key, value in ids.items():
            concrete = concrete.replace(key, str(value))
        data = {
            "action": "delete", "name": "mallory", "email": "m@x.example", "role": "admin", "title": "Owned",
            "body": "Owned", "kind": "keyword", "pattern": "x", "area": "billing", "imap_host": "evil.example",
            "imap_username": "m", "imap_password": "p", "normal.first_reply": "1",
        }  # fmt: skip
        response = await console.post(concrete, data) if method == "POST" else await console.get(concrete)
        if response.status_code != 403 or "Admins only" not in response.text:
            wrong.append(f"{method} {path}: {response.status_code}")
    assert wrong == []
    assert len(ADMIN_ROUTES) >= 25
    assert await state() == before
    await console.aclose()


async def test_an_admin_saves_a_schedule_through_the_form_and_bad_hours_change_nothing(desk: Desk) -> None:
    console = await _console(desk, "admin")
    week = "Mon 09:00-12:00, 13:00-17:00\nfri 10:00-16:00\n"
    saved = await console.post("/console/admin/schedules", {"name": "berlin", "zone": "Europe/Berlin", "week": week})
    assert saved.status_code == 303, saved.text
    stored = (await desk.admin.get("/admin/sla/schedules/berlin")).json()
    assert stored["zone"] == "Europe/Berlin"
    assert [(i["weekday"], i["start"], i["end"]) for i in stored["intervals"]] == [
        (0, "09:00", "12:00"), (0, "13:00", "17:00"), (4, "10:00", "16:00"),
    ]  # fmt: skip
    page = await console.get("/console/admin/schedules")
    assert "Mon 09:00-12:00, 13:00-17:00\nFri 10:00-16:00" in page.text
    for bad_week, zone, message in [
        ("Moonday 09:00-17:00", "Europe/Berlin", "line 1: start with a day"),
        ("Mon 9am-5pm", "Europe/Berlin", "is not hours"),
        ("Mon 17:00-09:00", "Europe/Berlin", ""),
        ("Mon 09:00-17:00", "Mars/Olympus", ""),
    ]:
        refused = await console.post("/console/admin/schedules", {"name": "berlin", "zone": zone, "week": bad_week})
        assert refused.status_code == 422, (bad_week, zone)
        assert message in refused.text
        assert (await desk.admin.get("/admin/sla/schedules/berlin")).json() == stored
    holiday = await console.post(
        "/console/admin/schedules/berlin/holidays", {"day": "2026-12-25", "holiday_name": "Xmas"}
    )
    assert holiday.status_code == 303
    assert (await desk.admin.get("/admin/sla/schedules/berlin")).json()["holidays"] == [
        {"day": "2026-12-25", "name": "Xmas"}
    ]
    await console.aclose()


@sqlite_only
async def test_a_new_users_token_is_shown_once_and_works(desk: Desk) -> None:
    console = await _console(desk, "admin")
    page = await console.post(
        "/console/admin/users", {"action": "add", "name": "zoe", "email": "zoe@x.example", "role": "agent"}
    )
    assert page.status_code == 200
    token = re.search(r'<code id="new-token">([^<]+)</code>', page.text)
    assert token is not None
    me = await desk.client(token.group(1)).get("/me")
    assert me.status_code == 200 and me.json()["name"] == "zoe"
    assert token.group(1) not in (await console.get("/console/admin/users")).text
    taken = await console.post(
        "/console/admin/users", {"action": "add", "name": "zoe", "email": "z@x.example", "role": "agent"}
    )
    assert taken.status_code == 409 and "exists already" in taken.text
    revoked = await console.post("/console/admin/users", {"action": "revoke", "name": "zoe"})
    assert revoked.status_code == 303
    assert (await desk.client(token.group(1)).get("/me")).status_code == 401
    await console.aclose()


@sqlite_only
async def test_the_router_page_shows_versions_their_confusion_matrix_and_activates_one(
    desk: Desk, trained: TrainedModel
) -> None:
    version = await _register(desk.runtime, trained)
    console = await _console(desk, "admin")
    page = await console.get("/console/admin/router", params={"version": version})
    assert page.status_code == 200 and version in page.text
    labels = trained.classes
    assert page.text.count('class="cell"') == len(labels) ** 2
    assert "Share routed automatically" in page.text  # the coverage curve, recorded at training
    refused = await console.post("/console/admin/router/activate", {"version": version})
    assert refused.status_code == 422 and "create" in refused.text.lower()  # its areas do not exist yet
    activated = await console.post("/console/admin/router/activate", {"version": version, "create_areas": "yes"})
    assert activated.status_code == 303
    models = (await desk.admin.get("/admin/models")).json()
    assert [m["version"] for m in models if m["active"]] == [version]
    await console.aclose()


async def test_the_reports_page_charts_the_window_and_downloads_its_csv(desk: Desk) -> None:
    for i in range(3):
        await desk.new_ticket(mail(subject=f"Question {i}", message_id=f"<r{i}@merchant.example>"))
    console = await _console(desk, "admin")
    today = desk.runtime.clock().date()
    page = await console.get("/console/admin/reports", params={"from": str(today), "to": str(today)})
    assert page.status_code == 200
    assert "<dt>Created</dt><dd>3</dd>" in page.text
    assert "<dt>Contacts (gross / net)</dt><dd>3 / 1</dd>" in page.text  # one customer wrote three times
    assert "<dt>CSAT</dt><dd>no ratings</dd>" in page.text
    assert 'aria-label="CSAT (good / rated)"' not in page.text  # no ratings: the chart says so instead
    assert "Contacts per day" in page.text
    assert page.text.count("<svg") >= 1 and 'aria-label="Tickets created per day"' in page.text
    csv = await console.get("/console/admin/reports.csv", params={"from": str(today), "to": str(today)})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "created" in csv.text.splitlines()[0]
    bad = await console.get("/console/admin/reports", params={"from": "2026-13-01"})
    assert bad.status_code == 400
    await console.aclose()


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_nul_bytes_in_admin_forms_are_refused_on_both_engines_and_change_nothing(desk: Desk) -> None:
    console = await _console(desk, "admin")
    week = {"name": "berlin", "zone": "Europe/Berlin", "week": "Mon 09:00-17:00"}
    assert (await console.post("/console/admin/schedules", week)).status_code == 303

    async def state() -> tuple[object, object]:
        users = (await desk.admin.get("/admin/users")).json()
        return users, (await desk.admin.get("/admin/sla/schedules/berlin")).json()

    before = await state()
    for path, data in [
        ("/console/admin/users", {"action": "rotate", "name": "bob\x00"}),
        ("/console/admin/users", {"action": "add", "name": "bob", "email": "b\x00b@x.example", "role": "agent"}),
        ("/console/admin/schedules/berlin/holidays", {"day": "2026-12-25", "holiday_name": "Xmas\x00"}),
        ("/console/admin/router/activate", {"version": "v\x00"}),
    ]:
        response = await console.post(path, data)
        assert response.status_code == 400, (path, response.status_code)
    assert await state() == before
    await console.aclose()


@sqlite_only
async def test_an_admin_form_without_the_sessions_csrf_token_changes_nothing(desk: Desk) -> None:
    console = await _console(desk, "admin")
    add = {"action": "add", "name": "eve", "email": "eve@x.example", "role": "admin"}
    assert (await console.post("/console/admin/users", add, csrf="x" * 43)).status_code == 403
    assert (await console.post("/console/admin/router/train", {}, csrf="")).status_code == 403
    await desk.admin.post("/admin/areas", json={"name": "billing"})
    macro = (await desk.admin.post("/admin/macros", json={"title": "Hi", "body": "Hello"})).json()
    article = (await desk.admin.post("/admin/articles", json={"title": "Refunds", "body": "Ask."})).json()
    before = [(await desk.admin.get(p)).json() for p in ("/admin/areas", "/admin/rules", "/macros", "/articles")]
    mailboxes = (await desk.admin.get("/admin/mailboxes")).json()
    for path, data in [
        ("/console/admin/areas", {"name": "forged"}),
        ("/console/admin/areas/billing", {"action": "delete"}),
        ("/console/admin/areas/billing/policy", {"normal.first_reply": "1"}),
        ("/console/admin/rules", {"kind": "keyword", "pattern": "x", "area": "billing"}),
        ("/console/admin/macros", {"title": "Forged", "body": "x"}),
        (f"/console/admin/macros/{macro['id']}", {"action": "delete"}),
        ("/console/admin/articles", {"title": "Forged", "body": "x", "action": "save"}),
        (f"/console/admin/articles/{article['id']}", {"action": "delete"}),
        ("/console/admin/mailboxes", {"name": "forged", "imap_host": "h", "imap_username": "u", "imap_password": "p"}),
        (f"/console/admin/mailboxes/{desk.mailbox_id}", {"action": "delete"}),
    ]:
        assert (await console.post(path, data, csrf="")).status_code == 403, path
    after = [(await desk.admin.get(p)).json() for p in ("/admin/areas", "/admin/rules", "/macros", "/articles")]
    assert after == before and (await desk.admin.get("/admin/mailboxes")).json() == mailboxes
    assert [u["name"] for u in (await desk.admin.get("/admin/users")).json() if u["name"] == "eve"] == []
    await console.aclose()


async def test_the_docs_to_write_page_groups_unanswered_tickets_with_links_to_examples(desk: Desk) -> None:
    references = await _desk_with_tickets(desk)
    console = await _console(desk, "admin")
    today = desk.runtime.clock().date()
    page = await console.get("/console/admin/doc-gaps", params={"from": str(today), "to": str(today)})
    assert page.status_code == 200, page.text
    webhook = next(s for s in page.text.split('<section class="card"')[1:] if "webhook" in s.split("</h2>")[0])
    assert "(8 tickets, payouts)" in webhook
    linked = re.findall(r'<a href="/console/tickets/(\d+)">(RD-[A-Z0-9]+)</a>', webhook)
    assert len(linked) == 3 and {ref for _id, ref in linked} <= {references[s] for s in WEBHOOK}
    for ticket_id, ref in linked:
        assert (await desk.agent.get(f"/tickets/{ticket_id}")).json()["reference"] == ref
    assert "No article comes near" in webhook or "Nearest article" in webhook
    await console.aclose()


@sqlite_only
async def test_the_ticket_page_suggests_matching_help_articles_with_their_address(desk: Desk) -> None:
    article = {
        "title": "A payout has not arrived in your bank account",
        "body": "If the payout has not arrived after two business days, give your bank the trace reference.",
        "published": True,
    }
    assert (await desk.admin.post("/admin/articles", json=article)).status_code == 201
    ticket = await desk.new_ticket(
        mail(subject="My payout has not arrived", body="The payout has not arrived in my bank account.")
    )
    console = await _console(desk, "agent")
    without = await console.get(f"/console/tickets/{ticket}")
    assert "A payout has not arrived in your bank account" in without.text
    assert "data-link=" not in without.text  # no public address: nothing a customer could open
    desk.runtime.settings = desk.settings.model_copy(update={"public_url": "https://support.example.com"})
    shown = await console.get(f"/console/tickets/{ticket}")
    assert (
        'data-link="https://support.example.com/help/articles/a-payout-has-not-arrived-in-your-bank-account"'
        in shown.text
    )
    await console.aclose()
