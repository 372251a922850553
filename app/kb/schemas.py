from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.validation import LINE, TEXT

TITLE_MAX = 200
BODY_MAX = 50_000
SLUG_MAX = 100
TAG_MAX = 40
TAGS_MAX = 20

# Lower-case words of ASCII letters and digits joined by single hyphens: safe in a URL path as it is.
SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _not_blank(body: str) -> str:
    if not body.strip():
        raise ValueError("the body must not be blank")
    return body


def _slug(value: str) -> str:
    if len(value) > SLUG_MAX or SLUG_PATTERN.fullmatch(value) is None:
        raise ValueError(
            f"a slug is up to {SLUG_MAX} lower-case letters, digits and single hyphens between them (e.g. refund-times)"
        )
    return value


def _tags(tags: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        seen.setdefault(tag.lower(), None)
    return list(seen)


def slug_from_title(title: str) -> str:
    """The title's letters and digits, accents dropped, in lower case, joined by hyphens; "" when the title
    has none that ASCII can spell (then the slug must be given)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = "-".join(re.findall(r"[a-z0-9]+", ascii_title.lower()))
    return slug[:SLUG_MAX].rstrip("-")


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX), LINE]
Body = Annotated[str, Field(min_length=1, max_length=BODY_MAX), AfterValidator(_not_blank), TEXT]
Slug = Annotated[str, StringConstraints(min_length=1, max_length=SLUG_MAX), LINE, AfterValidator(_slug)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TAG_MAX), LINE]
Tags = Annotated[list[Tag], Field(max_length=TAGS_MAX), AfterValidator(_tags)]
AreaName = Annotated[str, StringConstraints(min_length=1, max_length=64), LINE]


class ArticleCreate(BaseModel):
    """`area` is the area's name; none (or null) for a general article. The slug is made from the title
    when not given."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    body: Body
    slug: Slug | None = None
    area: AreaName | None = None
    tags: Tags = []
    published: bool = False


class ArticleUpdate(BaseModel):
    """Only the fields sent change; an explicit null `area` makes the article general."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    body: Body | None = None
    slug: Slug | None = None
    area: AreaName | None = None
    tags: Tags | None = None
    published: bool | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        required = ("body", "published", "slug", "tags", "title")
        nulled = [f for f in required if f in self.model_fields_set and getattr(self, f) is None]
        if nulled:
            raise ValueError(f"{', '.join(nulled)} cannot be null")
        return self

    def fields_sent(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class ArticleRead(BaseModel):
    id: int
    slug: str
    title: str
    body: str  # the markdown as written
    area: str | None  # the area's name
    tags: list[str]
    published: bool
    created_at: datetime
    updated_at: datetime


class NearestArticleRead(BaseModel):
    slug: str
    title: str
    relevance: float


class GapGroupRead(BaseModel):
    area: str
    size: int
    top_terms: list[str]
    examples: list[str]
    nearest_article: NearestArticleRead | None


class DocGapsRead(BaseModel):
    """Groups of recent tickets no article answered (app/kb/gaps.py), biggest first."""

    start: str
    end: str
    area: str | None
    tickets: int
    unanswered: int
    groups: list[GapGroupRead]
