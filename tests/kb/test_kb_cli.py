"""`routedesk kb list | add | remove | import`, in-process on the test's database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import Result

from app.kb.models import Article
from tests.api.desk import Desk
from tests.cli import invoke_routedesk

REFUND = """---
title: Refunds to a closed card
slug: refund-closed-card
area: refunds
tags: refunds, cards
published: true
---
# What happens

The refund goes back to your bank, which credits your account.
"""
PASSWORD = """---
title: Resetting your password
---
Use the *forgot password* link on the sign-in page.
"""


async def _routedesk(desk: Desk, *args: str) -> Result:
    # The command runs its own event loop: a thread of its own.
    return await asyncio.to_thread(invoke_routedesk, desk.settings, *args)


async def _slugs(desk: Desk) -> list[str]:
    return list(await desk.all(select(Article.slug).order_by(Article.slug)))


async def _with_area(desk: Desk) -> None:
    assert (await desk.admin.post("/admin/areas", json={"name": "refunds", "title": "Refunds"})).status_code == 201


async def test_kb_import_creates_every_article_of_a_folder(desk: Desk, tmp_path: Path) -> None:
    await _with_area(desk)
    (tmp_path / "refund.md").write_text(REFUND)
    (tmp_path / "password.md").write_text(PASSWORD)
    (tmp_path / "notes.txt").write_text("not an article")
    result = await _routedesk(desk, "kb", "import", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "2 articles created, 0 updated" in result.output
    # Files are imported in name order: password.md first.
    listed = [json.loads(line) for line in (await _routedesk(desk, "kb", "list")).output.splitlines()]
    assert [(a["slug"], a["area"], a["tags"], a["published"]) for a in listed] == [
        ("resetting-your-password", None, [], False),
        ("refund-closed-card", "refunds", ["refunds", "cards"], True),
    ]
    body = await desk.scalar(select(Article.body).where(Article.slug == "refund-closed-card"))
    assert body.startswith("# What happens\n")


async def test_kb_import_again_updates_the_articles_by_slug(desk: Desk, tmp_path: Path) -> None:
    (tmp_path / "password.md").write_text(PASSWORD)
    assert (await _routedesk(desk, "kb", "import", str(tmp_path))).exit_code == 0
    (tmp_path / "password.md").write_text(PASSWORD.replace("---\nUse", "published: true\n---\nUse"))
    result = await _routedesk(desk, "kb", "import", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "0 articles created, 1 updated" in result.output
    assert await desk.scalar(select(Article.published)) is True


async def test_kb_import_of_a_bad_file_names_it_and_its_line_and_imports_nothing(desk: Desk, tmp_path: Path) -> None:
    (tmp_path / "a-password.md").write_text(PASSWORD)
    (tmp_path / "b-refund.md").write_text(REFUND)  # the area "refunds" does not exist
    result = await _routedesk(desk, "kb", "import", str(tmp_path))
    assert result.exit_code == 2
    assert f"{tmp_path / 'b-refund.md'}: line 4: no area named 'refunds'; nothing imported" in result.output
    assert await _slugs(desk) == []


async def test_kb_import_refuses_bad_front_matter_and_bad_fields_by_line(desk: Desk, tmp_path: Path) -> None:
    cases = {
        "---\ntitle: T\nauthor: me\n---\nbody\n": "line 3: unknown key 'author'",
        "---\ntitle: T\nslug: Not A Slug\n---\nbody\n": "line 3: slug: Value error, a slug is",
        "---\nslug: t\n---\nbody\n": "line 1: title: Field required",
        "---\ntitle: T\n---\n\n": "line 1: body: Value error, the body must not be blank",
    }
    for text, expected in cases.items():
        folder = tmp_path / str(abs(hash(text)))
        folder.mkdir()
        (folder / "bad.md").write_text(text)
        result = await _routedesk(desk, "kb", "import", str(folder))
        assert result.exit_code == 2, result.output
        assert f"{folder / 'bad.md'}: {expected}" in result.output
        assert len(result.output.strip().splitlines()) == 1
    assert await _slugs(desk) == []


async def test_kb_import_refuses_two_files_with_one_slug(desk: Desk, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(PASSWORD)
    (tmp_path / "b.md").write_text(PASSWORD)
    result = await _routedesk(desk, "kb", "import", str(tmp_path))
    assert result.exit_code == 2
    assert "the slug 'resetting-your-password' is also" in result.output and "a.md" in result.output
    assert await _slugs(desk) == []


async def test_kb_add_and_remove(desk: Desk, tmp_path: Path) -> None:
    added = await _routedesk(desk, "kb", "add", "Card fees", "--body", "Fees are *1%*.", "--tag", "fees", "--published")
    assert added.exit_code == 0, added.output
    row = json.loads(added.output)
    assert (row["slug"], row["tags"], row["published"]) == ("card-fees", ["fees"], True)
    duplicate = await _routedesk(desk, "kb", "add", "Card fees", "--body", "again")
    assert duplicate.exit_code == 2 and "is taken" in duplicate.output
    removed = await _routedesk(desk, "kb", "remove", "card-fees")
    assert removed.exit_code == 0, removed.output
    assert await _slugs(desk) == []
    missing = await _routedesk(desk, "kb", "remove", "card-fees")
    assert missing.exit_code != 0 and "no article with the slug 'card-fees'" in missing.output
