"""CSAT surveys end to end, on each engine: tickets made by ingesting mail and solved through the API,
the scheduler on a pinned clock, the survey mail through the real SMTP test server, and the customer's
links through the real app (httpx): GET shows, POST records, bad tokens get HTML 4xx pages."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from ipaddress import ip_network

import httpx
import pytest
from sqlalchemy import delete, func, select

from app.csat import scheduler
from app.csat.models import CsatSurvey, SurveyStatus
from app.csat.service import SurveyPass
from app.db import utcnow
from app.replies.models import Outbox
from app.replies.sender import send_due
from app.tickets.models import Customer
from tests.api.desk import Desk
from tests.mailgen import mail

BASE = "http://localhost:8000"
LINK = re.compile(r"http://localhost:8000/survey/([A-Za-z0-9_.-]+)\?rating=(good|bad)")
OPT_OUT = re.compile(r"http://localhost:8000/survey/opt-out/([A-Za-z0-9_.-]+)")
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
_tickets = itertools.count(1)


@pytest.fixture
async def customer(desk: Desk) -> AsyncIterator[httpx.AsyncClient]:
    """The customer's browser: the app's public pages, with a cookie jar."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test") as client:
        yield client


async def solved_ticket(
    desk: Desk, *, sender: str = "ana@merchant.example", headers: dict[str, str] | None = None
) -> int:
    n = next(_tickets)
    ticket_id = await desk.new_ticket(
        mail(subject=f"Payout {n}", sender=sender, message_id=f"<csat{n}-{sender}>", headers=headers)
    )
    await solve(desk, ticket_id)
    return ticket_id


async def solve(desk: Desk, ticket_id: int, status: str = "solved") -> None:
    response = await desk.agent.post(f"/tickets/{ticket_id}/status", json={"status": status})
    assert response.status_code == 200, response.text


async def run_scheduler(desk: Desk, at: datetime, **csat: float) -> SurveyPass:
    """One scheduler run at `at` (the desk's clock from then on), with csat settings changed by `csat`."""
    desk.runtime.clock = lambda: at
    settings = desk.settings.model_copy(update={"csat": desk.settings.csat.model_copy(update=csat)})
    return await scheduler.send_due(desk.runtime.sessionmaker, settings=settings, links=desk.runtime.links, now=at)


async def surveys(desk: Desk) -> list[CsatSurvey]:
    return await desk.all(select(CsatSurvey).order_by(CsatSurvey.id))


async def survey_mail(desk: Desk, count: int = 1) -> list[str]:
    """The bodies of the survey mails the SMTP server received, after one sender pass."""
    # The sender on the desk's pinned clock: the survey is due at the scheduler's time.
    await send_due(
        desk.runtime.sessionmaker, desk.settings, desk.runtime.secrets, owner="test", clock=desk.runtime.clock
    )
    sent = await desk.scalar(select(func.count()).select_from(Outbox).where(Outbox.status == "sent"))
    bodies = []
    for item in await desk.smtp.wait_for(sent):
        message = item.message
        if "How did we do?" in message.get_content():
            assert message["Auto-Submitted"] == "auto-replied"
            bodies.append(message.get_content())
    assert len(bodies) == count
    return bodies


def links(body: str) -> tuple[str, str, str]:
    found = dict((rating, token) for token, rating in LINK.findall(body))
    opt_out = OPT_OUT.search(body)
    assert opt_out is not None and set(found) == {"good", "bad"} and found["good"] == found["bad"]
    return found["good"], found["bad"], opt_out.group(1)


async def summary(desk: Desk, day: datetime) -> dict[str, object]:
    first, last = (day - timedelta(days=3)).date(), (day + timedelta(days=3)).date()
    response = await desk.admin.get("/reports/summary", params={"from": str(first), "to": str(last)})
    assert response.status_code == 200, response.text
    total: dict[str, object] = response.json()["total"]
    return total


async def answer(client: httpx.AsyncClient, token: str, rating: str, comment: str = "") -> httpx.Response:
    page = await client.get(f"/survey/{token}", params={"rating": rating})
    assert page.status_code == 200, page.text
    form_token = FORM_TOKEN.search(page.text)
    assert form_token is not None
    return await client.post(
        f"/survey/{token}", data={"form_token": form_token.group(1), "rating": rating, "comment": comment}
    )


