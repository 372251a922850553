"""Docs to write next: the recent tickets no article answered, grouped by what they are about.

A ticket counts as unanswered when no suggestion deflected it and no published article matches it now
above the relevance floor (app/kb/matching.py: so a gap closes as soon as its article is published).
Each area's unanswered tickets are clustered on their routing text: TF-IDF (words and word pairs)
into MiniBatchKMeans. The number of groups is the one, of 1 and CANDIDATES up to MAX_GROUPS (and at most one
per MIN_GROUP tickets), whose clustering separates best (cosine silhouette on a sample); one group when no
split separates them (silhouette under SPLIT_SILHOUETTE). Each group: its size, its top terms (the
heaviest of its centroid), the three tickets nearest its centre, and the nearest existing article.

Imports scikit-learn: only the API's and the CLI's doc-gaps handlers import this module, lazily.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel
from sklearn.cluster import MiniBatchKMeans
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import silhouette_score
from sqlalchemy.ext.asyncio import AsyncSession
from threadpoolctl import threadpool_limits

from app.kb import repository
from app.kb.cache import HelpCentreCache
from app.kb.helpcentre import HelpIndex, current_index
from app.kb.matching import match_articles
from app.reports.service import Window
from app.routing import service as routing
from app.routing.models import TRIAGE
from app.tickets import service as tickets

MAX_GROUPS = 12
MIN_GROUP = 5  # tickets per group, at the least, when choosing how many groups
SPLIT_SILHOUETTE = 0.05
SAMPLE = 2000  # tickets the number of groups is chosen on
CANDIDATES = (2, 3, 4, 5, 6, 8, 10, 12)  # numbers of groups tried
# Terms kept (the most frequent): the centroids are dense over them, and k-means' time grows with them.
MAX_TERMS = 4000
TOP_TERMS = 6
EXAMPLES = 3


class NearestArticle(BaseModel):
    slug: str
    title: str
    relevance: float


class GapGroup(BaseModel):
    area: str
    size: int
    top_terms: list[str]
    examples: list[str]  # ticket references
    nearest_article: NearestArticle | None


class DocGaps(BaseModel):
    start: str
    end: str
    area: str | None
    tickets: int  # created in the window
    unanswered: int
    groups: list[GapGroup]


@dataclass(frozen=True, slots=True)
class Unanswered:
    reference: str
    area_id: int
    text: str


async def doc_gaps(session: AsyncSession, window: Window, *, area: str | None, cache: HelpCentreCache) -> DocGaps:
    area_id = (await routing.get_area(session, area)).id if area is not None else None
    names = {a.id: a.name for a in await routing.list_areas(session)}
    index = await current_index(session, cache)
    found: list[tuple[int, Unanswered]] = []
    total = 0
    async for chunk in tickets.routing_texts(session, start=window.since, end=window.until, area_id=area_id):
        total += len(chunk)
        found += [(i, Unanswered(ref, area, text)) for i, ref, area, text in chunk]
    deflected = await repository.deflected_tickets(session, [i for i, _ in found])
    candidates = [t for i, t in found if i not in deflected]
    groups = await asyncio.to_thread(_groups, candidates, index, names)
    return DocGaps(
        start=window.start.isoformat(),
        end=window.end.isoformat(),
        area=area,
        tickets=total,
        unanswered=sum(g.size for g in groups),
        groups=groups,
    )


def _groups(candidates: Sequence[Unanswered], index: HelpIndex, names: dict[int, str]) -> list[GapGroup]:
    # One thread for the numeric libraries: this runs beside the server's requests, and OpenMP's spinning
    # threads on a busy machine made k-means four times slower, not faster.
    with threadpool_limits(limits=1):
        return _grouped(candidates, index, names)


def _grouped(candidates: Sequence[Unanswered], index: HelpIndex, names: dict[int, str]) -> list[GapGroup]:
    by_area: dict[int, list[Unanswered]] = {}
    for ticket in candidates:
        matched_in = None if names.get(ticket.area_id) == TRIAGE else ticket.area_id
        if not match_articles(index, text=ticket.text, area_id=matched_in, limit=1):
            by_area.setdefault(ticket.area_id, []).append(ticket)
    groups: list[GapGroup] = []
    for area_id, unanswered in by_area.items():
        name = names.get(area_id, str(area_id))
        groups += cluster(unanswered, index, area=name, area_id=None if name == TRIAGE else area_id)
    groups.sort(key=lambda g: (-g.size, g.area, g.examples))
    return groups


def cluster(unanswered: Sequence[Unanswered], index: HelpIndex, *, area: str, area_id: int | None) -> list[GapGroup]:
    texts = [t.text for t in unanswered]
    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2),
        stop_words="english",
        sublinear_tf=True,
        min_df=2 if len(texts) >= 50 else 1,
        max_df=0.9,
        max_features=MAX_TERMS,
    )
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # no term left (every text empty or stop words): one group without terms
        return [_group(area, list(range(len(texts))), unanswered, [], None)]
    vocabulary = vectorizer.get_feature_names_out()
    k = _group_count(matrix)
    if k == 1:
        centre = np.asarray(matrix.mean(axis=0)).ravel()
        members = [list(range(len(texts)))]
        centres = [centre]
    else:
        model = MiniBatchKMeans(n_clusters=k, random_state=0, n_init=3, batch_size=2048, max_no_improvement=5).fit(
            matrix
        )
        labels = model.labels_
        members = [np.flatnonzero(labels == c).tolist() for c in range(k)]
        centres = list(model.cluster_centers_)
    out = []
    for rows, centre in zip(members, centres, strict=True):
        if not rows:
            continue
        terms = [str(vocabulary[i]) for i in np.argsort(-centre)[:TOP_TERMS] if centre[i] > 0]
        closeness = np.asarray(matrix[rows] @ centre).ravel()
        nearest_rows = [rows[i] for i in np.argsort(-closeness, kind="stable")[:EXAMPLES]]
        out.append(_group(area, rows, unanswered, terms, _nearest_article(index, terms, area_id), nearest_rows))
    return out


def _group_count(matrix: object) -> int:
    n = matrix.shape[0]  # type: ignore[attr-defined]
    most = min(MAX_GROUPS, n // MIN_GROUP)
    if most < 2:
        return 1
    rng = np.random.default_rng(0)
    sample = matrix[np.sort(rng.choice(n, size=min(n, SAMPLE), replace=False))]  # type: ignore[index]
    best, best_score = 1, SPLIT_SILHOUETTE
    for k in (c for c in CANDIDATES if c <= most):
        labels = MiniBatchKMeans(n_clusters=k, random_state=0, n_init=1, batch_size=1024).fit_predict(sample)
        if len(set(labels.tolist())) < 2:
            continue
        score = float(silhouette_score(sample, labels, metric="cosine"))
        if score > best_score:
            best, best_score = k, score
    return best


def _nearest_article(index: HelpIndex, terms: list[str], area_id: int | None) -> NearestArticle | None:
    if not terms:
        return None
    found = match_articles(index, text=" ".join(terms), area_id=area_id, limit=1, floor=0.0)
    if not found:
        return None
    best = found[0]
    return NearestArticle(slug=best.article.slug, title=best.article.title, relevance=round(best.relevance, 4))


def _group(
    area: str,
    rows: list[int],
    unanswered: Sequence[Unanswered],
    terms: list[str],
    nearest: NearestArticle | None,
    examples: list[int] | None = None,
) -> GapGroup:
    chosen = examples if examples is not None else rows[:EXAMPLES]
    return GapGroup(
        area=area,
        size=len(rows),
        top_terms=terms,
        examples=[unanswered[i].reference for i in chosen],
        nearest_article=nearest,
    )
