"""Article markdown to the HTML the help centre serves: markdown-it-py renders (raw HTML allowed, so
that nh3 is the one gate every tag passes), nh3 keeps an allow-list. What comes out has no script,
iframe, style, event handler or javascript: URL, no image from another site, and every link carries
rel="nofollow noopener"."""

from __future__ import annotations

from functools import cache, lru_cache
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "dl", "dt", "em", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub", "summary",
    "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
}
# Relative URLs (a path on this site) pass as well: nh3 lets them through.
_URL_SCHEMES = {"http", "https", "mailto"}


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")


def _local_only(tag: str, attribute: str, value: str) -> str | None:
    """An image is served only from this site: its src must be a relative URL, else it is dropped (the
    page's CSP allows images from 'self' only, so a remote one would be broken anyway)."""
    if tag == "img" and attribute == "src" and not _is_relative(value):
        return None
    return value


def _is_relative(url: str) -> bool:
    stripped = url.strip()
    # A backslash is a slash to browsers: "/\host/x" and "\\host/x" leave the site.
    if "\\" in stripped or stripped.startswith("//"):
        return False
    parts = urlsplit(stripped)
    return not parts.scheme and not parts.netloc


@lru_cache(maxsize=4096)
def render_markdown(body: str) -> str:
    """Sanitised HTML of an article's markdown. Cached by the body's text: the same markdown always
    renders the same, and a changed article is a new key."""
    html = _markdown().render(body)
    # Markdown's "# Heading" is an h1; the page's h1 is the title, so every body heading moves one down.
    for level in range(5, 0, -1):
        html = html.replace(f"<h{level}>", f"<h{level + 1}>").replace(f"</h{level}>", f"</h{level + 1}>")
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="nofollow noopener",
        attribute_filter=_local_only,
        strip_comments=True,
    )
