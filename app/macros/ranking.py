"""Which macros fit a ticket: TF-IDF over the macros' text, what agents chose for similar tickets, and
the ticket's area. What that costs to build is kept in the runtime's SuggestionCache between requests."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.preprocessing import normalize
from sqlalchemy.ext.asyncio import AsyncSession

from app.macros import repository
from app.macros.cache import SuggestionCache
from app.macros.render import render, without_placeholders
from app.macros.schemas import SuggestionRead
from mailtext.text import routing_text

# score = W_TEXT * text + W_HISTORY * history + W_AREA * area_fit, where each part lies in [0, 1] and the
# weights sum to 1, so the score does too:
#   text      TF-IDF cosine between the ticket text and the macro's title and body, IDF fitted on the
#             active macros;
#   history   the share of the uses on the most similar past tickets that went to this macro (each use
#             weighted by its ticket's similarity), times the similarity of the nearest of those tickets;
#   area_fit  1 for a macro of the ticket's area, 0.5 for an area-less macro (or no area given), 0 for a
#             macro of another area.
# Text leads: it is evidence about this very ticket. History is next: what agents chose for tickets like
# it. The area is a nudge: the router can be wrong, so a clearly better text match from another area
# still wins (the gap between same and other area equals a text cosine gap of 1/6).
W_TEXT = 0.6
W_HISTORY = 0.3
W_AREA = 0.1
AREA_SAME, AREA_NONE, AREA_OTHER = 1.0, 0.5, 0.0

HISTORY_USES = 2_000  # the most recent uses that history learns from
HISTORY_NEIGHBOURS = 20  # past tickets that vote
HISTORY_MIN_SIMILARITY = 0.1  # below this a past ticket is not "similar" and does not vote
QUERY_CHARS = 20_000  # of the ticket text; bounds the work per request
PAST_TICKET_CHARS = 5_000


async def suggest(
    session: AsyncSession,
    *,
    cache: SuggestionCache,
    text: str,
    area_id: int | None,
    values: Mapping[str, str],
    limit: int = 3,
) -> list[SuggestionRead]:
    """The active macros that best fit a ticket, best first, rendered with its values. Macros with no
    evidence at all for them (no shared words, no history, another area) are left out."""
    if limit <= 0:
        return []
    versions, use_stamp = await repository.suggestion_versions(session, use_window=HISTORY_USES)
    if use_stamp is None:
        return []
    index = await _macro_index(session, cache, versions)
    if not index.ids:
        return []
    history = await _history(session, cache, use_stamp)
    # Terms are counted once and weighed twice: by the macros' IDF and by the past tickets'.
    query = _term_counts([text[:QUERY_CHARS]])

    # Areas come from this request's read: an area deleted since the index was built leaves its macros
    # area-less without touching updated_at.
    current_area = {macro_id: macro_area for macro_id, _, macro_area in versions}
    area_fit = np.array(
        [_area_fit(current_area.get(macro_id, index.area_ids[i]), area_id) for i, macro_id in enumerate(index.ids)]
    )
    text_fit = index.terms.similarity(query)
    history_fit = history.scores(query, index.position)
    scores = W_TEXT * text_fit + W_HISTORY * history_fit + W_AREA * area_fit
    ranked = sorted((i for i in range(len(index.ids)) if scores[i] > 0), key=lambda i: (-scores[i], index.ids[i]))[
        :limit
    ]
    return [
        SuggestionRead(
            macro_id=index.ids[i],
            title=index.titles[i],
            score=round(min(1.0, float(scores[i])), 4),
            body=render(index.bodies[i], values),
        )
        for i in ranked
    ]


def _area_fit(macro_area: int | None, ticket_area: int | None) -> float:
    if macro_area is None or ticket_area is None:
        return AREA_NONE
    return AREA_SAME if macro_area == ticket_area else AREA_OTHER


@cache
def _hasher() -> HashingVectorizer:
    # Stateless: a past ticket's counts never need recomputing, and one count of the ticket text serves
    # both the macros and the past tickets. IDF is fitted per document set (_TermIndex).
    return HashingVectorizer(
        n_features=2**18,
        alternate_sign=False,
        norm=None,
        strip_accents="unicode",
        stop_words="english",
        ngram_range=(1, 2),
        dtype=np.float32,
    )


def _term_counts(texts: list[str]) -> Any:
    return _hasher().transform(texts).tocsr()


@dataclass(frozen=True, slots=True)
class _TermIndex:
    """Documents as TF-IDF vectors, weighed as TfidfTransformer(sublinear_tf=True) weighs them:
    (1 + log tf) * idf, L2-normalised. Kept term-major so a query reads only the rows of its own terms,
    and weighed by hand at query time: sklearn's per-call input checks cost more than the arithmetic."""

    idf: np.ndarray
    by_term: Any  # scipy CSR, terms x documents

    @classmethod
    def build(cls, counts: Any) -> _TermIndex:
        idf = TfidfTransformer(sublinear_tf=True).fit(counts).idf_.astype(np.float32)
        weighted = counts.astype(np.float32)
        weighted.data = np.log(weighted.data) + 1.0
        documents = normalize(sparse.csr_matrix(weighted.multiply(idf)))
        return cls(idf=idf, by_term=documents.T.tocsr())

    def similarity(self, query: Any) -> np.ndarray:
        """Cosine of a one-row matrix of term counts to each document."""
        terms = query.indices
        weights = (np.log(query.data) + 1.0) * self.idf[terms]
        norm = float(np.linalg.norm(weights))
        if norm == 0.0:
            return np.zeros(self.by_term.shape[1])
        cosines: np.ndarray = np.clip(self.by_term[terms].T @ (weights / norm), 0.0, 1.0)
        return cosines


