"""Deflection: the articles a new ticket's acknowledgement suggests, each with a signed "this answered my
question" link, and the customer's confirmation that solves the ticket (issue 12).

On the ingest path (`offer`, `record`) nothing here queries the database: the batch loads the help
centre's in-memory index once (`Suggester`), matches each new ticket against it (app/kb/matching.py, a
fraction of a millisecond) and writes the suggestion rows with the batch.

A link's token signs the ticket's reference and the article's id (`PURPOSE`'s salt). Its GET only shows
a page asking to confirm (mail scanners that follow links change nothing); the page's POST deflects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import RowWriter
from app.kb import repository
from app.kb.cache import HelpCentreCache
from app.kb.helpcentre import HelpIndex, current_index
from app.kb.matching import match_articles
from app.kb.models import ArticleSuggestion
from app.links import LinkError, LinkSigner
from app.routing.models import TRIAGE, Area
from app.tickets import lifecycle
from app.tickets import service as tickets
from app.tickets.models import Ticket, TicketRow

PURPOSE = "deflection"
# A link works this long after the acknowledgement: long enough for a customer back from a holiday.
LINK_MAX_AGE = timedelta(days=30)
SUGGESTIONS = 3
SUGGESTION = ArticleSuggestion.__table__


@dataclass(frozen=True, slots=True)
class SuggestedArticle:
    article_id: int
    title: str
    url: str  # the article's help-centre page
    answered_url: str  # the signed "this answered my question" link
    rank: int
    relevance: float


@dataclass(frozen=True, slots=True)
class Suggester:
    """What one ingest batch needs to suggest articles: the help centre's index as it is now, the link
    signer and the public address the links start with. Without a public address no link can be made,
    so nothing is suggested."""

    index: HelpIndex | None
    links: LinkSigner
    public_url: str | None


async def suggester(
    session: AsyncSession, *, cache: HelpCentreCache, links: LinkSigner, public_url: str | None
) -> Suggester:
    index = await current_index(session, cache) if public_url else None
    return Suggester(index=index, links=links, public_url=public_url)


def known_area(area: Area) -> int | None:
    """The area a ticket is matched in: none for triage, where the router did not know it."""
    return None if area.name == TRIAGE else area.id


def offer(suggester: Suggester, *, text: str, area: Area, reference: str) -> list[SuggestedArticle]:
    """Up to three published articles for a new ticket's text and area, above the relevance floor."""
    index, base = suggester.index, suggester.public_url
    if index is None or base is None or not index.articles:
        return []
    offered = []
    matches = match_articles(index, text=text, area_id=known_area(area), limit=SUGGESTIONS)
    for rank, match in enumerate(matches, start=1):
        article = match.article
        token = suggester.links.sign(PURPOSE, {"t": reference, "a": article.id})
        offered.append(
            SuggestedArticle(
                article_id=article.id,
                title=article.title,
                url=f"{base}/help/articles/{article.slug}",
                answered_url=f"{base}/help/answered?{urlencode({'token': token})}",
                rank=rank,
                relevance=round(match.relevance, 4),
            )
        )
    return offered


def record(
    writer: RowWriter, ticket: TicketRow, offered: Sequence[SuggestedArticle], *, area_id: int, now: datetime
) -> None:
    """The suggestions the acknowledgement carried, written with the batch: the deflection rate's
    denominator."""
    for article in offered:
        writer.add(
            SUGGESTION,
            {
                "ticket_id": ticket,
                "article_id": article.article_id,
                "area_id": area_id,
                "rank": article.rank,
                "relevance": article.relevance,
                "created_at": now,
            },
        )


class DeflectionRefused(Exception):
    """A link that cannot deflect: `reason` says why, for the page the customer sees."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Deflectable:
    ticket: Ticket
    article_id: int
    article_title: str | None


async def check(session: AsyncSession, links: LinkSigner, token: str) -> Deflectable:
    """What a link's token points at, when it may still deflect: LinkError for a token that is not ours
    or too old, DeflectionRefused when the ticket is gone, was deflected already (`used`), or was taken up
    by an agent or solved meanwhile (`answered`)."""
    payload = links.verify(PURPOSE, token, max_age=LINK_MAX_AGE)
    reference, article_id = payload.get("t"), payload.get("a")
    if not isinstance(reference, str) or not isinstance(article_id, int) or set(payload) != {"t", "a"}:
        raise LinkError("forged")
    ticket = await tickets.ticket_by_reference(session, reference)
    if ticket is None:
        raise DeflectionRefused("gone")
    suggestion = await repository.suggestion(session, ticket.id, article_id)
    if suggestion is None:
        raise DeflectionRefused("gone")
    if await repository.ticket_deflected(session, ticket.id):
        raise DeflectionRefused("used")
    if ticket.status != "open" or ticket.first_responded_at is not None:
        raise DeflectionRefused("answered")
    found = await repository.article(session, article_id)
    return Deflectable(ticket=ticket, article_id=article_id, article_title=found.title if found else None)


async def deflect(session: AsyncSession, links: LinkSigner, token: str, *, now: datetime) -> Deflectable:
    """The customer confirmed: the ticket is solved as deflected (its `deflected` event names the
    article) and the suggestion marked. Refused as `check` refuses."""
    target = await check(session, links, token)
    article = await repository.article(session, target.article_id)
    event = await lifecycle.deflect(
        session,
        target.ticket,
        article_id=target.article_id,
        article=article.slug if article is not None else "",
        now=now,
    )
    if event is None:  # the ticket changed between the check and the lock
        raise DeflectionRefused("answered")
    await repository.mark_deflected(session, target.ticket.id, target.article_id, now=now)
    return target