def assert_problem_page(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert words in response.text
    assert "Traceback" not in response.text


async def test_survey_goes_after_the_area_delay_and_the_customers_click_changes_the_reports(
    desk: Desk, customer: httpx.AsyncClient
) -> None:
    ticket_id = await solved_ticket(desk)
    solved = utcnow()
    assert (await run_scheduler(desk, solved + timedelta(hours=23))).sent == 0
    at = solved + timedelta(hours=24, minutes=1)
    assert (await run_scheduler(desk, at)).sent == 1
    (body,) = await survey_mail(desk)
    good, _bad, _ = links(body)
    before = await summary(desk, at)
    assert (before["surveys_sent"], before["survey_responses"], before["csat"]) == (1, 0, None)
    # A scanner follows both links: nothing is recorded.
    for rating in ("good", "bad"):
        page = await customer.get(f"/survey/{good}", params={"rating": rating})
        assert page.status_code == 200
        assert f'value="{rating}" checked' in page.text
    assert (await surveys(desk))[0].rating is None
    response = await answer(customer, good, "good", comment="Quick & <b>kind</b>")
    assert response.status_code == 200, response.text
    assert "recorded" in response.text
    after = await summary(desk, at)
    assert (after["surveys_sent"], after["survey_responses"], after["csat_good"], after["csat"]) == (1, 1, 1, 1.0)
    assert after["response_rate"] == 1.0
    (stored,) = await surveys(desk)
    assert (stored.ticket_id, stored.cycle, stored.rating, stored.comment) == (
        ticket_id,
        1,
        "good",
        "Quick & <b>kind</b>",
    )
    # The comment comes back escaped on the page, never as markup.
    page = await customer.get(f"/survey/{good}")
    assert "Quick &amp; &lt;b&gt;kind&lt;/b&gt;" in page.text


async def test_the_scheduler_run_twice_or_concurrently_sends_one_survey_per_cycle(desk: Desk) -> None:
    await solved_ticket(desk)
    at = utcnow() + timedelta(days=1, minutes=1)
    passes = await asyncio.gather(*(run_scheduler(desk, at) for _ in range(3)))
    again = await run_scheduler(desk, at + timedelta(minutes=5))
    assert sum(p.sent for p in passes) + again.sent == 1
    assert len(await surveys(desk)) == 1
    assert await desk.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == "survey")) == 1


async def test_a_ticket_reopened_before_its_delay_gets_no_survey_for_that_cycle(desk: Desk) -> None:
    ticket_id = await solved_ticket(desk)
    await solve(desk, ticket_id, "open")
    assert (await run_scheduler(desk, utcnow() + timedelta(days=1, minutes=1))).sent == 0
    await solve(desk, ticket_id)
    assert (await run_scheduler(desk, utcnow() + timedelta(days=1, minutes=2))).sent == 1
    assert [s.cycle for s in await surveys(desk)] == [1]


async def test_a_reopened_and_solved_again_cycle_closes_the_old_survey(desk: Desk, customer: httpx.AsyncClient) -> None:
    ticket_id = await solved_ticket(desk)
    first_at = utcnow() + timedelta(days=1, minutes=1)
    await run_scheduler(desk, first_at)
    (body,) = await survey_mail(desk)
    old, _, _ = links(body)
    await solve(desk, ticket_id, "open")
    reopened = await customer.get(f"/survey/{old}", params={"rating": "good"})
    assert_problem_page(reopened, 410, "This survey has closed")
    await solve(desk, ticket_id)
    second_at = utcnow() + timedelta(days=1, minutes=2)
    # Within a week of the first survey the customer is not asked again (the rate limit), unless it is off.
    assert (await run_scheduler(desk, second_at)).skipped == {"rate_limited": 1}
    await desk.execute(delete(CsatSurvey).where(CsatSurvey.cycle == 2))
    assert (await run_scheduler(desk, second_at, survey_per_customer_days=0)).sent == 1
    assert [s.cycle for s in await surveys(desk)] == [1, 2]
    desk.runtime.clock = lambda: second_at + timedelta(minutes=1)
    assert_problem_page(await customer.get(f"/survey/{old}"), 410, "This survey has closed")
    (second,) = [b for b in await survey_mail(desk, 2) if old not in b]
    new, _, _ = links(second)
    assert (await answer(customer, new, "bad")).status_code == 200
    assert [s.rating for s in await surveys(desk)] == [None, "bad"]


