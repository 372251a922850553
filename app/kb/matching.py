"""Which published articles may answer a new ticket: what its acknowledgement lists (issue 12's
deflection, app/kb/deflection.py). A pure function over the help centre's index.

relevance = BM25(ticket text, article) / the most any article could score for the ticket's terms (in [0, 1))
score     = relevance x AREA_FIT[same area | general article or no ticket area | another area]
An article is suggested only when its score reaches the floor: an article of another area needs more
relevance than one of the ticket's own area. The fit is at most 1, so the area never lifts an unrelated
article over the floor.

The floor and the other area's fit were chosen on a labelled set (which demo article answers each
problem the demo's mail is written from: app/demo/data/article_answers.json) as the pair with the best
precision among those that find the answering article for at least half of the answerable messages
(benchmarks/kb.py prints the grid; figures in the README).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.kb.helpcentre import NO_AREA, HelpIndex, PublicArticle

RELEVANCE_FLOOR = 0.07
AREA_SAME, AREA_NONE, AREA_OTHER = 1.0, 0.85, 0.7
TICKET_TERMS = 40  # the ticket's first distinct terms that count: bounds the work per ticket


@dataclass(frozen=True, slots=True)
class ArticleMatch:
    article: PublicArticle
    relevance: float
    score: float


def match_articles(
    index: HelpIndex,
    *,
    text: str,
    area_id: int | None,
    limit: int = 3,
    floor: float | None = None,
    area_other: float | None = None,
) -> list[ArticleMatch]:
    """Up to `limit` published articles for a ticket's text, best first (ties by article id)."""
    if limit <= 0 or not index.articles:
        return []
    floor = RELEVANCE_FLOOR if floor is None else floor
    other_fit = AREA_OTHER if area_other is None else area_other
    relevance = index.search.relevance(text, max_terms=TICKET_TERMS)
    if area_id is None:
        fit = np.full(len(index.articles), AREA_NONE)
    else:
        other = np.where(index.area_ids == NO_AREA, AREA_NONE, other_fit)
        fit = np.where(index.area_ids == area_id, AREA_SAME, other)
    weighted = relevance * fit
    scores = np.where((weighted >= floor) & (relevance > 0), weighted, 0.0)
    candidates = np.flatnonzero(scores > 0)
    if candidates.size > limit:
        # The best `limit`, and every article tied with the last of them, so that ties go by id.
        cut = np.partition(-scores[candidates], limit - 1)[limit - 1]
        candidates = candidates[-scores[candidates] <= cut]
    ranked = sorted(candidates.tolist(), key=lambda i: (-scores[i], index.articles[i].id))[:limit]
    return [
        ArticleMatch(article=index.articles[i], relevance=float(relevance[i]), score=float(scores[i])) for i in ranked
    ]
