"""Docs to write next (GET /reports/doc-gaps, `routedesk kb gaps`) on a hand-made set of tickets whose
groups are plain to see: in payouts, eight about webhook signatures and eight about VAT on invoices, which
no article answers, and three about a missing payout, which the payout article answers; in triage, two
about a locked account."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from app.db import utcnow
from app.kb.gaps import Unanswered as Gap
from app.kb.gaps import cluster
from app.kb.helpcentre import build_index
from tests.api.desk import Desk
from tests.cli import routedesk
from tests.mailgen import mail

WEBHOOK = [
    "Webhook signature check fails",
    "Webhook signature invalid for every event",
    "Our webhook signature verification fails",
    "Signature of webhook events does not verify",
    "Webhook signature mismatch since Monday",
    "Webhook events rejected: signature invalid",
    "Cannot verify webhook signature",
    "Webhook signature header wrong",
]
VAT = [
    "VAT missing on our invoice",
    "Invoice shows the wrong VAT",
    "VAT number not on invoices",
    "Please correct the VAT on this invoice",
    "Our invoice charges VAT twice",
    "Invoice VAT reverse charge missing",
    "VAT on the monthly invoice is wrong",
    "Reissue the invoice with our VAT number",
]
ANSWERED = ["My payout has not arrived", "Payout not arrived in bank account", "The payout has not arrived yet"]
TRIAGE = ["Account locked after login attempts", "Locked out of my account login"]


async def _desk_with_tickets(desk: Desk) -> dict[str, str]:
    """The tickets, by subject -> reference."""
    assert (await desk.admin.post("/admin/areas", json={"name": "payouts", "title": "Payouts"})).status_code == 201
    rule = {"kind": "sender_domain", "pattern": "shop.example", "area": "payouts"}
    assert (await desk.admin.post("/admin/rules", json=rule)).status_code == 201
    article = {
        "title": "A payout has not arrived in your bank account",
        "body": "If the payout has not arrived after two business days, give your bank the trace reference.",
        "area": "payouts",
        "published": True,
    }
    assert (await desk.admin.post("/admin/articles", json=article)).status_code == 201
    references = {}
    for n, subject in enumerate(WEBHOOK + VAT + ANSWERED):
        ticket_id = await desk.new_ticket(mail(subject=subject, body=subject + ".", sender=f"m{n}@shop.example"))
        references[subject] = (await desk.agent.get(f"/tickets/{ticket_id}")).json()["reference"]
    for n, subject in enumerate(TRIAGE):
        ticket_id = await desk.new_ticket(mail(subject=subject, body=subject + ".", sender=f"t{n}@other.example"))
        references[subject] = (await desk.agent.get(f"/tickets/{ticket_id}")).json()["reference"]
    return references


async def test_doc_gaps_group_the_unanswered_tickets_by_area_and_topic(desk: Desk) -> None:
    references = await _desk_with_tickets(desk)
    today = utcnow().date().isoformat()
    response = await desk.admin.get("/reports/doc-gaps", params={"from": today, "to": today})
    assert response.status_code == 200, response.text
    report = response.json()
    # 21 tickets; the three the payout article answers are no gap.
    assert (report["tickets"], report["unanswered"]) == (21, 18)
    groups = report["groups"]
    assert [(g["area"], g["size"]) for g in groups] == [("payouts", 8), ("payouts", 8), ("triage", 2)]
    webhook = next(g for g in groups if "webhook" in g["top_terms"])
    vat = next(g for g in groups if "vat" in g["top_terms"])
    assert "signature" in webhook["top_terms"] and "invoice" in vat["top_terms"]
    assert set(webhook["examples"]) <= {references[s] for s in WEBHOOK} and len(webhook["examples"]) == 3
    assert set(vat["examples"]) <= {references[s] for s in VAT} and len(vat["examples"]) == 3
    assert sorted(groups[2]["examples"]) == sorted(references[s] for s in TRIAGE)  # nearest the centre first
    # The one article shares no word with these groups: none is near.
    assert webhook["nearest_article"] is None and vat["nearest_article"] is None
    payouts = (await desk.admin.get("/reports/doc-gaps", params={"from": today, "to": today, "area": "payouts"})).json()
    assert [g["size"] for g in payouts["groups"]] == [8, 8] and payouts["tickets"] == 19


async def test_doc_gaps_refuse_bad_windows_and_areas_and_agents(desk: Desk) -> None:
    today = utcnow().date().isoformat()
    for params in ({}, {"from": today}, {"from": today, "to": "2001-01-01"}, {"from": today, "to": today, "area": "x"}):
        assert (await desk.admin.get("/reports/doc-gaps", params=params)).status_code in (400, 422), params
    assert (await desk.agent.get("/reports/doc-gaps", params={"from": today, "to": today})).status_code == 403


async def test_kb_gaps_prints_the_same_groups(desk: Desk) -> None:
    await _desk_with_tickets(desk)
    today = utcnow().date().isoformat()
    done = await routedesk(desk.settings, "kb", "gaps", "--from", today, "--to", today, "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert [(g["area"], g["size"]) for g in printed["groups"]] == [("payouts", 8), ("payouts", 8), ("triage", 2)]
    text = await routedesk(desk.settings, "kb", "gaps", "--from", today, "--to", today, "--area", "triage")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0] == f"2 of 2 tickets from {today} to {today} no article answered"
    assert text.stdout.splitlines()[1].startswith("triage: 2 tickets about ")
    refused = await routedesk(desk.settings, "kb", "gaps", "--from", today, "--to", today, "--area", "nope")
    assert refused.returncode == 2 and "nope" in refused.stderr
    undated = await routedesk(desk.settings, "kb", "gaps", "--from", "yesterday", "--to", today)
    assert undated.returncode == 2 and "must be dates" in undated.stderr


def test_a_group_names_the_nearest_article_when_one_shares_its_terms() -> None:
    """Clustering alone (no database): the webhook tickets' nearest article is the one about webhooks,
    though it did not answer them (under the floor); the VAT tickets have none near."""
    at = datetime(2026, 12, 1, tzinfo=UTC)
    index = build_index(
        1,
        [
            (1, "webhook-retries", "Webhook retries", "Failed deliveries are retried for three days.", None, [], at),
            (2, "card-limits", "Card limits", "Each card has a monthly limit.", None, [], at),
        ],
    )
    tickets = [Gap(f"W{i}", 1, text) for i, text in enumerate(WEBHOOK)] + [
        Gap(f"V{i}", 1, text) for i, text in enumerate(VAT)
    ]
    groups = {g.top_terms[0]: g for g in cluster(tickets, index, area="payouts", area_id=1)}
    assert sorted(g.size for g in groups.values()) == [8, 8]
    webhook = next(g for g in groups.values() if "webhook" in g.top_terms)
    vat = next(g for g in groups.values() if "vat" in g.top_terms)
    assert webhook.nearest_article is not None and webhook.nearest_article.slug == "webhook-retries"
    assert 0 < webhook.nearest_article.relevance < 1
    assert vat.nearest_article is None
    assert all(ref.startswith("W") for ref in webhook.examples) and all(ref.startswith("V") for ref in vat.examples)