async def test_bad_tokens_get_a_clear_html_page_and_record_nothing(desk: Desk, customer: httpx.AsyncClient) -> None:
    await solved_ticket(desk)
    at = utcnow() + timedelta(days=1, minutes=1)
    await run_scheduler(desk, at)
    (body,) = await survey_mail(desk)
    token, _, opt_out = links(body)
    payload, stamp, signature = token.split(".")
    forged = f"{payload}.{stamp}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    cases = [
        ("not-a-token", 400, "This link is not valid"),
        ("%00" * 3, 400, "This link is not valid"),
        ("x" * 500, 400, "This link is not valid"),
        (forged, 403, "This link is not valid"),
        (opt_out, 403, "This link is not valid"),  # signed, for another purpose
    ]
    for bad, status, words in cases:
        assert_problem_page(await customer.get(f"/survey/{bad}", params={"rating": "good"}), status, words)
        page = await customer.get(f"/survey/{token}")
        form_token = FORM_TOKEN.search(page.text)
        assert form_token is not None
        posted = await customer.post(f"/survey/{bad}", data={"form_token": form_token.group(1), "rating": "good"})
        assert_problem_page(posted, status, words)
    assert_problem_page(await customer.get("/survey/a/b/c"), 404, "Page not found")
    # Expired: the rating window is 7 days after the survey was sent.
    desk.runtime.clock = lambda: at + timedelta(days=7, seconds=1)
    assert_problem_page(
        await customer.get(f"/survey/{token}", params={"rating": "good"}), 410, "This survey has closed"
    )
    assert [s.rating for s in await surveys(desk)] == [None]


async def test_a_post_without_the_pages_form_token_records_nothing(desk: Desk, customer: httpx.AsyncClient) -> None:
    await solved_ticket(desk)
    await run_scheduler(desk, utcnow() + timedelta(days=1, minutes=1))
    (body,) = await survey_mail(desk)
    token, _, _ = links(body)
    no_cookie = await customer.post(f"/survey/{token}", data={"form_token": "a" * 43, "rating": "good"})
    assert_problem_page(no_cookie, 403, "could not be read")
    page = await customer.get(f"/survey/{token}")
    assert page.status_code == 200
    wrong = await customer.post(f"/survey/{token}", data={"form_token": "b" * 43, "rating": "good"})
    assert_problem_page(wrong, 403, "could not be read")
    as_json = await customer.post(f"/survey/{token}", json={"rating": "good"})
    assert_problem_page(as_json, 403, "could not be read")
    form_token = FORM_TOKEN.search(page.text)
    assert form_token is not None
    no_choice = await customer.post(f"/survey/{token}", data={"form_token": form_token.group(1), "rating": "meh"})
    assert_problem_page(no_choice, 400, "Choose good or bad")
    control = await customer.post(
        f"/survey/{token}", data={"form_token": form_token.group(1), "rating": "good", "comment": "a\x00b"}
    )
    assert_problem_page(control, 400, "not text")
    long = await customer.post(
        f"/survey/{token}", data={"form_token": form_token.group(1), "rating": "good", "comment": "é" * 1001}
    )
    assert_problem_page(long, 400, "longer than 1000 characters")
    assert [s.rating for s in await surveys(desk)] == [None]


async def test_a_rating_can_be_changed_for_seven_days_and_a_bad_one_notes_the_assignee(
    desk: Desk, customer: httpx.AsyncClient
) -> None:
    ticket_id = await solved_ticket(desk)
    at = utcnow() + timedelta(days=1, minutes=1)
    await run_scheduler(desk, at)
    (body,) = await survey_mail(desk)
    token, _, _ = links(body)
    assert (await answer(customer, token, "good")).status_code == 200
    desk.runtime.clock = lambda: at + timedelta(days=6)
    assert (await answer(customer, token, "bad", comment="Still broken")).status_code == 200
    (stored,) = await surveys(desk)
    assert (stored.rating, stored.comment) == ("bad", "Still broken")
    assert stored.assignee_id is not None
    detail = (await desk.admin.get(f"/tickets/{ticket_id}")).json()
    csat_events = [e for e in detail["events"] if e["kind"] == "csat"]
    assert [e["data"]["rating"] for e in csat_events] == ["good", "bad"]
    assert csat_events[1]["note"] is not None and "Still broken" in csat_events[1]["note"]
    assert csat_events[0]["note"] is None
    desk.runtime.clock = lambda: at + timedelta(days=7, minutes=1)
    closed = await customer.get(f"/survey/{token}", params={"rating": "good"})
    assert_problem_page(closed, 410, "This survey has closed")


