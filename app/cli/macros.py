"""`routedesk macros`: the admins' reusable replies, one by one or from a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import fail, in_session, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.macros.schemas import MacroRead
    from app.runtime import Runtime

macros_cli = typer.Typer(no_args_is_help=True, help="Macros: reusable replies that agents are suggested.")

# A file of macros: one JSON object per line, {"title": ..., "body": ..., "area": NAME or null}, or a
# JSON array of them. The other fields `macros list` prints are allowed, and ignored: its output imports.
_FIELDS = frozenset({"title", "body", "area"})
_IGNORED = frozenset({"id", "active", "updated"})


def _row(macro: MacroRead) -> dict[str, Any]:
    return {
        "id": macro.id,
        "title": macro.title,
        "area": macro.area_name,
        "active": macro.active,
        "body": macro.body,
        "updated": macro.updated_at.isoformat(),
    }


@macros_cli.command("list")
def macros_list(
    area: Annotated[str | None, typer.Option("--area", help="Only the macros of this area")] = None,
    include_inactive: Annotated[bool, typer.Option("--all", help="Deactivated macros too")] = False,
) -> None:
    """Print macros as JSON lines (id, title, area, active, body, updated): a file `macros import` reads."""
    from app.macros import service as macros
    from app.routing import service as routing

    settings = load_settings()

    async def rows(session: AsyncSession, _runtime: Runtime) -> list[dict[str, Any]]:
        area_id = (await routing.get_area(session, area)).id if area else None
        out, offset = [], 0
        while page := await macros.list_macros(
            session, area_id=area_id, include_inactive=include_inactive, offset=offset, limit=500
        ):
            out += [_row(m) for m in page]
            offset += len(page)
        return out

    for row in in_session(settings, rows):
        typer.echo(json.dumps(row))


@macros_cli.command("add")
def macros_add(
    title: Annotated[str, typer.Argument(help="What agents see in the suggestions")],
    body: Annotated[str | None, typer.Option("--body", help="The reply, with {placeholders}")] = None,
    body_file: Annotated[Path | None, typer.Option("--body-file", help="Read the reply from this UTF-8 file")] = None,
    area: Annotated[str | None, typer.Option("--area", help="The area it is for; none for every area")] = None,
) -> None:
    """Add one macro and print it as a JSON line."""
    if (body is None) == (body_file is None):
        raise fail("give either --body TEXT or --body-file FILE")
    text = body if body is not None else _read_text(body_file)  # type: ignore[arg-type]
    settings = load_settings()

    async def add(session: AsyncSession, _runtime: Runtime) -> dict[str, Any]:
        return _row(await _create(session, {"title": title, "body": text, "area": area}))

    typer.echo(json.dumps(in_session(settings, add)))


@macros_cli.command("import")
def macros_import(
    file: Annotated[Path, typer.Argument(help='JSON lines of {"title", "body", "area"}, or a JSON array of them')],
) -> None:
    """Add every macro of a file, all or none: one that is refused names its entry and nothing is added."""
    entries = _read_entries(file)
    settings = load_settings()

    async def add_all(session: AsyncSession, _runtime: Runtime) -> int:
        from app.errors import AppError

        for number, entry in enumerate(entries, start=1):
            try:
                await _create(session, entry)
            except AppError as exc:
                raise fail(f"{file}: entry {number} ({entry.get('title')!r}): {exc.detail}; nothing imported") from None
        return len(entries)

    count = in_session(settings, add_all)
    typer.echo(f"{count} macros imported from {file}")


async def _create(session: AsyncSession, entry: dict[str, Any]) -> MacroRead:
    from pydantic import ValidationError

    from app.errors import InvalidInput
    from app.macros import service as macros
    from app.macros.schemas import MacroCreate
    from app.routing import service as routing
    from app.validation import error_fields, error_summary

    area = entry.get("area")
    area_id = (await routing.get_area(session, area)).id if area else None
    try:
        data = MacroCreate(title=entry.get("title"), body=entry.get("body"), area_id=area_id)
    except ValidationError as exc:
        raise InvalidInput(error_summary(*error_fields(exc.errors()))) from None
    return await macros.create_macro(session, data=data)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path}: {exc}") from None


def _read_entries(path: Path) -> list[dict[str, Any]]:
    text = _read_text(path)
    try:
        if text.lstrip().startswith("["):
            found = json.loads(text)
        else:
            found = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise fail(f"{path}: not JSON lines nor a JSON array: {exc}") from None
    if not isinstance(found, list):
        raise fail(f"{path}: not JSON lines nor a JSON array")
    for number, entry in enumerate(found, start=1):
        if not isinstance(entry, dict) or not entry.keys() <= _FIELDS | _IGNORED:
            raise fail(f"{path}: entry {number} must be an object with title, body and area")
    return found
