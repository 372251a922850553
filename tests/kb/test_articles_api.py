"""Admin CRUD of help-centre articles through the API: what is stored, and bad input refused with a 4xx
and nothing changed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.kb.models import Article, KbVersion
from app.kb.schemas import BODY_MAX
from tests.api.desk import Desk, sqlite_only

REFUNDS = {
    "title": "Refund times",
    "body": "Refunds take **5 to 10** days.",
    "area": "refunds",
    "tags": ["Refunds", "cards", "refunds"],
}


async def _area(desk: Desk, name: str = "refunds") -> None:
    response = await desk.admin.post("/admin/areas", json={"name": name, "title": name.title()})
    assert response.status_code == 201, response.text


async def _count(desk: Desk) -> int:
    return int(await desk.scalar(select(func.count()).select_from(Article)))


async def test_admin_creates_an_article_with_a_slug_from_its_title(desk: Desk) -> None:
    await _area(desk)
    response = await desk.admin.post("/admin/articles", json=REFUNDS)
    assert response.status_code == 201, response.text
    article = response.json()
    assert (article["slug"], article["area"], article["tags"], article["published"]) == (
        "refund-times",
        "refunds",
        ["refunds", "cards"],
        False,
    )
    assert (await desk.agent.get(f"/articles/{article['id']}")).json()["body"] == REFUNDS["body"]


async def test_markdown_is_stored_as_written_even_with_a_script(desk: Desk) -> None:
    body = "Hello <script>alert(1)</script> world"
    response = await desk.admin.post("/admin/articles", json={"title": "Hello", "body": body})
    assert response.status_code == 201, response.text
    assert await desk.scalar(select(Article.body)) == body


async def test_update_changes_only_the_fields_sent_and_null_area_makes_it_general(desk: Desk) -> None:
    await _area(desk)
    created = (await desk.admin.post("/admin/articles", json=REFUNDS)).json()
    response = await desk.admin.patch(f"/admin/articles/{created['id']}", json={"published": True, "area": None})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["published"], updated["area"], updated["title"], updated["slug"]) == (
        True,
        None,
        "Refund times",
        "refund-times",
    )
    assert updated["updated_at"] > created["updated_at"]


async def test_every_change_raises_the_help_centre_version(desk: Desk) -> None:
    before = await desk.scalar(select(KbVersion.version))
    created = (await desk.admin.post("/admin/articles", json={"title": "A", "body": "b"})).json()
    await desk.admin.patch(f"/admin/articles/{created['id']}", json={"published": True})
    await desk.admin.delete(f"/admin/articles/{created['id']}")
    assert await desk.scalar(select(KbVersion.version)) == before + 3


async def test_delete_removes_the_article(desk: Desk) -> None:
    created = (await desk.admin.post("/admin/articles", json={"title": "A", "body": "b"})).json()
    assert (await desk.admin.delete(f"/admin/articles/{created['id']}")).status_code == 200
    assert (await desk.agent.get(f"/articles/{created['id']}")).status_code == 404
    assert await _count(desk) == 0


async def test_list_filters_by_area_and_published(desk: Desk) -> None:
    await _area(desk)
    await desk.admin.post("/admin/articles", json={**REFUNDS, "published": True})
    await desk.admin.post("/admin/articles", json={"title": "Draft", "body": "b"})
    listed = (await desk.agent.get("/articles", params={"published": "true"})).json()
    assert [a["slug"] for a in listed] == ["refund-times"]
    assert [a["slug"] for a in (await desk.agent.get("/articles", params={"area": "refunds"})).json()] == [
        "refund-times"
    ]
    assert len((await desk.agent.get("/articles")).json()) == 2


@sqlite_only
async def test_agents_may_not_write_articles(desk: Desk) -> None:
    created = (await desk.admin.post("/admin/articles", json={"title": "A", "body": "b"})).json()
    for response in (
        await desk.agent.post("/admin/articles", json={"title": "B", "body": "b"}),
        await desk.agent.patch(f"/admin/articles/{created['id']}", json={"title": "C"}),
        await desk.agent.delete(f"/admin/articles/{created['id']}"),
    ):
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "Forbidden"
    assert (await desk.agent.get(f"/articles/{created['id']}")).json()["title"] == "A"


async def test_a_duplicate_slug_is_a_conflict_and_adds_nothing(desk: Desk) -> None:
    await desk.admin.post("/admin/articles", json={"title": "Refund times", "body": "b"})
    for body in ({"title": "Refund times", "body": "c"}, {"title": "Other", "slug": "refund-times", "body": "c"}):
        response = await desk.admin.post("/admin/articles", json=body)
        assert response.status_code == 409, response.text
        assert "refund-times" in response.json()["detail"]
    assert await _count(desk) == 1


async def test_renaming_to_a_taken_slug_is_a_conflict_and_changes_nothing(desk: Desk) -> None:
    await desk.admin.post("/admin/articles", json={"title": "First", "body": "b"})
    second = (await desk.admin.post("/admin/articles", json={"title": "Second", "body": "b"})).json()
    response = await desk.admin.patch(f"/admin/articles/{second['id']}", json={"slug": "first", "title": "New"})
    assert response.status_code == 409, response.text
    assert (await desk.agent.get(f"/articles/{second['id']}")).json()["title"] == "Second"


async def test_an_unknown_area_is_not_found_and_adds_nothing(desk: Desk) -> None:
    response = await desk.admin.post("/admin/articles", json={"title": "A", "body": "b", "area": "nowhere"})
    assert response.status_code == 404, response.text
    assert "nowhere" in response.json()["detail"]
    assert await _count(desk) == 0


@sqlite_only
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "  ", "body": "b"}, "title"),
        ({"title": "A", "body": "x" * (BODY_MAX + 1)}, "body"),
        ({"title": "A", "body": " \n "}, "body"),
        ({"title": "A", "body": "b", "slug": "Refund Times"}, "slug"),
        ({"title": "A", "body": "b", "slug": "refund--times"}, "slug"),
        ({"title": "A", "body": "b", "slug": "-refund"}, "slug"),
        ({"title": "A", "body": "b", "slug": "../admin"}, "slug"),
        ({"title": "A", "body": "b", "slug": "x" * 101}, "slug"),
        ({"title": "A", "body": "b", "tags": ["x" * 41]}, "tags"),
        ({"title": "A", "body": "b", "tags": [str(i) for i in range(21)]}, "tags"),
        ({"title": "A", "body": "b", "colour": "red"}, "colour"),
    ],
)
async def test_invalid_fields_are_refused_with_422_naming_the_field(
    desk: Desk, body: dict[str, Any], field: str
) -> None:
    response = await desk.admin.post("/admin/articles", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["fields"][0]["loc"][:2] == ["body", field]
    assert await _count(desk) == 0


@sqlite_only
async def test_a_title_without_letters_for_a_slug_asks_for_one(desk: Desk) -> None:
    response = await desk.admin.post("/admin/articles", json={"title": "返金について", "body": "b"})
    assert response.status_code == 422, response.text
    assert "give a slug" in response.json()["detail"]
    given = await desk.admin.post("/admin/articles", json={"title": "返金について", "body": "b", "slug": "refunds-ja"})
    assert given.status_code == 201, given.text


@sqlite_only
async def test_null_for_a_required_field_is_refused(desk: Desk) -> None:
    created = (await desk.admin.post("/admin/articles", json={"title": "A", "body": "b"})).json()
    response = await desk.admin.patch(f"/admin/articles/{created['id']}", json={"title": None})
    assert response.status_code == 422, response.text
    assert "title cannot be null" in response.json()["detail"]