async def test_no_survey_to_automatic_mail_unattended_addresses_opted_out_or_rate_limited_customers(
    desk: Desk, customer: httpx.AsyncClient
) -> None:
    await solved_ticket(desk, sender="no-reply@shop.example")
    await solved_ticket(desk, sender="news@shop.example", headers={"Precedence": "bulk"})
    await solved_ticket(desk, sender="eve@merchant.example")
    at = utcnow() + timedelta(days=1, minutes=1)
    first = await run_scheduler(desk, at)
    assert (first.sent, first.skipped) == (1, {"unattended_address": 1, "automatic_mail": 1})
    (body,) = await survey_mail(desk)
    _, _, opt_out = links(body)
    # Eve's second ticket within 7 days of her survey: rate-limited.
    await solved_ticket(desk, sender="eve@merchant.example")
    second = await run_scheduler(desk, at + timedelta(minutes=5))
    assert (second.sent, second.skipped) == (0, {"rate_limited": 1})
    # She opts out (GET shows, POST records); 8 days on, her next ticket is not surveyed either.
    page = await customer.get(f"/survey/opt-out/{opt_out}")
    assert page.status_code == 200
    assert await desk.scalar(select(Customer.survey_opt_out).where(Customer.email == "eve@merchant.example")) is False
    form_token = FORM_TOKEN.search(page.text)
    assert form_token is not None
    done = await customer.post(f"/survey/opt-out/{opt_out}", data={"form_token": form_token.group(1)})
    assert done.status_code == 200 and "no more" in done.text
    assert await desk.scalar(select(Customer.survey_opt_out).where(Customer.email == "eve@merchant.example")) is True
    await solved_ticket(desk, sender="eve@merchant.example")
    later = utcnow() + timedelta(days=1, minutes=10)
    third = await run_scheduler(desk, later)
    assert (third.sent, third.skipped) == (0, {"opted_out": 1})
    statuses = sorted((s.status, s.skip_reason or "") for s in await surveys(desk))
    assert statuses == sorted(
        [
            (SurveyStatus.SENT, ""),
            (SurveyStatus.SKIPPED, "unattended_address"),
            (SurveyStatus.SKIPPED, "automatic_mail"),
            (SurveyStatus.SKIPPED, "rate_limited"),
            (SurveyStatus.SKIPPED, "opted_out"),
        ]
    )


async def test_the_area_survey_delay_is_set_through_the_area_api(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail(subject="Delay", message_id="<delay@merchant.example>"))
    response = await desk.admin.patch("/admin/areas/triage", json={"survey_delay_minutes": 60})
    assert response.status_code == 200, response.text
    assert response.json()["survey_delay_minutes"] == 60
    refused = await desk.admin.patch("/admin/areas/triage", json={"survey_delay_minutes": -1})
    assert refused.status_code == 422
    await solve(desk, ticket_id)
    assert (await run_scheduler(desk, utcnow() + timedelta(minutes=59))).sent == 0
    assert (await run_scheduler(desk, utcnow() + timedelta(minutes=61))).sent == 1


async def test_the_workers_scheduler_loop_sends_due_surveys_and_stops_when_asked(desk: Desk) -> None:
    await solved_ticket(desk)
    at = utcnow() + timedelta(days=1, minutes=1)
    settings = desk.settings.model_copy(update={"csat": desk.settings.csat.model_copy(update={"tick_seconds": 0.05})})
    stop = asyncio.Event()
    loop = asyncio.create_task(
        scheduler.run_survey_scheduler(desk.runtime.sessionmaker, settings, desk.runtime.links, stop, clock=lambda: at)
    )
    try:
        async with asyncio.timeout(10):
            while not await surveys(desk):
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5)
    assert [s.status for s in await surveys(desk)] == [SurveyStatus.SENT]


async def test_without_the_apps_public_address_no_survey_goes_out(desk: Desk) -> None:
    await solved_ticket(desk)
    at = utcnow() + timedelta(days=1, minutes=1)
    desk.runtime.clock = lambda: at
    settings = desk.settings.model_copy(update={"public_url": None})
    done = await scheduler.send_due(desk.runtime.sessionmaker, settings=settings, links=desk.runtime.links, now=at)
    assert done.sent == 0
    assert [(s.status, s.skip_reason) for s in await surveys(desk)] == [("skipped", "no_public_url")]
    assert await desk.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == "survey")) == 0


async def test_the_survey_forms_cookie_is_secure_behind_a_trusted_tls_proxy(desk: Desk) -> None:
    """The browser reached the app over HTTPS through the trusted proxy: the form's CSRF cookie is
    sent back over HTTPS only, as the console's cookies are."""
    await solved_ticket(desk)
    await run_scheduler(desk, utcnow() + timedelta(hours=25))
    (body,) = await survey_mail(desk)
    good, _bad, _ = links(body)
    desk.app.state.settings = desk.settings.model_copy(
        update={"http": desk.settings.http.model_copy(update={"trusted_proxies": [ip_network("127.0.0.0/8")]})}
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=desk.app), base_url="http://test", headers={"X-Forwarded-Proto": "https"}
    ) as proxied:
        page = await proxied.get(f"/survey/{good}", params={"rating": "good"})
        assert page.status_code == 200
        assert "secure" in page.headers["set-cookie"].lower()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test") as plain:
        page = await plain.get(f"/survey/{good}", params={"rating": "good"})
        assert "secure" not in page.headers["set-cookie"].lower()
