"""The demo's help-centre articles (data/articles/*.md, written for this project, one per question the
demo's mail often asks) and the labelled set that says which of them answers each problem the demo's mail
is written from (data/article_answers.json): what the article-suggestion floor is chosen on
(benchmarks/kb.py) and what `routedesk demo` loads into its help centre."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files

from app.kb.frontmatter import parse
from app.kb.schemas import ArticleCreate

_DATA = files("app.demo").joinpath("data")


def demo_articles() -> list[ArticleCreate]:
    """Every demo article, by file name."""
    folder = _DATA.joinpath("articles")
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".md"))
    out = []
    for name in names:
        found = parse(folder.joinpath(name).read_text(encoding="utf-8"))
        out.append(ArticleCreate.model_validate({**found.fields, "body": found.body}))
    return out


@dataclass(frozen=True, slots=True)
class Answer:
    area: str
    fragment: str  # words of the problem's template that every message written from it holds
    article: str | None  # the slug of the article that answers it, or None


def article_answers() -> list[Answer]:
    raw = json.loads(_DATA.joinpath("article_answers.json").read_text(encoding="utf-8"))
    return [Answer(area=a["area"], fragment=a["fragment"], article=a["article"]) for a in raw["answers"]]


def answer_for(area: str, body: str, answers: list[Answer]) -> Answer | None:
    """Which labelled problem a demo message was written from, known by its fragment (None when the
    message's wording was changed past recognition: typos, another language)."""
    text = " ".join(body.split())
    found = [a for a in answers if a.area == area and a.fragment in text]
    return found[0] if len(found) == 1 else None
