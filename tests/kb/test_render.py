"""What an article's markdown becomes on its public page: rendered, then sanitised by nh3. Checked on the
parsed HTML, not on substrings."""

from __future__ import annotations

import pytest

from app.kb.render import render_markdown
from tests.kb.html import Elements


def test_markdown_renders_headings_one_level_down_lists_and_tables() -> None:
    page = Elements(
        render_markdown("# Refunds\n\n## Times\n\n- five days\n- ten days\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    )
    assert [tag for tag, _ in page.elements if tag.startswith("h")] == ["h2", "h3"]
    assert {"ul", "li", "table", "td"} <= page.tags()


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        "<iframe src='https://evil.example/'></iframe>",
        "<object data='x'></object><embed src='x'>",
        "<style>body { display: none }</style>",
        "<form action='https://evil.example/'><input name='card'></form>",
    ],
)
def test_script_iframe_and_active_content_are_removed_with_their_content(markdown: str) -> None:
    page = Elements(render_markdown(f"Before\n\n{markdown}\n\nAfter"))
    assert page.tags() <= {"p"}
    assert "alert" not in "".join(page.text) and "display" not in "".join(page.text)


def test_event_handlers_and_style_attributes_are_removed() -> None:
    page = Elements(
        render_markdown('<a href="/help" onclick="steal()" style="color:red">x</a> <b onmouseover="x()">y</b>')
    )
    for _tag, attrs in page.elements:
        assert not any(name.startswith("on") or name == "style" for name in attrs)


@pytest.mark.parametrize(
    "markdown",
    [
        "[pay](javascript:alert(1))",
        '<a href="javascript:alert(1)">pay</a>',
        '<a href="JaVaScRiPt:alert(1)">pay</a>',
        '<a href="data:text/html,<script>alert(1)</script>">pay</a>',
        '<a href="vbscript:msgbox(1)">pay</a>',
    ],
)
def test_javascript_and_data_urls_never_become_links(markdown: str) -> None:
    page = Elements(render_markdown(markdown))
    assert all(attrs.get("href") is None for attrs in page.attributes("a"))


def test_links_carry_nofollow_noopener() -> None:
    page = Elements(render_markdown("[docs](https://docs.example/refunds) and [here](/help/articles/cards)"))
    links = page.attributes("a")
    assert [a["href"] for a in links] == ["https://docs.example/refunds", "/help/articles/cards"]
    assert all(a["rel"] == "nofollow noopener" for a in links)


@pytest.mark.parametrize(
    "src",
    [
        "https://tracker.example/pixel.png",
        "http://tracker.example/p.png",
        "//tracker.example/p.png",
        "/\\tracker.example/p.png",
    ],
)
def test_remote_images_lose_their_src(src: str) -> None:
    page = Elements(render_markdown(f"![pixel]({src})" if "\\" not in src else f'<img src="{src}" alt="pixel">'))
    [image] = page.attributes("img")
    assert "src" not in image and image["alt"] == "pixel"


def test_relative_images_keep_their_src() -> None:
    page = Elements(render_markdown("![the settings page](/static/settings.png)"))
    assert page.attributes("img") == [{"src": "/static/settings.png", "alt": "the settings page"}]
