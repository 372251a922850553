"""Ranking articles by text similarity, pure functions over an index built in memory.

Search is BM25 over each article's title, tags and body as one bag of words in which a title or tag word
counts TITLE_WEIGHT times (a simple BM25F): the weight of each (term, article) pair is computed when the
index is built, so a query only adds up the posting arrays of its own terms.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

TITLE_WEIGHT = 3.0
K1 = 1.2
B = 0.75
QUERY_TERMS = 32  # terms of a query that count; bounds the work per request
RELEVANCE_CHARS = 3000  # of a ticket's text, read for its terms

_WORD = re.compile(r"\w+")
# Words that say nothing about a topic; kept short: a missing stop word costs little under BM25's IDF.
_STOP_WORDS = (
    "a an and are as at be been but by can do does for from had has have how i if in into is it its me my "
    "no not of on or our so that the their them then there these they this to was we were what when where "
    "which who why will with you your"
)
_STOP = frozenset(_STOP_WORDS.split())


def terms(text: str) -> list[str]:
    """Lower-case words without accents, stop words dropped, a plural's s taken off (refunds -> refund,
    policies -> policy), so that the articles and a query meet on the same forms."""
    plain = text.casefold()
    if not plain.isascii():
        plain = "".join(c for c in unicodedata.normalize("NFKD", plain) if not unicodedata.combining(c))
    return [_singular(word) for word in _WORD.findall(plain) if word not in _STOP]


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@dataclass(frozen=True, slots=True)
class Document:
    title: str
    body: str
    tags: Sequence[str] = ()


@lru_cache(maxsize=4096)
def _weighted_terms(title: str, tags: tuple[str, ...], body: str) -> dict[str, float]:
    """A document's term frequencies, a title or tag word counting TITLE_WEIGHT. Cached by the text, so
    that rebuilding the index after one article changed recounts that article alone (callers must not
    change the dict)."""
    weighted: dict[str, float] = {}
    for term in terms(" ".join((title, *tags))):
        weighted[term] = weighted.get(term, 0.0) + TITLE_WEIGHT
    for term in terms(body):
        weighted[term] = weighted.get(term, 0.0) + 1.0
    return weighted


@dataclass(frozen=True, slots=True)
class SearchIndex:
    size: int
    # term -> (positions of the documents that hold it, their BM25 weight for it)
    postings: dict[str, tuple[np.ndarray, np.ndarray]]
    idf: dict[str, float]

    @classmethod
    def build(cls, documents: Sequence[Document]) -> SearchIndex:
        counts = [_weighted_terms(doc.title, tuple(doc.tags), doc.body) for doc in documents]
        lengths = np.array([sum(c.values()) for c in counts], dtype=np.float64)
        mean_length = float(lengths.mean()) if len(counts) and lengths.sum() else 1.0
        holders: dict[str, list[int]] = {}
        for position, weighted in enumerate(counts):
            for term in weighted:
                holders.setdefault(term, []).append(position)
        n = len(documents)
        postings, idfs = {}, {}
        for term, positions in holders.items():
            at = np.array(positions, dtype=np.int64)
            tf = np.array([counts[p][term] for p in positions], dtype=np.float64)
            idf = math.log(1.0 + (n - len(positions) + 0.5) / (len(positions) + 0.5))
            norm = K1 * (1.0 - B + B * lengths[at] / mean_length)
            postings[term] = (at, idf * tf * (K1 + 1.0) / (tf + norm))
            idfs[term] = idf
        return cls(size=n, postings=postings, idf=idfs)

    def scores(self, query: str) -> np.ndarray:
        """Each document's BM25 score for the query (0 for a document that shares no term with it)."""
        return self._scores(list(dict.fromkeys(terms(query)))[:QUERY_TERMS])

    def relevance(self, text: str, *, max_terms: int) -> np.ndarray:
        """Each document's BM25 score as a share of the most a document could score for the text's terms
        (each term's idf x (k1 + 1); a term no document holds counts as the rarest): in [0, 1), comparable
        across texts, so that one floor can apply to every ticket. Words no article uses lower it: a
        ticket about something else shares a word or two by chance. The text's first `max_terms`
        distinct terms count."""
        # The terms that count come first: words past the first few thousand characters never would.
        query_terms = list(dict.fromkeys(terms(text[:RELEVANCE_CHARS])))[:max_terms]
        unseen = math.log(1.0 + (self.size + 0.5) / 0.5)
        ceiling = sum(self.idf.get(t, unseen) for t in query_terms) * (K1 + 1.0)
        return self._scores(query_terms) / ceiling if ceiling > 0 else np.zeros(self.size)

    def _scores(self, query_terms: Sequence[str]) -> np.ndarray:
        found = [posting for term in query_terms if (posting := self.postings.get(term)) is not None]
        if not found:
            return np.zeros(self.size)
        if len(found) == 1:
            out = np.zeros(self.size)
            out[found[0][0]] = found[0][1]
            return out
        # One summing pass in C over every posting of the query's terms, rather than one array
        # operation per term.
        return np.bincount(
            np.concatenate([at for at, _ in found]),
            weights=np.concatenate([weight for _, weight in found]),
            minlength=self.size,
        )

    def search(self, query: str, *, limit: int) -> list[tuple[int, float]]:
        """(position, score) of the best-scoring documents, best first; ties by position; none that
        share no term with the query."""
        scores = self.scores(query)
        hits = np.flatnonzero(scores > 0)
        if hits.size > limit:
            hits = hits[np.argpartition(-scores[hits], limit - 1)[:limit]]
        ranked = sorted(hits.tolist(), key=lambda i: (-scores[i], i))
        return [(i, float(scores[i])) for i in ranked[:limit]]
