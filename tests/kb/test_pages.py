"""The public help centre through the real app (httpx): pages, escaping, search order, 404s, and an index
that another process's change reaches. HTML is read with a parser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from ipaddress import ip_network
from itertools import pairwise
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.runtime import open_runtime
from tests.api.desk import Desk, sqlite_only
from tests.kb.html import Elements

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
HOSTILE_TAG = '"><img src=x onerror=alert(1)>'  # within a tag's 40 characters


@pytest.fixture
async def public(desk: Desk) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test") as client:
        yield client


async def _article(desk: Desk, **fields: Any) -> dict[str, Any]:
    response = await desk.admin.post("/admin/articles", json={"published": True, **fields})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _area(desk: Desk, name: str, title: str) -> None:
    assert (await desk.admin.post("/admin/areas", json={"name": name, "title": title})).status_code == 201


async def _page(client: httpx.AsyncClient, url: str, status: int = 200) -> Elements:
    response = await client.get(url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = Elements(response.text)
    _assert_accessible(page)
    assert "script" not in page.tags()
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "style-src 'self'" in csp and "http" not in csp
    return page


def _assert_accessible(page: Elements) -> None:
    [html] = page.attributes("html")
    assert html["lang"] == "en"
    headings = page.headings()
    assert headings.count("h1") == 1 and headings[0] == "h1"
    # No level skipped on the way down.
    levels = [int(h[1]) for h in headings]
    assert all(b <= a + 1 for a, b in pairwise(levels))
    skip = page.attributes("a")[0]
    assert skip["href"] == "#main" and {"id": "main"} in page.attributes("main")
    [search_input] = [a for a in page.attributes("input") if a.get("name") == "q"]
    assert {"for": search_input["id"]} in page.attributes("label")


async def test_index_lists_published_articles_by_area_then_general(desk: Desk, public: httpx.AsyncClient) -> None:
    await _area(desk, "refunds", "Refunds")
    await _area(desk, "cards", "Cards")
    await _article(desk, title="Refund times", body="Five days.", area="refunds")
    await _article(desk, title="A refund to a closed card", body="Bank.", area="refunds")
    await _article(desk, title="Card limits", body="Limits.", area="cards")
    await _article(desk, title="Contact us", body="Email.")
    await _article(desk, title="Secret draft", body="Soon.", published=False)
    page = await _page(public, "/help")
    assert page.texts("h2") == ["Cards", "Refunds", "General"]
    assert page.texts("li") == ["Card limits", "A refund to a closed card", "Refund times", "Contact us"]
    assert "/help/articles/secret-draft" not in {a.get("href") for a in page.attributes("a")}


async def test_article_page_shows_the_rendered_body_without_its_script(desk: Desk, public: httpx.AsyncClient) -> None:
    await _area(desk, "refunds", "Refunds")
    body = "# How long\n\nRefunds take **five** days.\n\n<script>steal()</script>\n\n[Bank](https://bank.example)"
    await _article(desk, title="Refund times", body=body, area="refunds", tags=["refunds"])
    page = await _page(public, "/help/articles/refund-times")
    assert page.texts("h1") == ["Refund times"]
    assert page.texts("h2") == ["How long", "Was this helpful?"]  # the body's heading, then the vote form's
    assert "five" in page.texts("strong")
    assert "steal()" not in " ".join(page.text)
    assert {"href": "https://bank.example", "rel": "nofollow noopener"} in page.attributes("a")
    assert any("In Refunds." in t and "Tags: refunds." in t for t in page.texts("p"))


async def test_hostile_titles_tags_and_queries_are_text_not_markup(desk: Desk, public: httpx.AsyncClient) -> None:
    await _article(desk, title=f"Refunds {HOSTILE}", slug="hostile", body="Refund body.", tags=[HOSTILE_TAG])
    article = await _page(public, "/help/articles/hostile")
    assert article.texts("h1") == [f"Refunds {HOSTILE}"]
    assert "img" not in article.tags()
    assert any(f"Tags: {HOSTILE_TAG}." in t for t in article.texts("p"))
    index = await _page(public, "/help")
    assert index.texts("li") == [f"Refunds {HOSTILE}"]
    results = await _page(public, "/help/search?" + httpx.QueryParams({"q": f"refund {HOSTILE}"}).__str__())
    assert "img" not in results.tags()
    assert [a["value"] for a in results.attributes("input") if a.get("name") == "q"] == [f"refund {HOSTILE}"]
    assert results.texts("li")[0].startswith(f"Refunds {HOSTILE}")


async def test_search_ranks_by_text_similarity_with_the_title_weighted(desk: Desk, public: httpx.AsyncClient) -> None:
    # Worked out by hand for "refund card": (1) has both words in its title; (2) has "refund" in its title
    # and "card" once in the body; (3) has both only in its body, once each; (4) has "card" alone in the
    # body; (5) shares no word and is left out.
    await _article(desk, title="Card balance", body="Your card shows its balance in the app.")
    await _article(desk, title="Refund to a closed card", body="The bank credits your account.")
    await _article(desk, title="Opening hours", body="We answer from nine to five.")
    await _article(desk, title="Refund times", body="A refund to a card takes five days.")
    await _article(desk, title="Disputes", body="A refund may follow a dispute about a card payment.")
    page = await _page(public, "/help/search?q=refund+card")
    links = [a["href"] for a in page.attributes("a") if (a.get("href") or "").startswith("/help/articles/")]
    assert links == [
        "/help/articles/refund-to-a-closed-card",
        "/help/articles/refund-times",
        "/help/articles/disputes",
        "/help/articles/card-balance",
    ]


@sqlite_only
async def test_search_without_a_match_or_a_query_says_so(desk: Desk, public: httpx.AsyncClient) -> None:
    await _article(desk, title="Refund times", body="Five days.")
    none = await _page(public, "/help/search?q=passport")
    assert "ol" not in none.tags() and any("No article matches" in t for t in none.texts("p"))
    empty = await _page(public, "/help/search")
    assert "ol" not in empty.tags()


async def test_drafts_and_unknown_slugs_are_the_404_page(desk: Desk, public: httpx.AsyncClient) -> None:
    await _article(desk, title="Secret draft", body="Soon.", published=False)
    for url in ("/help/articles/secret-draft", "/help/articles/nobody-wrote-this", "/help/articles/..%2Fadmin",
                "/help/articles/" + "x" * 500, "/help/elsewhere/entirely"):  # fmt: skip
        page = await _page(public, url, status=404)
        assert page.texts("h1") == ["Page not found"]


@sqlite_only
async def test_a_query_with_control_characters_is_the_400_page(desk: Desk, public: httpx.AsyncClient) -> None:
    page = await _page(public, "/help/search?q=refund%00", status=400)
    assert page.texts("h1") == ["Search could not be read"]


@sqlite_only
async def test_pages_need_no_login_and_the_stylesheet_is_local(desk: Desk, public: httpx.AsyncClient) -> None:
    [stylesheet] = (await _page(public, "/help")).attributes("link")
    assert stylesheet["href"] == "/help/help.css"
    response = await public.get("/help/help.css")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")
    assert "url(" not in response.text and "@import" not in response.text


async def test_another_process_serves_a_change_at_its_next_request(desk: Desk, public: httpx.AsyncClient) -> None:
    """A second runtime on the same database stands for another `serve` process: its index is built
    before the change, and the change (made through the first) is on its next page."""
    await _article(desk, title="Refund times", body="Five days.")
    async with open_runtime(desk.settings) as other_runtime:
        other = create_app(runtime=other_runtime)
        async with (
            other.router.lifespan_context(other),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://test") as client,
        ):
            assert (await _page(client, "/help")).texts("li") == ["Refund times"]
            created = await _article(desk, title="Card limits", body="Limits.")
            assert (await _page(client, "/help")).texts("li") == ["Card limits", "Refund times"]
            await desk.admin.patch(f"/admin/articles/{created['id']}", json={"published": False})
            assert (await _page(client, "/help")).texts("li") == ["Refund times"]
            assert (await _page(client, "/help/search?q=limits")).texts("li") == []


async def test_articles_of_a_deleted_area_are_listed_as_general(desk: Desk, public: httpx.AsyncClient) -> None:
    await _area(desk, "cards", "Cards")
    await _article(desk, title="Card limits", body="Limits.", area="cards")
    assert (await _page(public, "/help")).texts("h2") == ["Cards"]  # the index is built with the area
    assert (await desk.admin.delete("/admin/areas/cards")).status_code == 204
    assert (await _page(public, "/help")).texts("h2") == ["General"]
    article = await _page(public, "/help/articles/card-limits")
    assert not any("In Cards" in t for t in article.texts("p"))


@sqlite_only
async def test_the_article_forms_cookie_is_secure_behind_a_trusted_tls_proxy(desk: Desk) -> None:
    """A browser on HTTPS through the trusted proxy gets the vote form's CSRF cookie as Secure."""
    article = await _article(desk, title="Refund times", body="Refunds take five days.")
    desk.app.state.settings = desk.settings.model_copy(
        update={"http": desk.settings.http.model_copy(update={"trusted_proxies": [ip_network("127.0.0.0/8")]})}
    )
    for proto, secure in (("https", True), ("http", False)):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=desk.app), base_url="http://test", headers={"X-Forwarded-Proto": proto}
        ) as browser:
            page = await browser.get(f"/help/articles/{article['slug']}")
            assert page.status_code == 200, page.text
            assert ("secure" in page.headers["set-cookie"].lower()) is secure
