"""`routedesk kb`: the help centre's articles, one by one or from a folder of markdown files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import MISCONFIGURED, fail, in_session, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.kb.schemas import ArticleCreate, ArticleRead
    from app.runtime import Runtime

kb_cli = typer.Typer(no_args_is_help=True, help="Help-centre articles: what customers read at /help.")

# Bad input (a refused file or field) exits 2 with one line, as a usage error does.
BAD_INPUT = MISCONFIGURED


def _row(article: ArticleRead) -> dict[str, Any]:
    return {
        "id": article.id,
        "slug": article.slug,
        "title": article.title,
        "area": article.area,
        "tags": article.tags,
        "published": article.published,
        "updated": article.updated_at.isoformat(),
    }


@kb_cli.command("list")
def kb_list(
    area: Annotated[str | None, typer.Option("--area", help="Only the articles of this area")] = None,
) -> None:
    """Print every article as a JSON line (id, slug, title, area, tags, published, updated)."""
    from app.kb import service as kb

    settings = load_settings()

    async def rows(session: AsyncSession, _runtime: Runtime) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while page := await kb.list_articles(session, area=area, offset=len(out), limit=500):
            out += [_row(a) for a in page]
        return out

    for row in in_session(settings, rows):
        typer.echo(json.dumps(row))


@kb_cli.command("add")
def kb_add(
    title: Annotated[str, typer.Argument(help="The article's title (its page's heading)")],
    body: Annotated[str | None, typer.Option("--body", help="The markdown")] = None,
    body_file: Annotated[
        Path | None, typer.Option("--body-file", help="Read the markdown from this UTF-8 file")
    ] = None,
    slug: Annotated[
        str | None, typer.Option("--slug", help="Its address under /help/articles/; from the title if not given")
    ] = None,
    area: Annotated[
        str | None, typer.Option("--area", help="The area it belongs to; none for a general article")
    ] = None,
    tags: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeat for more)")] = None,
    published: Annotated[bool, typer.Option("--published", help="Show it in the help centre at once")] = False,
) -> None:
    """Add one article and print it as a JSON line."""
    if (body is None) == (body_file is None):
        fail("give either --body TEXT or --body-file FILE", BAD_INPUT)
    text = body if body is not None else _read_text(body_file)  # type: ignore[arg-type]
    entry = {"title": title, "body": text, "slug": slug, "area": area, "tags": tags or [], "published": published}
    data = _validated(entry, where="")
    settings = load_settings()

    async def add(session: AsyncSession, _runtime: Runtime) -> dict[str, Any]:
        from app.errors import AppError
        from app.kb import service as kb

        try:
            return _row(await kb.create_article(session, data=data))
        except AppError as exc:
            fail(exc.detail, BAD_INPUT)

    typer.echo(json.dumps(in_session(settings, add)))


@kb_cli.command("remove")
def kb_remove(slug: Annotated[str, typer.Argument(help="The article's slug")]) -> None:
    """Delete an article (its page is gone from the help centre at the next request)."""
    from app.kb import service as kb

    settings = load_settings()

    async def remove(session: AsyncSession, _runtime: Runtime) -> str:
        article = await kb.article_by_slug(session, slug)
        await kb.delete_article(session, article.id)
        return article.slug

    typer.echo(f"removed {in_session(settings, remove)}")


@kb_cli.command("import")
def kb_import(
    folder: Annotated[Path, typer.Argument(help="A folder of .md files, each starting with a front matter block")],
) -> None:
    """Create or update (by slug) the article of every .md file in a folder, all or none: a refused file
    is named with its line, and nothing is imported."""
    from app.kb.schemas import slug_from_title

    if not folder.is_dir():
        fail(f"{folder} is not a folder", BAD_INPUT)
    files = sorted(folder.glob("*.md"))
    if not files:
        fail(f"{folder} holds no .md files", BAD_INPUT)
    parsed = [(path, _parse(path)) for path in files]
    entries = []
    owners: dict[str, Path] = {}
    for path, found in parsed:
        data = _validated({**found.fields, "body": found.body}, where=f"{path}: ", lines=found.lines)
        slug = data.slug or slug_from_title(data.title)
        if slug in owners:
            fail(
                f"{path}: line {found.line_of('slug')}: the slug {slug!r} is also {owners[slug]}'s; nothing imported",
                BAD_INPUT,
            )
        owners[slug] = path
        entries.append((path, found, data))
    settings = load_settings()

    async def save_all(session: AsyncSession, _runtime: Runtime) -> tuple[int, int]:
        from app.errors import AppError, NotFound
        from app.kb import service as kb

        created = updated = 0
        for path, found, data in entries:
            try:
                _article, new = await kb.save_by_slug(session, data=data)
            except AppError as exc:
                key = "area" if isinstance(exc, NotFound) else "slug"
                fail(f"{path}: line {found.line_of(key)}: {exc.detail}; nothing imported", BAD_INPUT)
            created, updated = created + new, updated + (not new)
        return created, updated

    created, updated = in_session(settings, save_all)
    typer.echo(f"{created} articles created, {updated} updated from {folder}")


def _parse(path: Path) -> Any:
    from app.kb.frontmatter import FrontMatterError, parse

    try:
        return parse(_read_text(path))
    except FrontMatterError as exc:
        fail(f"{path}: {exc}; nothing imported", BAD_INPUT)


def _validated(entry: dict[str, Any], *, where: str, lines: dict[str, int] | None = None) -> ArticleCreate:
    from pydantic import ValidationError

    from app.kb.schemas import ArticleCreate

    try:
        return ArticleCreate.model_validate(entry)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else ""
        # The body is what follows the front matter; a missing title is the block's fault (line 1).
        line = "" if lines is None else f"line {lines.get(key, 1)}: "
        message = f"{where}{line}{key or 'article'}: {error['msg']}"
        fail(message + ("; nothing imported" if lines is not None else ""), BAD_INPUT)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}", BAD_INPUT)


@kb_cli.command("gaps")
def kb_gaps(
    start: Annotated[str | None, typer.Option("--from", help="First day (UTC), e.g. 2026-01-01")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, included")] = None,
    area: Annotated[str | None, typer.Option("--area", help="Only this area's tickets")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the groups as one JSON document")] = False,
) -> None:
    """Docs to write next: the window's tickets that no article answered, grouped by what they are
    about, by area, biggest group first (its size, top terms, three example tickets, nearest article)."""
    from datetime import date

    from app.errors import InvalidInput, NotFound
    from app.reports import service as reports

    if start is None or end is None:
        fail("--from and --to are both needed (dates, e.g. --from 2026-01-01 --to 2026-03-31)", BAD_INPUT)
    try:
        span = reports.window(date.fromisoformat(start), date.fromisoformat(end))
    except ValueError:
        fail(f"--from and --to must be dates (2026-01-31), not {start!r} and {end!r}", BAD_INPUT)
    except InvalidInput as exc:
        fail(exc.detail, BAD_INPUT)
    settings = load_settings()

    async def gaps_of(session: AsyncSession, runtime: Runtime) -> Any:
        from app.kb import gaps  # scikit-learn: imported by this command alone

        try:
            return await gaps.doc_gaps(session, span, area=area, cache=runtime.help_centre)
        except NotFound as exc:
            return exc.detail

    found = in_session(settings, gaps_of)
    if isinstance(found, str):
        fail(found, BAD_INPUT)
    if as_json:
        typer.echo(json.dumps(found.model_dump(mode="json"), indent=2))
        return
    typer.echo(f"{found.unanswered} of {found.tickets} tickets from {found.start} to {found.end} no article answered")
    for group in found.groups:
        nearest = group.nearest_article
        typer.echo(
            f"{group.area}: {group.size} tickets about {', '.join(group.top_terms) or '(no terms)'}; "
            f"e.g. {', '.join(group.examples)}; nearest article: "
            + (f"{nearest.slug} ({nearest.relevance:.2f})" if nearest else "none")
        )
