"""Contact rate: contacts (tickets customers opened, gross; distinct customers who wrote, net) per period
and area, over the denominators admins upload (e.g. 12,000 active accounts in 2026-11), per 1,000
units. A period with no denominator gets no rate, and says so.

An upload is all or nothing: every row is checked (period syntax, a known area or `*`, a positive
value, no two rows of one scope overlapping, none overlapping a stored period of its scope other than
the very same period, whose value it replaces) before anything is written."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.csat import repository
from app.csat.models import Denominator
from app.csat.schemas import (
    UPLOAD_MAX_ROWS,
    ContactRateRead,
    ContactRateRow,
    DenominatorRead,
    DenominatorsStored,
    DenominatorWrite,
    PeriodError,
    parse_period,
)
from app.errors import Conflict, InvalidInput, NotFound
from app.routing import service as routing
from app.routing.models import Area
from app.validation import error_fields, error_summary

ALL = "*"
CSV_HEADER = ("period", "area", "value", "unit")


def parse_csv(data: bytes) -> list[DenominatorWrite]:
    """The rows of a denominators CSV (a header `period,area,value,unit`, then one row each), every
    problem refused with its line number."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8 text") from None
    if "\x00" in text:
        raise InvalidInput("the file holds NUL characters: it is not a CSV file")
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise InvalidInput(f"the file is not valid CSV: {exc}") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise InvalidInput("the file is empty: it needs the header period,area,value,unit and at least one row")
    header = tuple(cell.strip().lower() for cell in rows[0])
    if header != CSV_HEADER:
        raise InvalidInput(f"the first line must be the header {','.join(CSV_HEADER)}")
    if len(rows) == 1:
        raise InvalidInput("the file has a header and no rows")
    if len(rows) - 1 > UPLOAD_MAX_ROWS:
        raise InvalidInput(f"at most {UPLOAD_MAX_ROWS} rows in one upload, not {len(rows) - 1}")
    found = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(CSV_HEADER):
            raise InvalidInput(f"line {number}: {len(row)} fields, not the 4 of {','.join(CSV_HEADER)}")
        period, area, value, unit = (cell.strip() for cell in row)
        try:
            amount = float(value.replace("_", "").replace(",", "")) if value else None
        except ValueError:
            amount = None
        if amount is None:
            raise InvalidInput(f"line {number}: value {value[:40]!r} is not a number")
        try:
            found.append(DenominatorWrite(period=period, area=area, value=amount, unit=unit))
        except ValidationError as exc:
            fields, omitted = error_fields(exc.errors())
            raise InvalidInput(f"line {number}: {error_summary(fields, omitted)}") from None
    return found


