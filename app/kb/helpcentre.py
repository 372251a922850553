"""The public help centre's in-memory index: published articles by slug and by area, rendered, with
their search index. Rebuilt when the kb_version counter moves (any process's change), read per request."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import nh3
import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.kb import service as kb
from app.kb.cache import HelpCentreCache
from app.kb.render import render_markdown
from app.kb.repository import PublishedRow
from app.kb.search import Document, SearchIndex

EXCERPT_CHARS = 200
NO_AREA = -1


@dataclass(frozen=True, slots=True)
class PublicArticle:
    id: int
    slug: str
    title: str
    area_id: int | None
    tags: tuple[str, ...]
    updated_at: datetime
    html: str  # rendered and sanitised
    excerpt: str  # plain text


@dataclass(frozen=True, slots=True)
class HelpIndex:
    version: int
    articles: tuple[PublicArticle, ...]  # in id order
    by_slug: dict[str, PublicArticle]
    search: SearchIndex
    area_ids: np.ndarray  # of each article in `articles`' order; NO_AREA for a general one

    def find(self, query: str, *, limit: int) -> list[tuple[PublicArticle, float]]:
        return [(self.articles[i], score) for i, score in self.search.search(query, limit=limit)]


async def current_index(session: AsyncSession, cache: HelpCentreCache) -> HelpIndex:
    version = await kb.version(session)
    index = cache.index
    if index is not None and index.version >= version:
        return index
    async with cache.rebuilding:  # one rebuild at a time; those waiting take its result
        index = cache.index
        if index is None or index.version < version:
            rows = await kb.published_articles(session)
            # Rendering and indexing a thousand articles takes a moment: off the event loop.
            index = await asyncio.to_thread(build_index, version, rows)
            cache.index = index
    return index


def build_index(version: int, rows: Sequence[PublishedRow]) -> HelpIndex:
    articles, documents = [], []
    for article_id, slug, title, body, area_id, tags, updated_at in rows:
        rendered = render_markdown(body)
        text = " ".join(html.unescape(nh3.clean(rendered, tags=set())).split())
        articles.append(
            PublicArticle(
                id=article_id,
                slug=slug,
                title=title,
                area_id=area_id,
                tags=tuple(tags),
                updated_at=updated_at,
                html=rendered,
                excerpt=_excerpt(text),
            )
        )
        documents.append(Document(title=title, body=text, tags=tags))
    return HelpIndex(
        version=version,
        articles=tuple(articles),
        by_slug={a.slug: a for a in articles},
        search=SearchIndex.build(documents),
        area_ids=np.array([NO_AREA if a.area_id is None else a.area_id for a in articles], dtype=np.int64),
    )


def _excerpt(text: str) -> str:
    if len(text) <= EXCERPT_CHARS:
        return text
    return text[: EXCERPT_CHARS - 1].rsplit(" ", 1)[0] + "…"