@dataclass(frozen=True, slots=True)
class MacroIndex:
    ids: list[int]
    area_ids: list[int | None]
    titles: list[str]
    bodies: list[str]
    position: dict[int, int]
    terms: _TermIndex


# A past ticket's hashed term counts, as the column indices and values of one sparse row.
TermRow = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, slots=True)
class History:
    stamp: repository.UseStamp
    tickets: _TermIndex | None  # None without uses
    uses: Any  # scipy CSR, past ticket x macro_ids: how often each macro was used on each ticket
    macro_ids: list[int]

    def scores(self, query: Any, position: Mapping[int, int]) -> np.ndarray:
        out = np.zeros(len(position))
        if self.tickets is None:
            return out
        similarity = self.tickets.similarity(query)
        k = min(HISTORY_NEIGHBOURS, similarity.size)
        nearest = np.argpartition(-similarity, k - 1)[:k]
        nearest = nearest[similarity[nearest] >= HISTORY_MIN_SIMILARITY]
        if nearest.size == 0:
            return out
        weights = similarity[nearest]
        votes = self.uses[nearest].T @ weights
        for column in np.flatnonzero(votes):
            at = position.get(self.macro_ids[column])
            if at is not None:
                out[at] = votes[column]
        total = out.sum()
        return out * (weights.max() / total) if total > 0 else out


EMPTY_HISTORY = History(stamp=(None, None, 0), tickets=None, uses=None, macro_ids=[])


_MACRO_INDEXES_KEPT = 2


async def _macro_index(
    session: AsyncSession, cached: SuggestionCache, versions: list[tuple[int, datetime, int | None]]
) -> MacroIndex:
    key = tuple((macro_id, updated_at) for macro_id, updated_at, _ in versions)
    index = cached.macros.get(key)
    if index is None:
        macros = await repository.active_macro_texts(session)
        # Keyed by what was loaded, which a concurrent change may have moved past `versions`.
        key = tuple((macro_id, updated_at) for macro_id, updated_at, *_ in macros)
        # Building takes tens of milliseconds for hundreds of macros: keep it off the event loop.
        index = await asyncio.to_thread(_build_macro_index, macros)
        cached.macros[key] = index
        while len(cached.macros) > _MACRO_INDEXES_KEPT:
            cached.macros.popitem(last=False)
    cached.macros.move_to_end(key)
    return index


