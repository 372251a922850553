"""The articles an acknowledgement would suggest for a new ticket (app/kb/matching.py), on a small
hand-written help centre. Pure: no database."""

from __future__ import annotations

from datetime import UTC, datetime

from app.kb.helpcentre import HelpIndex, build_index
from app.kb.matching import RELEVANCE_FLOOR, match_articles

REFUNDS, CARDS = 1, 2
ARTICLES = [
    # (id, slug, title, body, area_id)
    (
        1,
        "refund-closed-card",
        "Refund to a closed card",
        "When the card is closed, the bank credits the refund to your account.",
        REFUNDS,
    ),
    (2, "refund-times", "Refund times", "A refund takes five to ten business days to reach you.", REFUNDS),
    (3, "card-limits", "Card spending limits", "Each card has a daily spending limit you can raise in the app.", CARDS),
    (4, "contact", "Contacting support", "Write to us any day; we answer within a day.", None),
    (
        5,
        "card-limits-general",
        "Card spending limits",
        "Each card has a daily spending limit you can raise in the app.",
        None,
    ),
]


def _index() -> HelpIndex:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    return build_index(1, [(i, slug, title, body, area, [], at) for i, slug, title, body, area in ARTICLES])


def _slugs(text: str, *, area_id: int | None, limit: int = 3) -> list[str]:
    return [m.article.slug for m in match_articles(_index(), text=text, area_id=area_id, limit=limit)]


def test_the_article_that_answers_the_ticket_comes_first() -> None:
    ticket = "Subject: refund to my closed card\n\nI closed my card last week; where does my refund go?"
    found = match_articles(_index(), text=ticket, area_id=REFUNDS)
    # "refund times" shares only "refund" with it, and falls under the floor.
    assert [m.article.slug for m in found] == ["refund-closed-card"]
    assert RELEVANCE_FLOOR <= found[0].relevance < 1
    below = match_articles(_index(), text=ticket, area_id=REFUNDS, floor=0.0)
    assert [m.article.slug for m in below][:2] == ["refund-closed-card", "refund-times"]


def test_no_article_is_suggested_for_a_ticket_no_article_is_about() -> None:
    assert _slugs("Your new logo colours look lovely, well done to the design team", area_id=REFUNDS) == []


def test_the_ticket_area_orders_equally_relevant_articles() -> None:
    ticket = "How do I raise the daily spending limit on my card?"
    assert _slugs(ticket, area_id=CARDS, limit=2) == ["card-limits", "card-limits-general"]
    assert _slugs(ticket, area_id=REFUNDS, limit=2) == ["card-limits-general", "card-limits"]


def test_the_area_never_lifts_an_article_below_the_floor() -> None:
    # A refunds ticket about something else shares "day" with the contact article and the refund times:
    # neither reaches the floor, and the area lifts neither.
    found = match_articles(_index(), text="The invoice PDF is blank since Tuesday, every day", area_id=REFUNDS)
    assert found == []


def test_at_most_the_limit_and_none_for_a_limit_of_zero() -> None:
    ticket = "card refund card limit spending closed"
    assert len(_slugs(ticket, area_id=None)) == 3
    assert _slugs(ticket, area_id=None, limit=0) == []
