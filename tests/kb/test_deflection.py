"""Deflection through the real app (httpx) and the real SMTP test server: the acknowledgement lists the
matching articles with signed links, a link's GET only asks, its POST solves the ticket as deflected,
and every bad, old or used link gets a clear page; article views and votes; the articles report."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from app.config import Settings
from app.db import utcnow
from app.kb.deflection import PURPOSE
from app.kb.models import ArticleSuggestion
from app.tickets.models import EventKind, Ticket, TicketEvent, TicketStatus
from tests.api.desk import Desk
from tests.kb.html import Elements
from tests.mailgen import mail

PUBLIC = "https://help.example"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"public_url": PUBLIC})


@pytest.fixture
async def public(desk: Desk) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test") as client:
        yield client


PAYOUT_ARTICLE = {
    "title": "A payout has not arrived in your bank account",
    "body": "A payout marked paid has left us. If the payout has not arrived after two business days, "
    "give your bank the payout's trace reference.",
    "tags": ["payouts"],
    "published": True,
}
CARD_ARTICLE = {
    "title": "Card limits",
    "body": "Each card has a monthly spending limit set by the issuing bank.",
    "published": True,
}


async def _articles(desk: Desk) -> tuple[int, int]:
    ids = []
    for data in (PAYOUT_ARTICLE, CARD_ARTICLE):
        response = await desk.admin.post("/admin/articles", json=data)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids[0], ids[1]


PAYOUT_MAIL = {"subject": "Payout has not arrived", "body": "Hello, my payout from Monday has not arrived. Ana"}


async def _acknowledged(desk: Desk, **fields: Any) -> tuple[int, str]:
    """A new ticket whose acknowledgement went out over SMTP: (ticket id, the acknowledgement's text)."""
    before = len(desk.smtp.messages)
    ticket_id = await desk.new_ticket(mail(**{**PAYOUT_MAIL, **fields}))
    assert await desk.send_due() >= 1
    [ack] = desk.smtp.messages[before:]
    return ticket_id, ack.message.get_content()


def _links(text: str) -> list[str]:
    """The acknowledgement's "this answered my question" links, as paths of the app."""
    found = re.findall(r"This answered my question: (\S+)", text)
    for url in found:
        assert url.startswith(f"{PUBLIC}/help/answered?token=")
    return [url.removeprefix(PUBLIC) for url in found]


def _token(path: str) -> str:
    return parse_qs(urlsplit(path).query)["token"][0]


async def _confirm_page(public: httpx.AsyncClient, path: str) -> dict[str, str]:
    """The link's GET: the page with its form, whose fields are returned."""
    response = await public.get(path)
    assert response.status_code == 200, response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = Elements(response.text)
    assert "script" not in page.tags()
    # The header's search form, and the confirmation's.
    assert {"action": "/help/answered", "method": "post"} in page.attributes("form")
    return {str(a["name"]): str(a["value"]) for a in page.attributes("input") if a.get("type") == "hidden"}


async def _ticket(desk: Desk, ticket_id: int) -> Ticket:
    found = await desk.scalar(select(Ticket).where(Ticket.id == ticket_id))
    assert found is not None
    return found  # type: ignore[no-any-return]


async def _kinds(desk: Desk, ticket_id: int) -> list[str]:
    return [
        str(e.kind)
        for e in await desk.all(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id))
    ]