def _overlap(a: tuple[date, date], b: tuple[date, date]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


async def store(session: AsyncSession, rows: Sequence[DenominatorWrite], *, now: datetime) -> DenominatorsStored:
    """Check every row, then write them all; a row of the very period and scope of a stored one
    replaces its value and unit. Nothing is written when any row is refused."""
    if not rows:
        raise InvalidInput("no denominators given")
    areas = {area.name: area for area in await routing.list_areas(session)}
    planned: list[tuple[DenominatorWrite, int | None, date, date]] = []
    for i, row in enumerate(rows, start=1):
        if row.area != ALL and row.area not in areas:
            raise InvalidInput(f"row {i}: no area named {row.area[:64]!r} (use * for the whole desk)")
        _, first, last = parse_period(row.period)
        area_id = None if row.area == ALL else areas[row.area].id
        for j, (other, other_area, o_first, o_last) in enumerate(planned, start=1):
            if other_area == area_id and _overlap((first, last), (o_first, o_last)):
                raise InvalidInput(
                    f"rows {j} and {i} overlap: {other.period} and {row.period} for {row.area}; "
                    "a scope's periods must not overlap"
                )
        planned.append((row, area_id, first, last))
    stored = await repository.denominators(session, area_ids={area_id for _, area_id, _, _ in planned})
    replacing: dict[int, Denominator] = {}
    for i, (row, area_id, first, last) in enumerate(planned, start=1):
        for existing in stored:
            if existing.area_id != area_id or not _overlap((first, last), (existing.starts_on, existing.ends_on)):
                continue
            if (existing.starts_on, existing.ends_on) == (first, last):
                replacing[i] = existing
                continue
            raise Conflict(
                f"row {i}: {row.period} for {row.area} overlaps the stored period {existing.period} "
                f"(denominator {existing.id}); delete that one first, or upload the same period to replace it"
            )
    written: list[tuple[Denominator, str]] = []
    for i, (row, area_id, first, last) in enumerate(planned, start=1):
        target = replacing.get(i)
        if target is None:
            target = Denominator(
                period=row.period, starts_on=first, ends_on=last, area_id=area_id, created_at=now, value=0, unit=""
            )
            session.add(target)
        target.value, target.unit, target.updated_at = row.value, row.unit, now
        written.append((target, row.area))
    await session.flush()
    return DenominatorsStored(
        created=len(planned) - len(replacing),
        replaced=len(replacing),
        denominators=[_read(d, name) for d, name in written],
    )


def _read(row: Denominator, area: str) -> DenominatorRead:
    return DenominatorRead(
        id=row.id, period=row.period, start=row.starts_on, end=row.ends_on, area=area, value=row.value, unit=row.unit
    )


async def listed(session: AsyncSession, *, limit: int, offset: int) -> list[DenominatorRead]:
    names = {area.id: area.name for area in await routing.list_areas(session)}
    rows = await repository.denominators(session, limit=limit, offset=offset)
    return [_read(row, ALL if row.area_id is None else names.get(row.area_id, "?")) for row in rows]


async def delete(session: AsyncSession, denominator_id: int) -> None:
    row = await repository.denominator(session, denominator_id)
    if row is None:
        raise NotFound(f"no denominator {denominator_id}")
    await repository.delete_denominator(session, row)


def period(text: str) -> tuple[str, date, date]:
    try:
        return parse_period(text)
    except PeriodError as exc:
        raise InvalidInput(str(exc)) from None


def _per_thousand(count: int, value: float | None) -> float | None:
    return round(count * 1000 / value, 4) if value else None


async def contact_rate(session: AsyncSession, text: str, *, area: str | None = None) -> ContactRateRead:
    """Contacts in a period for the whole desk (`*`) and each area with contacts or a denominator (or
    just `area`), each over the denominator uploaded for exactly that period and scope."""
    name, first, last = period(text)
    areas: dict[str, Area] = {a.name: a for a in await routing.list_areas(session)}
    if area is not None and area not in areas:
        raise InvalidInput(f"no area named {area!r}")
    start = datetime.combine(first, time(), tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC)
    total = await repository.contact_counts(session, start=start, end=end, by=None, area=area)
    by_area = await repository.contact_counts(session, start=start, end=end, by="area", area=area)
    names = {a.id: a.name for a in areas.values()}
    denominators: dict[str, Denominator] = {}
    for row in await repository.denominators_for(session, starts_on=first, ends_on=last):
        denominators[ALL if row.area_id is None else names.get(row.area_id, "?")] = row
    scopes = [ALL] if area is None else []
    scopes += sorted({*(a for a in by_area if a is not None), *(d for d in denominators if d != ALL)})
    if area is not None:
        scopes = [area]
    rows = []
    for scope in scopes:
        counts = total.get(None, (0, 0, 0)) if scope == ALL else by_area.get(scope, (0, 0, 0))
        gross, net, repeat = counts
        found = denominators.get(scope)
        value = found.value if found is not None else None
        rows.append(
            ContactRateRow(
                area=scope,
                contacts=gross,
                contacts_net=net,
                repeat_contacts=repeat,
                repeat_contact_rate=round(repeat / gross, 4) if gross else None,
                denominator=value,
                unit=found.unit if found is not None else None,
                contact_rate=_per_thousand(gross, value),
                contact_rate_net=_per_thousand(net, value),
                reason=None if found is not None else f"no denominator uploaded for period {name} and area {scope}",
            )
        )
    return ContactRateRead(period=name, start=first, end=last, rows=rows)
