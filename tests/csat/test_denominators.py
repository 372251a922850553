"""Contact-rate denominators through the admin API (JSON and CSV) and `routedesk denominators import`:
what is stored, what replaces, and every malformed upload refused whole, with nothing stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.config import Settings
from tests.api.desk import Desk, sqlite_only
from tests.cli import invoke_routedesk

GOOD_CSV = (
    b"period,area,value,unit\r\n2026-11,*,12000,active accounts\r\n2026-11-01..2026-11-15,triage,500,transactions\r\n"
)


async def stored(desk: Desk) -> list[tuple[str, str, float, str]]:
    response = await desk.admin.get("/admin/denominators")
    assert response.status_code == 200, response.text
    return [(d["period"], d["area"], d["value"], d["unit"]) for d in response.json()]


async def ensure_triage(desk: Desk) -> None:
    # The triage area exists once the desk has routed a ticket.
    from tests.mailgen import mail

    await desk.new_ticket(mail(message_id="<denominators@merchant.example>"))


async def test_denominators_upload_as_json_and_csv_and_the_same_period_replaces(desk: Desk) -> None:
    await ensure_triage(desk)
    response = await desk.admin.post(
        "/admin/denominators",
        json={"period": "2026-10", "area": "*", "value": 11000, "unit": "active accounts"},
    )
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["replaced"]) == (1, 0)
    csv_upload = await desk.admin.post(
        "/admin/denominators/csv", content=GOOD_CSV, headers={"Content-Type": "text/csv"}
    )
    assert csv_upload.status_code == 200, csv_upload.text
    assert await stored(desk) == [
        ("2026-10", "*", 11000.0, "active accounts"),
        ("2026-11", "*", 12000.0, "active accounts"),
        ("2026-11-01..2026-11-15", "triage", 500.0, "transactions"),
    ]
    again = await desk.admin.post(
        "/admin/denominators",
        json={"period": "2026-11", "area": "*", "value": 12500, "unit": "active accounts"},
    )
    assert (again.json()["created"], again.json()["replaced"]) == (0, 1)
    assert ("2026-11", "*", 12500.0, "active accounts") in await stored(desk)
    first = (await desk.admin.get("/admin/denominators")).json()[0]
    assert (await desk.admin.delete(f"/admin/denominators/{first['id']}")).status_code == 204
    assert (await desk.admin.delete(f"/admin/denominators/{first['id']}")).status_code == 404
    assert len(await stored(desk)) == 2


BAD_JSON = [
    ({"period": "2026-11", "area": "*", "value": -5, "unit": "accounts"}, 422, "greater than 0"),
    ({"period": "2026-11", "area": "*", "value": 0, "unit": "accounts"}, 422, "greater than 0"),
    ({"period": "2026-13", "area": "*", "value": 5, "unit": "accounts"}, 422, "is not a month"),
    ({"period": "2026-11-20..2026-11-01", "area": "*", "value": 5, "unit": "accounts"}, 422, "ends before"),
    ({"period": "2026-01-01..2027-06-01", "area": "*", "value": 5, "unit": "accounts"}, 422, "longer than 366"),
    ({"period": "2026-11", "area": "nowhere", "value": 5, "unit": "accounts"}, 422, "no area named 'nowhere'"),
    ({"period": "2026-11", "area": "*", "value": 5, "unit": "a\x00b"}, 422, "control"),
    ({"period": "2026-11", "area": "*", "value": 5, "unit": "  "}, 422, "blank"),
    ({"period": "2026-11", "area": "*", "value": "many", "unit": "x"}, 422, "value"),
]


@sqlite_only
@pytest.mark.parametrize(("row", "status", "words"), BAD_JSON)
async def test_a_malformed_denominator_is_refused_and_nothing_is_stored(
    desk: Desk, row: dict[str, object], status: int, words: str
) -> None:
    response = await desk.admin.post("/admin/denominators", json=row)
    assert response.status_code == status, response.text
    assert words in response.text
    assert await stored(desk) == []


async def test_overlapping_periods_are_refused_in_one_upload_and_against_stored_ones(desk: Desk) -> None:
    await ensure_triage(desk)
    inside = await desk.admin.post(
        "/admin/denominators/csv",
        content=b"period,area,value,unit\n2026-11,triage,10,accounts\n2026-11-10..2026-12-05,triage,10,accounts\n",
    )
    assert inside.status_code == 422 and "rows 1 and 2 overlap" in inside.json()["detail"]
    assert await stored(desk) == []
    # Another scope may cover the same days.
    ok = await desk.admin.post(
        "/admin/denominators/csv",
        content=b"period,area,value,unit\n2026-11,triage,10,accounts\n2026-11-10..2026-12-05,*,10,accounts\n",
    )
    assert ok.status_code == 200, ok.text
    clash = await desk.admin.post(
        "/admin/denominators/csv",
        content=b"period,area,value,unit\n2026-12,triage,10,accounts\n2026-11-30,triage,10,accounts\n",
    )
    assert clash.status_code == 409 and "overlaps the stored period 2026-11" in clash.json()["detail"]
    one = await desk.admin.post(
        "/admin/denominators", json={"period": "2026-11-15", "area": "*", "value": 3, "unit": "accounts"}
    )
    assert one.status_code == 409
    assert len(await stored(desk)) == 2


BAD_CSV = [
    (b"", "empty"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"month,area,value,unit\r\n2026-11,*,1,x\r\n", "header"),
    (b"period,area,value,unit\r\n", "no rows"),
    (b"period,area,value,unit\r\n2026-11,*,1\r\n", "line 2: 3 fields"),
    (b"period,area,value,unit\r\n2026-10,*,1,x\r\n2026-11,*,-3,x\r\n", "line 3"),
    (b"period,area,value,unit\r\n2026-11,*,lots,x\r\n", "not a number"),
    (b'period,area,value,unit\r\n"2026-11,*,1,x\r\n', "not valid CSV"),
    (b"period,area,value,unit\r\n2026-11,*,1,x\r\n2026-11-05,*,1,x\r\n", "overlap"),
]


@sqlite_only
@pytest.mark.parametrize(("body", "words"), BAD_CSV)
async def test_a_bad_csv_is_refused_whole(desk: Desk, body: bytes, words: str) -> None:
    response = await desk.admin.post("/admin/denominators/csv", content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    assert await stored(desk) == []


@sqlite_only
async def test_agents_may_not_upload_denominators(desk: Desk) -> None:
    response = await desk.agent.post("/admin/denominators/csv", content=GOOD_CSV)
    assert response.status_code == 403
    assert (await desk.agent.get("/reports/contact-rate", params={"period": "2026-11"})).status_code == 403
    assert (
        await desk.agent.get("/reports/csat-comments", params={"from": "2026-11-01", "to": "2026-11-30"})
    ).status_code == 403


@sqlite_only
async def test_contact_rate_and_comments_refuse_bad_parameters(desk: Desk) -> None:
    for period in ("2026", "2026-11-31", "soon", "2026-11-01..2027-12-01"):
        response = await desk.admin.get("/reports/contact-rate", params={"period": period})
        assert response.status_code == 422, response.text
    unknown = await desk.admin.get("/reports/contact-rate", params={"period": "2026-11", "area": "nowhere"})
    assert unknown.status_code == 422
    no_dates = await desk.admin.get("/reports/csat-comments")
    assert no_dates.status_code == 422
    rating = await desk.admin.get(
        "/reports/csat-comments", params={"from": "2026-11-01", "to": "2026-11-30", "rating": "ok"}
    )
    assert rating.status_code == 422
    empty = await desk.admin.get("/reports/csat-comments", params={"from": "2026-11-01", "to": "2026-11-30"})
    assert empty.status_code == 200 and empty.json() == {"items": [], "total": 0, "offset": 0, "limit": 50}


async def test_denominators_import_command_stores_a_file_or_nothing(desk: Desk, tmp_path: Path) -> None:
    await ensure_triage(desk)
    settings: Settings = desk.settings
    good = tmp_path / "good.csv"
    good.write_bytes(GOOD_CSV)
    done = await asyncio.to_thread(invoke_routedesk, settings, "denominators", "import", str(good))
    assert done.exit_code == 0, done.output
    assert "2 denominator(s) added, 0 replaced" in done.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"period,area,value,unit\r\n2026-12,*,5,x\r\n2026-12,nowhere,5,x\r\n")
    refused = await asyncio.to_thread(invoke_routedesk, settings, "denominators", "import", str(bad))
    assert refused.exit_code == 2
    assert "no area named 'nowhere'" in refused.output and "nothing stored" in refused.output
    listed = await asyncio.to_thread(invoke_routedesk, settings, "denominators", "list")
    assert listed.exit_code == 0 and len(listed.output.strip().splitlines()) == 2
    missing = await asyncio.to_thread(invoke_routedesk, settings, "denominators", "import", str(tmp_path / "none.csv"))
    assert missing.exit_code == 2 and "cannot read" in missing.output