async def test_acknowledgement_lists_the_matching_article_and_its_click_solves_the_ticket_as_deflected(
    desk: Desk, public: httpx.AsyncClient
) -> None:
    payout, _card = await _articles(desk)
    ticket_id, text = await _acknowledged(desk)
    # The payout article matches; the card article shares no word that counts: it is not listed.
    assert "A payout has not arrived in your bank account" in text and "Card limits" not in text
    assert f"{PUBLIC}/help/articles/a-payout-has-not-arrived-in-your-bank-account" in text
    [link] = _links(text)
    fields = await _confirm_page(public, link)
    assert (await _ticket(desk, ticket_id)).status == TicketStatus.OPEN  # the GET changed nothing

    response = await public.post("/help/answered", data=fields)
    assert response.status_code == 200, response.text
    assert "We closed your request" in response.text
    ticket = await _ticket(desk, ticket_id)
    assert ticket.status == TicketStatus.SOLVED and ticket.assignee_id is None and ticket.solved_at is not None
    [event] = await desk.all(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == EventKind.DEFLECTED)
    )
    assert event.data["article_id"] == payout and event.actor == "customer"
    # On the ticket as agents read it, and out of the queue.
    detail = (await desk.agent.get(f"/tickets/{ticket_id}")).json()
    assert any(e["kind"] == "deflected" and e["data"]["article_id"] == payout for e in detail["events"])
    assert (await desk.agent.post("/queues/triage/claim")).status_code in (204, 404)
    # The report: one ticket got suggestions and it was deflected, by the payout article.
    today = utcnow().date().isoformat()
    report = (await desk.admin.get("/reports/articles", params={"from": today, "to": today})).json()
    assert (report["tickets_with_suggestions"], report["deflected"], report["deflection_rate"]) == (1, 1, 1.0)
    [row] = report["by_article"]
    assert (row["article_id"], row["suggested"], row["deflected"]) == (payout, 1, 1)


async def test_a_scanner_that_follows_the_link_changes_nothing(desk: Desk, public: httpx.AsyncClient) -> None:
    await _articles(desk)
    ticket_id, text = await _acknowledged(desk)
    [link] = _links(text)
    before = await _kinds(desk, ticket_id)
    for _ in range(3):  # a scanner's GETs, and a HEAD-less prefetch
        assert (await public.get(link)).status_code == 200
    assert (await _ticket(desk, ticket_id)).status == TicketStatus.OPEN
    assert await _kinds(desk, ticket_id) == before


async def test_forged_malformed_expired_and_foreign_tokens_get_clear_pages(
    desk: Desk, public: httpx.AsyncClient
) -> None:
    payout, _card = await _articles(desk)
    ticket_id, text = await _acknowledged(desk)
    [link] = _links(text)
    token = _token(link)
    reference = (await _ticket(desk, ticket_id)).reference
    # One character of the signature changed (its first: the last one's low bits are base64 padding).
    payload, timestamp, signature = token.split(".")
    flipped = f"{payload}.{timestamp}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    cases = {
        "forged": (flipped, 400, "This link is not valid"),
        "malformed": ("not-a-token", 400, "This link is incomplete"),
        "empty": ("", 400, "This link is incomplete"),
        "too long": ("x" * 5000, 400, "This link is incomplete"),
        "another purpose": (desk.runtime.links.sign("csat", {"t": reference, "a": payout}), 400, "not valid"),
        "another article": (desk.runtime.links.sign(PURPOSE, {"t": reference, "a": payout + 99}), 404, "no longer"),
        "another shape": (desk.runtime.links.sign(PURPOSE, {"t": reference}), 400, "not valid"),
    }
    for name, (bad, status, words) in cases.items():
        response = await public.get("/help/answered", params={"token": bad})
        assert response.status_code == status, name
        assert words in response.text and response.headers["content-type"].startswith("text/html"), name
    # 31 days on, the genuine link has expired: the page says so, the POST too.
    fields = await _confirm_page(public, link)
    later = utcnow() + timedelta(days=31)
    desk.runtime.clock = lambda: later
    response = await public.get(link)
    assert response.status_code == 410 and "expired" in response.text
    assert (await public.post("/help/answered", data=fields)).status_code == 410
    assert (await _ticket(desk, ticket_id)).status == TicketStatus.OPEN


