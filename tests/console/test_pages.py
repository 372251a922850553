"""The agents' web console through the real app over httpx: sign-in and its session, CSRF on every form,
the queues, the lists, play mode, the ticket page and its actions, and customer HTML kept in its box."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from ipaddress import ip_network

import httpx
from fastapi.routing import APIRoute
from sqlalchemy import select, update

from app.console import pages as console_pages
from app.console.models import ConsoleSession
from app.console.sessions import COOKIE
from app.db import utcnow
from app.tickets.models import Ticket, TicketEvent
from tests.api.desk import Desk, sqlite_only
from tests.console.browser import Console, hidden
from tests.mailgen import mail


async def _token(desk: Desk, role: str = "agent") -> tuple[str, str]:
    return await desk.new_user(role)


async def _signed_in(desk: Desk, role: str = "agent") -> tuple[Console, str]:
    name, token = await _token(desk, role)
    console = Console(desk)
    response = await console.sign_in(token)
    assert response.status_code == 303, response.text
    return console, name


async def _ticket(desk: Desk, subject: str = "Payout missing") -> int:
    return await desk.new_ticket(mail(subject=subject, message_id=make_msgid(domain="merchant.example")))


def _body(message: EmailMessage) -> str:
    part = message.get_body()
    assert part is not None
    return str(part.get_content())


async def test_a_page_without_a_session_goes_to_sign_in_and_comes_back_after(desk: Desk) -> None:
    ticket = await _ticket(desk)
    _name, token = await _token(desk)
    console = Console(desk)
    wanted = f"/console/tickets/{ticket}"
    redirect = await console.get(wanted)
    assert redirect.status_code == 303
    assert redirect.headers["location"] == "/console/sign-in?next=%2Fconsole%2Ftickets%2F" + str(ticket)
    signed = await console.sign_in(token, wanted=wanted)
    assert signed.status_code == 303 and signed.headers["location"] == wanted
    page = await console.get(wanted)
    assert page.status_code == 200 and "Payout missing" in page.text
    await console.aclose()


@sqlite_only
async def test_the_session_cookie_is_http_only_and_same_site_strict_and_only_its_hash_is_stored(desk: Desk) -> None:
    _name, token = await _token(desk)
    console = Console(desk)
    response = await console.sign_in(token)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and "path=/console" in cookie.lower()
    value = console.client.cookies[COOKIE]
    stored = await desk.all(select(ConsoleSession.id))
    assert len(stored) == 1 and stored[0] != value and value not in stored[0]
    await console.aclose()


@sqlite_only
async def test_a_wrong_token_gets_the_form_again_and_no_session(desk: Desk) -> None:
    console = Console(desk)
    response = await console.sign_in("rdt_" + "x" * 43)
    assert response.status_code == 401
    assert "That token is not valid" in response.text
    assert COOKIE not in console.client.cookies
    assert await desk.all(select(ConsoleSession.id)) == []
    await console.aclose()


@sqlite_only
async def test_sign_in_without_the_forms_own_token_is_refused(desk: Desk) -> None:
    _name, token = await _token(desk)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test") as stranger:
        response = await stranger.post("/console/sign-in", data={"token": token, "form_token": "f" * 43})
    assert response.status_code == 403
    assert await desk.all(select(ConsoleSession.id)) == []


@sqlite_only
async def test_next_never_leads_to_another_site(desk: Desk) -> None:
    _name, token = await _token(desk)
    for wanted in ("https://evil.example/", "//evil.example/console", "/console\\@evil.example", "/api/v1/me"):
        console = Console(desk)
        response = await console.sign_in(token, wanted=wanted)
        assert response.headers["location"] == "/console/queues", wanted
        await console.aclose()


async def test_a_form_without_the_sessions_csrf_token_changes_nothing(desk: Desk) -> None:
    ticket = await _ticket(desk)
    console, _name = await _signed_in(desk)
    for csrf in ("", "x" * 43):
        response = await console.post(f"/console/tickets/{ticket}/note", {"note": "forged"}, csrf=csrf)
        assert response.status_code == 403 and "Form expired" in response.text
    notes = await desk.all(select(TicketEvent).where(TicketEvent.ticket_id == ticket, TicketEvent.kind == "note"))
    assert notes == []
    ok = await console.post(f"/console/tickets/{ticket}/note", {"note": "real"})
    assert ok.status_code == 303
    notes = await desk.all(select(TicketEvent).where(TicketEvent.ticket_id == ticket, TicketEvent.kind == "note"))
    assert [n.note for n in notes] == ["real"]
    await console.aclose()


@sqlite_only
async def test_sign_out_ends_the_session_for_its_cookie(desk: Desk) -> None:
    console, _name = await _signed_in(desk)
    value = console.client.cookies[COOKIE]
    response = await console.post("/console/sign-out")
    assert response.status_code == 303 and response.headers["location"] == "/console/sign-in"
    replay = Console(desk)
    replay.client.cookies.set(COOKIE, value, domain="test", path="/console")
    assert (await replay.get("/console/queues")).status_code == 303
    assert await desk.all(select(ConsoleSession.id)) == []
    await console.aclose()
    await replay.aclose()


@sqlite_only
async def test_a_rotated_token_ends_the_sessions_it_opened(desk: Desk) -> None:
    console, name = await _signed_in(desk)
    assert (await console.get("/console/queues")).status_code == 200
    rotated = await desk.admin.post(f"/admin/users/{name}/token")
    assert rotated.status_code == 200, rotated.text
    assert (await console.get("/console/queues")).status_code == 303
    await console.aclose()


@sqlite_only
async def test_an_idle_session_ends_after_the_idle_timeout_on_the_clock(desk: Desk) -> None:
    start = utcnow()
    desk.runtime.clock = lambda: start
    console, _name = await _signed_in(desk)
    idle = timedelta(minutes=desk.settings.console.idle_minutes)
    desk.runtime.clock = lambda: start + idle - timedelta(minutes=1)
    assert (await console.get("/console/queues")).status_code == 200  # used: its end moves on
    desk.runtime.clock = lambda: start + idle + idle - timedelta(minutes=2)
    assert (await console.get("/console/queues")).status_code == 200
    desk.runtime.clock = lambda: start + 3 * idle
    response = await console.get("/console/queues")
    assert response.status_code == 303 and response.headers["location"].startswith("/console/sign-in")
    await console.aclose()


async def test_the_queues_page_shows_each_queues_counts(desk: Desk) -> None:
    await _ticket(desk, "First")
    await _ticket(desk, "Second")
    console, _name = await _signed_in(desk)
    page = await console.get("/console/queues")
    assert page.status_code == 200
    row = page.text.split('value="triage"', 1)[1].split("</tr>", 1)[0]
    counts = [int(c) for c in re.findall(r'<td class="n">(\d+)</td>', row)]
    assert counts == [2, 2, 0, 0]  # open, unassigned, breached, at risk
    await console.aclose()


async def test_play_claims_the_most_urgent_ticket_and_a_solve_opens_the_next(desk: Desk) -> None:
    later, sooner = await _ticket(desk, "Later"), await _ticket(desk, "Sooner")
    now = utcnow()
    await desk.execute(update(Ticket).where(Ticket.id == later).values(sla_due_at=now + timedelta(hours=5)))
    await desk.execute(update(Ticket).where(Ticket.id == sooner).values(sla_due_at=now + timedelta(hours=1)))
    console, _name = await _signed_in(desk)
    first = await console.post("/console/play", {"area": "triage"})
    assert first.status_code == 303 and first.headers["location"] == f"/console/tickets/{sooner}?play=triage"
    assert await desk.scalar(select(Ticket.assignee_id).where(Ticket.id == sooner)) is not None
    page = await console.get(first.headers["location"])
    assert hidden(page.text, "play") == "triage"
    solved = await console.post(f"/console/tickets/{sooner}/status", {"status": "solved", "play": "triage"})
    assert solved.status_code == 303 and solved.headers["location"] == f"/console/tickets/{later}?play=triage"
    done = await console.post(f"/console/tickets/{later}/status", {"status": "solved", "play": "triage"})
    assert done.status_code == 200 and "Nothing waiting" in done.text
    await console.aclose()


@sqlite_only
async def test_play_with_no_queue_chosen_claims_nothing(desk: Desk) -> None:
    ticket = await _ticket(desk)
    console, _name = await _signed_in(desk)
    response = await console.post("/console/play", {})
    assert response.status_code == 200 and "Nothing waiting" in response.text
    assert await desk.scalar(select(Ticket.assignee_id).where(Ticket.id == ticket)) is None
    await console.aclose()


async def test_a_reply_from_the_console_reaches_the_customer_threaded(desk: Desk) -> None:
    message_id = make_msgid(domain="merchant.example")
    ticket = await desk.new_ticket(mail(subject="Refund question", message_id=message_id))
    console, _name = await _signed_in(desk)
    response = await console.post(
        f"/console/tickets/{ticket}/reply", {"text": "Your refund left today.", "status": "pending"}
    )
    assert response.status_code == 303, response.text
    await desk.send_due()
    [ours] = [m for m in desk.smtp.messages if "Your refund left today." in _body(m.message)]
    assert ours.message["In-Reply-To"] == message_id
    assert await desk.scalar(select(Ticket.status).where(Ticket.id == ticket)) == "pending"
    await console.aclose()


@sqlite_only
async def test_insert_macro_without_javascript_fills_the_reply_box_with_its_values(desk: Desk) -> None:
    created = await desk.admin.post(
        "/admin/macros", json={"title": "Payout delay", "body": "Hello {customer_first_name}, payouts take 2 days."}
    )
    assert created.status_code == 201, created.text
    macro = created.json()["id"]
    ticket = await desk.new_ticket(
        mail(subject="Payout missing", sender="Ana Lima <ana@merchant.example>", message_id=make_msgid())
    )
    console, _name = await _signed_in(desk)
    page = await console.get(f"/console/tickets/{ticket}", params={"macro": macro})
    box = page.text.split('name="text"', 1)[1].split("</textarea>", 1)[0]
    assert "Hello Ana, payouts take 2 days." in html.unescape(box)
    assert hidden(page.text, "macro_id") == str(macro)
    await console.aclose()


@sqlite_only
async def test_customer_html_shows_only_in_a_sandboxed_frame_with_nothing_remote(desk: Desk) -> None:
    raw = (
        b"From: ana@merchant.example\r\nTo: support@routedesk.example\r\nSubject: Styled\r\n"
        b"Message-ID: <html1@merchant.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b'<p onclick="steal()">Hi <b>there</b></p><script>alert(1)</script><img src="https://tracker.example/x.gif">'
    )
    ticket = await desk.new_ticket(raw)
    console, _name = await _signed_in(desk)
    page = await console.get(f"/console/tickets/{ticket}")
    assert "<script>alert" not in page.text and "tracker.example" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    frame = page.text.split('<iframe sandbox title="', 1)[1].split('src="', 1)[1].split('"', 1)[0]
    shown = await console.get(frame)
    assert shown.status_code == 200
    assert "sandbox" in shown.headers["content-security-policy"]
    assert "default-src 'none'" in shown.headers["content-security-policy"]
    assert "<b>there</b>" in shown.text
    # No element runs or loads anything: the remote image is left as its address in text, for the agent.
    assert "<script" not in shown.text and "onclick" not in shown.text and 'src="https:' not in shown.text
    await console.aclose()


async def test_an_action_the_service_refuses_shows_why_and_changes_nothing(desk: Desk) -> None:
    ticket = await _ticket(desk)
    holder, _holder_name = await _signed_in(desk)
    assert (await holder.post("/console/play", {"area": "triage"})).status_code == 303
    other, _other_name = await _signed_in(desk)
    response = await other.post(f"/console/tickets/{ticket}/reply", {"text": "Me too", "status": "solved"})
    assert response.status_code == 403
    assert "claimed by" in html.unescape(response.text)
    assert "Me too" in response.text  # the draft is kept on the page
    assert await desk.scalar(select(Ticket.status).where(Ticket.id == ticket)) == "open"
    await desk.send_due()
    assert not [m for m in desk.smtp.messages if "Me too" in _body(m.message)]
    await holder.aclose()
    await other.aclose()


async def test_the_lists_filter_mine_unassigned_breached_and_pending(desk: Desk) -> None:
    ids = [await _ticket(desk, s) for s in ("Mine one", "Waiting one", "Late one", "Pending one")]
    mine, waiting, late, pending = ids
    console, _name = await _signed_in(desk)
    await desk.execute(update(Ticket).where(Ticket.id == late).values(sla_due_at=utcnow() - timedelta(minutes=5)))
    # A note and a priority never claim; a reply and a status change do.
    assert (await console.post(f"/console/tickets/{waiting}/note", {"note": "x"})).status_code == 303
    assert (await console.post(f"/console/tickets/{waiting}/priority", {"priority": "high"})).status_code == 303
    reply = await console.post(f"/console/tickets/{mine}/reply", {"text": "On it", "status": "open"})
    assert reply.status_code == 303
    assert (await console.post(f"/console/tickets/{pending}/status", {"status": "pending"})).status_code == 303

    async def listed(view: str) -> set[str]:
        page = await console.get("/console/tickets", params={"view": view})
        assert page.status_code == 200
        return {s for s in ("Mine one", "Waiting one", "Late one", "Pending one") if f"<td>{s}</td>" in page.text}

    assert await listed("mine") == {"Mine one", "Pending one"}
    assert await listed("unassigned") == {"Waiting one", "Late one"}
    assert await listed("breached") == {"Late one"}
    assert await listed("pending") == {"Pending one"}
    found = await console.get("/console/tickets", params={"view": "all", "q": "Waiting"})
    assert "<td>Waiting one</td>" in found.text and "<td>Late one</td>" not in found.text
    await console.aclose()


@sqlite_only
async def test_bad_list_requests_get_a_clear_page(desk: Desk) -> None:
    console, _name = await _signed_in(desk)
    assert (await console.get("/console/tickets", params={"view": "nope"})).status_code == 404
    assert (await console.get("/console/tickets", params={"view": "all", "q": "a\x00b"})).status_code == 400
    assert (await console.get("/console/tickets", params={"view": "all", "area": "nope"})).status_code == 404
    assert (await console.get("/console/tickets/999999")).status_code == 404
    await console.aclose()


# Every console route, from its router (which create_app includes): all but sign-in and the static
# files need a session.
CONSOLE_ROUTES = [
    (method, route.path)
    for route in console_pages.router.routes
    if isinstance(route, APIRoute)
    for method in sorted(route.methods or ())
]
OPEN_ROUTES = {"/console/sign-in", "/console/static/{name}"}


def test_the_console_routes_are_found() -> None:
    assert ("POST", "/console/tickets/{ticket_id}/reply") in CONSOLE_ROUTES
    assert len(CONSOLE_ROUTES) > 10


@sqlite_only
async def test_every_console_route_sends_a_caller_without_a_session_to_sign_in(desk: Desk) -> None:
    ticket = await _ticket(desk)
    before = await desk.scalar(select(Ticket.updated_at).where(Ticket.id == ticket))
    wrong = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test") as anonymous:
        anonymous.cookies.set(COOKIE, "A" * 43, domain="test", path="/console")  # a session nobody holds
        for method, path in CONSOLE_ROUTES:
            if path in OPEN_ROUTES:
                continue
            concrete = path.replace("{ticket_id}", str(ticket)).replace("{message_id}", "1")
            response = await anonymous.request(method, concrete, data={"text": "x", "status": "solved"})
            if response.status_code != 303 or not response.headers["location"].startswith("/console/sign-in"):
                wrong.append(f"{method} {path}: {response.status_code}")
    assert wrong == []
    assert await desk.scalar(select(Ticket.updated_at).where(Ticket.id == ticket)) == before


async def test_a_reply_after_someone_elses_is_stopped_with_theirs_shown(desk: Desk) -> None:
    ticket = await _ticket(desk)
    first, _first_name = await _signed_in(desk, "admin")
    second, _second_name = await _signed_in(desk, "admin")
    page = await second.get(f"/console/tickets/{ticket}")  # the second admin opens the ticket ...
    seen = hidden(page.text, "seen")
    sent = await first.post(f"/console/tickets/{ticket}/reply", {"text": "The first answer.", "status": "open"})
    assert sent.status_code == 303  # ... the first replies meanwhile ...
    stopped = await second.post(  # ... and the second's send, from the page it had, is stopped
        f"/console/tickets/{ticket}/reply", {"text": "A second answer.", "status": "open", "seen": seen}
    )
    assert stopped.status_code == 409
    assert "after the newest message you had seen" in html.unescape(stopped.text)
    assert "The first answer." in stopped.text and "A second answer." in stopped.text  # theirs shown, the draft kept
    again = await second.post(
        f"/console/tickets/{ticket}/reply",
        {"text": "A second answer.", "status": "open", "seen": hidden(stopped.text, "seen")},
    )
    assert again.status_code == 303  # having seen it, it goes
    await desk.send_due()
    bodies = [_body(m.message) for m in desk.smtp.messages]
    assert sum("The first answer." in b for b in bodies) == 1 and sum("A second answer." in b for b in bodies) == 1
    await first.aclose()
    await second.aclose()


async def test_the_json_api_refuses_a_stale_reply_with_409_and_sends_nothing(desk: Desk) -> None:
    ticket = await _ticket(desk)
    seen = (await desk.agent.get(f"/tickets/{ticket}")).json()["messages"][-1]["id"]
    assert (
        await desk.agent.post(f"/tickets/{ticket}/reply", json={"text": "One", "status": "open"})
    ).status_code == 200
    stale = await desk.agent.post(
        f"/tickets/{ticket}/reply", json={"text": "Two", "status": "open", "seen_message_id": seen}
    )
    assert stale.status_code == 409 and "after the newest message you had seen" in stale.json()["detail"]
    latest = (await desk.agent.get(f"/tickets/{ticket}")).json()["messages"][-1]["id"]
    fresh = await desk.agent.post(
        f"/tickets/{ticket}/reply", json={"text": "Two", "status": "open", "seen_message_id": latest}
    )
    assert fresh.status_code == 200
    await desk.send_due()
    assert [b for b in (_body(m.message).strip() for m in desk.smtp.messages) if b in ("One", "Two")] == ["One", "Two"]


@sqlite_only
async def test_the_ticket_page_names_who_else_has_it_open(desk: Desk) -> None:
    ticket = await _ticket(desk)
    start = utcnow()
    desk.runtime.clock = lambda: start
    ana, ana_name = await _signed_in(desk)
    bo, _bo_name = await _signed_in(desk)
    assert "Also viewing" not in (await ana.get(f"/console/tickets/{ticket}")).text
    shown = await bo.get(f"/console/tickets/{ticket}")
    assert f"Also viewing this ticket: {ana_name}" in shown.text
    desk.runtime.clock = lambda: start + timedelta(minutes=6)  # ana's view is old now
    assert "Also viewing" not in (await bo.get(f"/console/tickets/{ticket}")).text
    await ana.aclose()
    await bo.aclose()


async def test_play_over_two_queues_keeps_both_through_the_ticket_forms(desk: Desk) -> None:
    assert (await desk.admin.post("/admin/areas", json={"name": "billing"})).status_code == 201
    first, second = await _ticket(desk, "One"), await _ticket(desk, "Two")
    console, _name = await _signed_in(desk)
    opened = await console.client.post("/console/play", data={"csrf": console.csrf, "area": ["triage", "billing"]})
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/console/tickets/{first}?play=triage&play=billing"
    page = await console.get(opened.headers["location"])
    assert page.text.count('name="play" value="triage"') >= 1 and 'name="play" value="billing"' in page.text
    noted = await console.client.post(
        f"/console/tickets/{first}/note",
        data={"csrf": console.csrf, "play": ["triage", "billing"], "note": "hello"},
    )
    assert noted.status_code == 303 and noted.headers["location"].endswith("?play=triage&play=billing")
    solved = await console.client.post(
        f"/console/tickets/{first}/status",
        data={"csrf": console.csrf, "play": ["triage", "billing"], "status": "solved"},
    )
    assert solved.headers["location"] == f"/console/tickets/{second}?play=triage&play=billing"
    await console.aclose()


@sqlite_only
async def test_the_session_cookie_has_no_max_age_so_that_the_idle_timeout_alone_ends_it(desk: Desk) -> None:
    _name, token = await _token(desk)
    console = Console(desk)
    cookie = (await console.sign_in(token)).headers["set-cookie"].lower()
    assert "max-age" not in cookie and "expires" not in cookie
    assert "secure" not in cookie  # plain http, no proxy, no setting
    await console.aclose()


@sqlite_only
async def test_the_cookies_are_secure_behind_a_trusted_tls_proxy_or_when_set(desk: Desk) -> None:
    _name, token = await _token(desk)
    desk.app.state.settings = desk.settings.model_copy(
        update={"http": desk.settings.http.model_copy(update={"trusted_proxies": [ip_network("127.0.0.0/8")]})}
    )
    console = Console(desk)
    console.client.headers["X-Forwarded-Proto"] = "https"
    form = await console.get("/console/sign-in")
    assert "secure" in form.headers["set-cookie"].lower()
    desk.app.state.settings = desk.settings.model_copy(
        update={"console": desk.settings.console.model_copy(update={"secure_cookies": True})}
    )
    # Secure cookies go back over HTTPS only: a browser on https:// signs in, one on http:// cannot.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="https://test") as browser:
        form_token = hidden((await browser.get("/console/sign-in")).text, "form_token")
        signed = await browser.post("/console/sign-in", data={"token": token, "form_token": form_token})
        assert signed.status_code == 303 and "secure" in signed.headers["set-cookie"].lower()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test") as plain:
        form_token = hidden((await plain.get("/console/sign-in")).text, "form_token")
        refused = await plain.post("/console/sign-in", data={"token": token, "form_token": form_token})
        assert refused.status_code == 403
    await console.aclose()


@sqlite_only
async def test_sign_in_ends_the_session_the_browser_held_before(desk: Desk) -> None:
    console, _name = await _signed_in(desk)
    before = console.client.cookies[COOKIE]
    _other, token = await _token(desk)
    assert (await console.sign_in(token)).status_code == 303
    assert console.client.cookies[COOKIE] != before
    assert len(await desk.all(select(ConsoleSession.id))) == 1
    await console.aclose()


@sqlite_only
async def test_sign_in_with_a_form_token_other_than_the_cookies_is_refused(desk: Desk) -> None:
    _name, token = await _token(desk)
    console = Console(desk)
    await console.get("/console/sign-in")  # the browser holds a form cookie ...
    response = await console.client.post("/console/sign-in", data={"token": token, "form_token": "B" * 43})
    assert response.status_code == 403  # ... but the field is another value
    assert await desk.all(select(ConsoleSession.id)) == []
    await console.aclose()


@sqlite_only
async def test_ids_that_are_not_ids_never_give_a_server_error(desk: Desk) -> None:
    ticket = await _ticket(desk)
    console, _name = await _signed_in(desk)
    for seen in ("0", "9999999999", "²", "-1", "1e3"):
        reply = await console.post(f"/console/tickets/{ticket}/reply", {"text": "x", "status": "open", "seen": seen})
        assert reply.status_code < 500, seen
    for macro in ("²", "9999999999", "0"):
        assert (await console.get(f"/console/tickets/{ticket}", params={"macro": macro})).status_code == 200
        reply = await console.post(
            f"/console/tickets/{ticket}/reply", {"text": "y", "status": "open", "macro_id": macro}
        )
        assert reply.status_code < 500, macro
    for path in ("/console/tickets/abc", "/console/tickets/0", f"/console/tickets/{ticket}/messages/abc/html"):
        response = await console.get(path)
        assert response.status_code == 422 and response.headers["content-type"].startswith("text/html"), path
    missing = await console.get(f"/console/tickets/{ticket}/messages/999999/html")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    await console.aclose()


@sqlite_only
async def test_control_characters_in_a_form_are_refused_and_change_nothing(desk: Desk) -> None:
    ticket = await _ticket(desk)
    console, _name = await _signed_in(desk)
    response = await console.post(f"/console/tickets/{ticket}/note", {"note": "a\x00b"})
    assert response.status_code == 400 and "not text" in response.text
    notes = await desk.all(select(TicketEvent).where(TicketEvent.ticket_id == ticket, TicketEvent.kind == "note"))
    assert notes == []
    await console.aclose()


@sqlite_only
async def test_a_refused_reply_keeps_the_chosen_status_and_macro(desk: Desk) -> None:
    ticket = await _ticket(desk)
    holder, _holder = await _signed_in(desk)
    assert (await holder.post("/console/play", {"area": "triage"})).status_code == 303
    other, _other = await _signed_in(desk)
    refused = await other.post(f"/console/tickets/{ticket}/reply", {"text": "Mine", "status": "open", "macro_id": "7"})
    assert refused.status_code == 403
    assert '<option value="open" selected>' in refused.text
    assert hidden(refused.text, "macro_id") == "7"
    await holder.aclose()
    await other.aclose()