def _build_macro_index(macros: list[tuple[int, datetime, int | None, str, str]]) -> MacroIndex:
    # Placeholder names are in nearly every macro and say nothing about its topic.
    documents = [without_placeholders(f"{title}\n{body}") for _, _, _, title, body in macros]
    return MacroIndex(
        ids=[macro_id for macro_id, *_ in macros],
        area_ids=[area_id for _, _, area_id, _, _ in macros],
        titles=[title for _, _, _, title, _ in macros],
        bodies=[body for *_, body in macros],
        position={macro_id: i for i, (macro_id, *_) in enumerate(macros)},
        terms=_TermIndex.build(_term_counts(documents)),
    )


async def _history(session: AsyncSession, cached: SuggestionCache, stamp: repository.UseStamp) -> History:
    current = cached.history or EMPTY_HISTORY
    if current.stamp == stamp:
        return current
    uses = await repository.recent_uses(session, limit=HISTORY_USES)
    if not uses:
        cached.history, cached.rows = EMPTY_HISTORY, {}
        return EMPTY_HISTORY
    ticket_ids = {ticket_id for _, _, ticket_id in uses}
    known = {ticket_id: row for ticket_id, row in cached.rows.items() if ticket_id in ticket_ids}
    missing = ticket_ids - known.keys()
    texts = await repository.first_inbound_texts(session, missing) if missing else {}
    history, rows = await asyncio.to_thread(_build_history, uses, known, missing, texts)
    cached.history, cached.rows = history, rows
    return history


def _build_history(
    uses: list[tuple[int, int, int]],
    known: dict[int, TermRow],
    missing: set[int],
    texts: dict[int, tuple[str, str]],
) -> tuple[History, dict[int, TermRow]]:
    rows = dict(known)
    new = sorted(missing)
    if new:
        # A ticket deleted since the uses were read has no text: an empty row that matches nothing.
        documents = [routing_text(*texts.get(ticket_id, ("", "")))[:PAST_TICKET_CHARS] for ticket_id in new]
        counts = _term_counts(documents)
        for i, ticket_id in enumerate(new):
            start, end = counts.indptr[i], counts.indptr[i + 1]
            rows[ticket_id] = (counts.indices[start:end].copy(), counts.data[start:end].copy())

    ticket_order = list(dict.fromkeys(ticket_id for _, _, ticket_id in uses))
    macro_ids = list(dict.fromkeys(macro_id for _, macro_id, _ in uses))
    ticket_at = {ticket_id: i for i, ticket_id in enumerate(ticket_order)}
    macro_at = {macro_id: i for i, macro_id in enumerate(macro_ids)}

    lengths = np.fromiter((rows[t][0].size for t in ticket_order), dtype=np.int64, count=len(ticket_order))
    term_counts = sparse.csr_matrix(
        (
            np.concatenate([rows[t][1] for t in ticket_order]),
            np.concatenate([rows[t][0] for t in ticket_order]),
            np.concatenate(([0], np.cumsum(lengths))),
        ),
        shape=(len(ticket_order), _hasher().n_features),
    )
    use_counts = sparse.csr_matrix(
        (
            np.ones(len(uses)),
            ([ticket_at[t] for _, _, t in uses], [macro_at[m] for _, m, _ in uses]),
        ),
        shape=(len(ticket_order), len(macro_ids)),
    )  # duplicate (ticket, macro) pairs are summed: a count of uses
    history = History(
        stamp=(uses[0][0], uses[-1][0], len(uses)),
        tickets=_TermIndex.build(term_counts),
        uses=use_counts,
        macro_ids=macro_ids,
    )
    return history, rows