async def test_a_used_link_and_one_for_a_ticket_an_agent_answered_are_refused(
    desk: Desk, public: httpx.AsyncClient
) -> None:
    await _articles(desk)
    ticket_id, text = await _acknowledged(desk)
    [link] = _links(text)
    fields = await _confirm_page(public, link)
    assert (await public.post("/help/answered", data=fields)).status_code == 200
    again = await public.post("/help/answered", data=fields)
    assert again.status_code == 409 and "You confirmed this already" in again.text
    assert (await public.get(link)).status_code == 409
    # Reopened by the customer's next message, the ticket is not deflected again by the old link.
    await desk.ingest(mail(subject=f"Re: [{(await _ticket(desk, ticket_id)).reference}]", body="Still missing."))
    assert (await _ticket(desk, ticket_id)).status == TicketStatus.OPEN
    assert (await public.post("/help/answered", data=fields)).status_code == 409

    other_id, other_text = await _acknowledged(desk, sender="bo@merchant.example")
    [other] = _links(other_text)
    other_fields = await _confirm_page(public, other)
    reply = await desk.agent.post(f"/tickets/{other_id}/reply", json={"text": "Your payout left on Tuesday."})
    assert reply.status_code in (200, 201), reply.text
    refused = await public.post("/help/answered", data=other_fields)
    assert refused.status_code == 409 and "Our team has this request" in refused.text
    # The ticket stays as the agent's reply left it (pending), not deflected.
    assert (await _ticket(desk, other_id)).status == TicketStatus.PENDING
    assert "deflected" not in await _kinds(desk, other_id)


async def test_a_confirmation_without_its_form_token_is_refused(desk: Desk, public: httpx.AsyncClient) -> None:
    await _articles(desk)
    ticket_id, text = await _acknowledged(desk)
    [link] = _links(text)
    fields = await _confirm_page(public, link)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test") as stranger:
        # A cross-site form: the fields, but not the cookie the page set.
        response = await stranger.post("/help/answered", data=fields)
    assert response.status_code == 403 and "This form has expired" in response.text
    wrong = await public.post("/help/answered", data={**fields, "form_token": "x" * 43})
    assert wrong.status_code == 403
    not_a_form = await public.post(
        "/help/answered", content=b'{"token": 1}', headers={"content-type": "application/json"}
    )
    assert not_a_form.status_code == 403
    assert (await _ticket(desk, ticket_id)).status == TicketStatus.OPEN


async def test_the_deflected_ticket_reopens_when_the_customer_writes_again(
    desk: Desk, public: httpx.AsyncClient
) -> None:
    await _articles(desk)
    ticket_id, text = await _acknowledged(desk, message_id="<first@merchant.example>")
    fields = await _confirm_page(public, _links(text)[0])
    assert (await public.post("/help/answered", data=fields)).status_code == 200
    await desk.ingest(mail(body="It did not arrive after all.", in_reply_to="<first@merchant.example>"))
    ticket = await _ticket(desk, ticket_id)
    assert ticket.status == TicketStatus.OPEN and ticket.solved_at is None
    # The desk assesses no sender trust (no authserv-id trusted): no mark follows the message.
    assert (await _kinds(desk, ticket_id))[-1] == "customer_message"


async def test_without_a_public_address_the_acknowledgement_lists_no_article(desk: Desk) -> None:
    await _articles(desk)
    desk.runtime.settings = desk.settings.model_copy(update={"public_url": None})
    ticket_id, text = await _acknowledged(desk)
    assert "help centre" not in text and "/help/" not in text
    assert await desk.all(select(ArticleSuggestion).where(ArticleSuggestion.ticket_id == ticket_id)) == []


async def test_views_and_helpful_votes_are_counted_once_per_browser(desk: Desk, public: httpx.AsyncClient) -> None:
    payout, card = await _articles(desk)
    slug = "a-payout-has-not-arrived-in-your-bank-account"
    for _ in range(3):
        assert (await public.get(f"/help/articles/{slug}")).status_code == 200
    assert (await public.get("/help/articles/card-limits")).status_code == 200
    page = Elements((await public.get(f"/help/articles/{slug}")).text)
    [form_token] = [a["value"] for a in page.attributes("input") if a.get("name") == "form_token"]
    vote = await public.post(f"/help/articles/{slug}/vote", data={"form_token": form_token, "helpful": "yes"})
    assert vote.status_code == 200 and "Thank you" in vote.text
    twice = await public.post(f"/help/articles/{slug}/vote", data={"form_token": form_token, "helpful": "no"})
    assert twice.status_code == 409
    # The page now says the vote is counted, with no form.
    assert "Thank you for telling us." in (await public.get(f"/help/articles/{slug}")).text
    bad = await public.post("/help/articles/card-limits/vote", data={"form_token": form_token, "helpful": "maybe"})
    assert bad.status_code == 400
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test") as other:
        forged = await other.post("/help/articles/card-limits/vote", data={"form_token": form_token, "helpful": "no"})
        assert forged.status_code == 403
        assert (await other.post("/help/articles/no-such-article/vote", data={})).status_code == 404
    # Views: 3 + 1 + the reload after the vote = 5 of the payout article's page; 1 of the card's.
    today = utcnow().date().isoformat()
    report = (await desk.admin.get("/reports/articles", params={"from": today, "to": today})).json()
    rows = {r["article_id"]: r for r in report["by_article"]}
    assert (rows[payout]["views"], rows[payout]["helpful"], rows[payout]["unhelpful"]) == (5, 1, 0)
    assert (rows[card]["views"], rows[card]["helpful"], rows[card]["unhelpful"]) == (1, 0, 0)


