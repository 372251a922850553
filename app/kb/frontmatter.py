"""Markdown files with a front matter block, as `routedesk kb import` reads them:

    ---
    title: Refunds to a closed card
    slug: refund-to-a-closed-card
    area: refunds
    tags: refunds, cards
    published: true
    ---
    The article's markdown...

One `key: value` per line (a value may be quoted; tags may be written [a, b]); blank lines and lines
starting with # are skipped. Not YAML: nothing in it is evaluated, and every refusal names its line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KEYS = ("title", "slug", "area", "tags", "published")
_TRUE = frozenset({"true", "yes"})
_FALSE = frozenset({"false", "no"})
_NONE = frozenset({"", "null", "none", "~"})


class FrontMatterError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass
class ArticleFile:
    fields: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)  # the line each key is on
    body: str = ""

    def line_of(self, key: str) -> int:
        return self.lines.get(key, 1)


def parse(text: str) -> ArticleFile:
    lines = text.removeprefix("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise FrontMatterError(
            1, "the file must start with a front matter block: a line '---', key: value lines, '---'"
        )
    found = ArticleFile(fields={})
    for number, line in enumerate(lines[1:], start=2):
        stripped = line.strip()
        if stripped == "---":
            found.body = "\n".join(lines[number:]).strip("\n") + "\n"
            return found
        if not stripped or stripped.startswith("#"):
            continue
        key, colon, raw = stripped.partition(":")
        key = key.strip().lower()
        if not colon:
            raise FrontMatterError(number, f"expected 'key: value', got {_shown(stripped)}")
        if key not in KEYS:
            raise FrontMatterError(number, f"unknown key {_shown(key)} (known: {', '.join(KEYS)})")
        if key in found.fields:
            raise FrontMatterError(number, f"{key} is given twice (first on line {found.lines[key]})")
        found.fields[key] = _value(key, raw.strip(), number)
        found.lines[key] = number
    raise FrontMatterError(len(lines), "the front matter block is not closed by a line '---'")


def _value(key: str, raw: str, line: int) -> Any:
    if key == "tags":
        inner = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
        return [_unquoted(tag.strip(), line) for tag in inner.split(",") if tag.strip()]
    if key == "published":
        word = _unquoted(raw, line).lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise FrontMatterError(line, f"published must be true or false, got {_shown(raw)}")
    value = _unquoted(raw, line)
    if key in ("area", "slug") and value.lower() in _NONE:
        return None
    return value


def _unquoted(value: str, line: int) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    if value and value[0] in "\"'":
        raise FrontMatterError(line, f"an unclosed quote in {_shown(value)}")
    return value


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:59] + "…")
