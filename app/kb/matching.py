"""Which published articles may answer a new ticket: what its acknowledgement would list (issue 12's
deflection). A pure function over the help centre's index; not yet called by the acknowledgement mail.

relevance = BM25(ticket text, article) / the most any article could score for the ticket's terms (in [0, 1))
score     = relevance x AREA_FIT[same area | general article or no ticket area | another area]
An article is suggested only when its relevance alone reaches the floor: the area reorders the
candidates, it never lifts an unrelated article over the floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.kb.helpcentre import NO_AREA, HelpIndex, PublicArticle

# Provisional: picked by hand on the tests' examples, to be chosen on labelled data (which article answers
# which demo message) before the acknowledgement uses it.
RELEVANCE_FLOOR = 0.1
AREA_SAME, AREA_NONE, AREA_OTHER = 1.0, 0.85, 0.6
TICKET_TERMS = 40  # the ticket's first distinct terms that count: bounds the work per ticket


@dataclass(frozen=True, slots=True)
class ArticleMatch:
    article: PublicArticle
    relevance: float
    score: float


def match_articles(
    index: HelpIndex, *, text: str, area_id: int | None, limit: int = 3, floor: float = RELEVANCE_FLOOR
) -> list[ArticleMatch]:
    """Up to `limit` published articles for a ticket's text, best first (ties by article id)."""
    if limit <= 0 or not index.articles:
        return []
    relevance = index.search.relevance(text, max_terms=TICKET_TERMS)
    if area_id is None:
        fit = np.full(len(index.articles), AREA_NONE)
    else:
        other = np.where(index.area_ids == NO_AREA, AREA_NONE, AREA_OTHER)
        fit = np.where(index.area_ids == area_id, AREA_SAME, other)
    scores = np.where((relevance >= floor) & (relevance > 0), relevance * fit, 0.0)
    candidates = np.flatnonzero(scores > 0)
    if candidates.size > limit:
        # The best `limit`, and every article tied with the last of them, so that ties go by id.
        cut = np.partition(-scores[candidates], limit - 1)[limit - 1]
        candidates = candidates[-scores[candidates] <= cut]
    ranked = sorted(candidates.tolist(), key=lambda i: (-scores[i], index.articles[i].id))[:limit]
    return [
        ArticleMatch(article=index.articles[i], relevance=float(relevance[i]), score=float(scores[i])) for i in ranked
    ]