async def test_the_articles_report_by_area_and_article_worked_by_hand(desk: Desk, public: httpx.AsyncClient) -> None:
    """Three tickets got suggestions: two in payouts (routed by a rule), one in triage; one payouts
    ticket is deflected. Payouts 1/2 = 0.5, triage 0/1, in all 1/3."""
    await desk.admin.post("/admin/areas", json={"name": "payouts", "title": "Payouts"})
    rule = {"kind": "sender_domain", "pattern": "shop.example", "area": "payouts"}
    assert (await desk.admin.post("/admin/rules", json=rule)).status_code == 201
    payout, _card = await _articles(desk)
    _first, text = await _acknowledged(desk, sender="ana@shop.example")
    await _acknowledged(desk, sender="bo@shop.example")
    await _acknowledged(desk, sender="cy@merchant.example")
    # A ticket whose words no article uses gets no suggestion: not in the denominator.
    await _acknowledged(
        desk, subject="Hello", body="Quick question about something else entirely.", sender="d@x.example"
    )
    fields = await _confirm_page(public, _links(text)[0])
    assert (await public.post("/help/answered", data=fields)).status_code == 200
    today = utcnow().date().isoformat()
    report = (await desk.admin.get("/reports/articles", params={"from": today, "to": today})).json()
    assert (report["tickets_with_suggestions"], report["deflected"], report["deflection_rate"]) == (3, 1, 0.3333)
    by_area = {
        r["area"]: (r["tickets_with_suggestions"], r["deflected"], r["deflection_rate"]) for r in report["by_area"]
    }
    assert by_area == {"payouts": (2, 1, 0.5), "triage": (1, 0, 0.0)}
    [row] = report["by_article"]
    assert (row["article_id"], row["suggested"], row["deflected"], row["deflection_rate"]) == (payout, 3, 1, 0.3333)
    only = (await desk.admin.get("/reports/articles", params={"from": today, "to": today, "area": "payouts"})).json()
    assert (only["tickets_with_suggestions"], only["deflected"]) == (2, 1)
    csv = await desk.admin.get("/reports/articles", params={"from": today, "to": today}, headers={"Accept": "text/csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0] == "group,name,suggested,deflected,deflection_rate,views,helpful,unhelpful"
    assert lines[1] == "all,,3,1,0.3333"
    assert "area,payouts,2,1,0.5000" in lines
    assert f"article,{PAYOUT_ARTICLE_SLUG},3,1,0.3333,0,0,0" in lines
    # Bad input: a clear 4xx, never a 500.
    for params in ({"from": today}, {"from": today, "to": "2020-01-01"}, {"from": today, "to": today, "area": "nope"}):
        assert (await desk.admin.get("/reports/articles", params=params)).status_code in (400, 422), params
    assert (await desk.agent.get("/reports/articles", params={"from": today, "to": today})).status_code == 403


PAYOUT_ARTICLE_SLUG = "a-payout-has-not-arrived-in-your-bank-account"


def test_the_public_address_setting_refuses_what_is_no_http_address() -> None:
    assert Settings(public_url="https://support.example.com/").public_url == "https://support.example.com"
    assert Settings(public_url="").public_url is None
    for bad in ("javascript:alert(1)", "support.example.com", "https://x.example/?a=1", "https://a b.example"):
        with pytest.raises(ValidationError, match="public_url must be an http"):
            Settings(public_url=bad)
