"""The reports over a small data set whose every figure is worked out by hand below, on each engine:
through the API (JSON and CSV), the CLI, and the time series.

The week of Monday 2026-06-01 to Sunday 2026-06-07 (UTC). Areas: payments counts in business hours
(weekdays 09:00-17:00 UTC; targets first reply 60, next reply 30, resolution 600), cards in calendar
time (first reply 120, resolution 1440). Agents dana and eli.

  A payments, rule,     Mon 08:00; dana replies 09:30 (first reply 90 min, 30 business); solved 10:00
                        (resolution 120, 60 business). One reply: one touch.
  B payments, model,    Mon 13:00; dana replies 15:00 (120/120: breached, due 14:00); the customer writes
                        15:30, dana answers 15:50 (next reply in time); solved 16:00; the customer writes
                        Tue 09:00 (reopened from solved: resolution runs again, no resolution minutes);
                        dana answers Tue 10:00 (next reply 60 > 30: breached).
  C payments, fallback, Tue 10:00; eli re-routes to cards 10:30; eli replies 11:00 (60/60, in time) and
                        11:30 (a second reply); solved 12:00 (resolution 120/120). Two replies.
  D cards, rule,        Wed 08:00; nobody answers; the customer writes 11:00 (first reply breached at 10:00).
  H payments, model, high priority, Fri 09:00; eli replies 09:10 (10/10); pending 09:20.
  E payments, rule,     Fri 2026-05-29 12:00 (before the window); eli solves it Mon 11:00.
  F cards, rule,        Thu 2026-05-28 09:00 (before the window); open.
  G payments, rule,     Mon 2026-06-08 09:00 (after the window).

The window's tickets (created in it): A B C D H."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from tests.api.desk import api_app
from tests.cli import invoke_routedesk
from tests.reports.desk import ReportDesk, report_desk

__all__ = ["api_app", "report_desk"]


def t(day: int, hh: int, mm: int = 0, month: int = 6) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=UTC)


async def data_set(desk: ReportDesk) -> None:
    await desk.payments_and_cards()
    await desk.user("dana")
    await desk.user("eli")
    f = await desk.open(t(28, 9, month=5), area="cards")
    e = await desk.open(t(29, 12, month=5), area="payments")
    await desk.status(e, "solved", t(1, 11), by="eli")
    a = await desk.open(t(1, 8), area="payments")
    await desk.reply(a, t(1, 9, 30), by="dana")
    await desk.status(a, "solved", t(1, 10), by="dana")
    b = await desk.open(t(1, 13), area="payments", routed_by="model", probability=0.9, model_version="v1")
    await desk.reply(b, t(1, 15), by="dana")
    await desk.customer_writes(b, t(1, 15, 30))
    await desk.reply(b, t(1, 15, 50), by="dana")
    await desk.status(b, "solved", t(1, 16), by="dana")
    await desk.customer_writes(b, t(2, 9))
    await desk.reply(b, t(2, 10), by="dana")
    c = await desk.open(t(2, 10), area="payments", routed_by="fallback")
    await desk.reroute(c, "cards", t(2, 10, 30), by="eli")
    await desk.reply(c, t(2, 11), by="eli")
    await desk.reply(c, t(2, 11, 30), by="eli")
    await desk.status(c, "solved", t(2, 12), by="eli")
    d = await desk.open(t(3, 8), area="cards")
    await desk.customer_writes(d, t(3, 11))
    h = await desk.open(
        t(5, 9), area="payments", routed_by="model", probability=0.7, model_version="v1", priority="high"
    )
    await desk.reply(h, t(5, 9, 10), by="eli")
    await desk.status(h, "pending", t(5, 9, 20), by="eli")
    await desk.open(t(8, 9), area="payments")
    assert f and e


def fig(**values: Any) -> dict[str, Any]:
    """A group's figures: every percentile and share None and every count 0 unless given."""
    base: dict[str, Any] = dict.fromkeys(
        [
            "first_reply_median_minutes",
            "first_reply_p90_minutes",
            "first_reply_median_business_minutes",
            "first_reply_p90_business_minutes",
            "resolution_median_minutes",
            "resolution_p90_minutes",
            "resolution_median_business_minutes",
            "resolution_p90_business_minutes",
            "first_reply_compliance",
            "next_reply_compliance",
            "resolution_compliance",
            "one_touch_rate",
            "reopen_rate",
            "routed_by_rule",
            "routed_by_model",
            "routed_by_fallback",
            "rerouted_rate",
            "csat",
            "response_rate",
            "repeat_contact_rate",
        ]
    )
    counts = dict.fromkeys(["surveys_sent", "survey_responses", "csat_good", "csat_bad", "contacts_net"], 0)
    counts["contacts_net"] = 1 if values.get("contacts") else 0  # every ticket here is ana's
    return {"created": 0, "solved": 0, "backlog": 0, "contacts": 0, "repeat_contacts": 0, **base, **counts, **values}


# Percentiles are nearest-rank: of n ascending values, the one at rank ceil(p * n).
TOTAL = fig(
    created=5,  # A B C D H
    solved=3,  # A (Mon), E (Mon, created before), C (Tue); B's solve was undone by its reopen
    backlog=4,  # B D H open or pending, F from before; E and A and C solved
    # first replies: H 10, C 60, A 90, B 120 -> median rank ceil(2.0)=2: 60; p90 rank ceil(3.6)=4: 120
    first_reply_median_minutes=60.0,
    first_reply_p90_minutes=120.0,
    # business: H 10, A 30, C 60, B 120 -> 30 and 120
    first_reply_median_business_minutes=30.0,
    first_reply_p90_business_minutes=120.0,
    # resolutions (solved now): A 120, C 120 -> rank 1 and rank ceil(1.8)=2: 120, 120
    resolution_median_minutes=120.0,
    resolution_p90_minutes=120.0,
    # business: A 60, C 120 -> 60 and 120
    resolution_median_business_minutes=60.0,
    resolution_p90_business_minutes=120.0,
    first_reply_compliance=0.6,  # achieved A C H, breached B D: 3 / 5
    next_reply_compliance=0.5,  # B: cycle 1 in time, cycle 2 breached: 1 / 2
    resolution_compliance=1.0,  # achieved A C; B D H still running or paused count in neither
    one_touch_rate=0.5,  # solved now: A (1 reply), C (2 replies): 1 / 2
    reopen_rate=0.3333,  # reopened B, of those ever solved A B C: 1 / 3
    routed_by_rule=0.4,  # A D
    routed_by_model=0.4,  # B H
    routed_by_fallback=0.2,  # C
    rerouted_rate=0.2,  # C
    # ana's tickets, each a contact; a repeat when one of hers in its area was solved in the 7 days
    # before: B and H (E, payments, solved Mon 11:00), C (E: routed to payments when opened), D (C, cards)
    contacts=5,
    repeat_contacts=4,
    repeat_contact_rate=0.8,
)
CARDS = fig(
    created=2,  # C (re-routed here) D
    solved=1,  # C
    backlog=2,  # D, F
    first_reply_median_minutes=60.0,  # C alone
    first_reply_p90_minutes=60.0,
    first_reply_median_business_minutes=60.0,
    first_reply_p90_business_minutes=60.0,
    resolution_median_minutes=120.0,
    resolution_p90_minutes=120.0,
    resolution_median_business_minutes=120.0,
    resolution_p90_business_minutes=120.0,
    first_reply_compliance=0.5,  # C in time, D breached
    resolution_compliance=1.0,  # C
    one_touch_rate=0.0,  # C: two replies
    reopen_rate=0.0,  # C not reopened
    routed_by_rule=0.5,  # D
    routed_by_model=0.0,
    routed_by_fallback=0.5,  # C
    rerouted_rate=0.5,  # C
    contacts=2,  # C D, both repeats
    repeat_contacts=2,
    repeat_contact_rate=1.0,
)
PAYMENTS = fig(
    created=3,  # A B H
    solved=2,  # A, E
    backlog=2,  # B, H
    first_reply_median_minutes=90.0,  # H 10, A 90, B 120: rank 2 and rank ceil(2.7)=3
    first_reply_p90_minutes=120.0,
    first_reply_median_business_minutes=30.0,  # H 10, A 30, B 120
    first_reply_p90_business_minutes=120.0,
    resolution_median_minutes=120.0,  # A alone
    resolution_p90_minutes=120.0,
    resolution_median_business_minutes=60.0,
    resolution_p90_business_minutes=60.0,
    first_reply_compliance=0.6667,  # A H in time, B breached: 2 / 3
    next_reply_compliance=0.5,  # B
    resolution_compliance=1.0,  # A
    one_touch_rate=1.0,  # A
    reopen_rate=0.5,  # B, of A B
    routed_by_rule=0.3333,  # A
    routed_by_model=0.6667,  # B H
    routed_by_fallback=0.0,
    rerouted_rate=0.0,
    contacts=3,  # A B H; B H repeats
    repeat_contacts=2,
    repeat_contact_rate=0.6667,
)
DANA = fig(
    created=2,  # A B
    solved=1,  # A
    backlog=1,  # B
    first_reply_median_minutes=90.0,  # A 90, B 120: rank 1 and rank 2
    first_reply_p90_minutes=120.0,
    first_reply_median_business_minutes=30.0,  # A 30, B 120
    first_reply_p90_business_minutes=120.0,
    resolution_median_minutes=120.0,  # A
    resolution_p90_minutes=120.0,
    resolution_median_business_minutes=60.0,
    resolution_p90_business_minutes=60.0,
    first_reply_compliance=0.5,  # A in time, B breached
    next_reply_compliance=0.5,
    resolution_compliance=1.0,
    one_touch_rate=1.0,
    reopen_rate=0.5,
    routed_by_rule=0.5,
    routed_by_model=0.5,
    routed_by_fallback=0.0,
    rerouted_rate=0.0,
    contacts=2,  # A B; B a repeat
    repeat_contacts=1,
    repeat_contact_rate=0.5,
)
ELI = fig(
    created=2,  # C H
    solved=2,  # C, E
    backlog=1,  # H
    first_reply_median_minutes=10.0,  # H 10, C 60
    first_reply_p90_minutes=60.0,
    first_reply_median_business_minutes=10.0,
    first_reply_p90_business_minutes=60.0,
    resolution_median_minutes=120.0,  # C
    resolution_p90_minutes=120.0,
    resolution_median_business_minutes=120.0,
    resolution_p90_business_minutes=120.0,
    first_reply_compliance=1.0,
    resolution_compliance=1.0,
    one_touch_rate=0.0,  # C: two replies
    reopen_rate=0.0,
    routed_by_rule=0.0,
    routed_by_model=0.5,  # H
    routed_by_fallback=0.5,  # C
    rerouted_rate=0.5,  # C
    contacts=2,  # C H, both repeats
    repeat_contacts=2,
    repeat_contact_rate=1.0,
)
NOBODY = fig(
    created=1,  # D
    backlog=2,  # D, F
    first_reply_compliance=0.0,  # D breached
    routed_by_rule=1.0,
    routed_by_model=0.0,
    routed_by_fallback=0.0,
    rerouted_rate=0.0,
    contacts=1,  # D, a repeat
    repeat_contacts=1,
    repeat_contact_rate=1.0,
)


@pytest.fixture
async def admin(report_desk: ReportDesk, api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    await data_set(report_desk)
    token = await report_desk.token("boss", role="admin")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_app),
        base_url="http://test/api/v1",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


WEEK = {"from": "2026-06-01", "to": "2026-06-07"}


async def test_summary_gives_every_figure_in_all_by_area_and_by_agent(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/reports/summary", params=WEEK)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"], body["area"], body["agent"], body["priority"]) == (
        "2026-06-01",
        "2026-06-07",
        None,
        None,
        None,
    )
    assert body["total"] == TOTAL
    assert body["by_area"] == [{"name": "cards", **CARDS}, {"name": "payments", **PAYMENTS}]
    assert body["by_agent"] == [{"name": "dana", **DANA}, {"name": "eli", **ELI}, {"name": None, **NOBODY}]


async def test_summary_filters_by_area_agent_and_priority(admin: httpx.AsyncClient) -> None:
    cards = (await admin.get("/reports/summary", params={**WEEK, "area": "cards"})).json()
    assert cards["total"] == CARDS and [g["name"] for g in cards["by_area"]] == ["cards"]
    eli = (await admin.get("/reports/summary", params={**WEEK, "agent": "eli"})).json()
    assert eli["total"] == ELI and [g["name"] for g in eli["by_agent"]] == ["eli"]
    high = (await admin.get("/reports/summary", params={**WEEK, "priority": "high"})).json()
    assert high["total"] == fig(
        created=1,  # H alone
        backlog=1,  # H, pending
        first_reply_median_minutes=10.0,
        first_reply_p90_minutes=10.0,
        first_reply_median_business_minutes=10.0,
        first_reply_p90_business_minutes=10.0,
        first_reply_compliance=1.0,
        routed_by_rule=0.0,
        routed_by_model=1.0,
        routed_by_fallback=0.0,
        rerouted_rate=0.0,
        contacts=1,  # H, a repeat of E
        repeat_contacts=1,
        repeat_contact_rate=1.0,
    )


async def test_summary_as_csv_has_one_row_per_group(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/reports/summary", params=WEEK, headers={"Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["group"], r["name"]) for r in rows] == [
        ("total", ""),
        ("area", "cards"),
        ("area", "payments"),
        ("agent", "dana"),
        ("agent", "eli"),
        ("agent", ""),
    ]
    expected = [TOTAL, CARDS, PAYMENTS, DANA, ELI, NOBODY]
    for row, figures in zip(rows, expected, strict=True):
        assert {k: v for k, v in row.items() if k not in ("group", "name")} == {
            k: "" if v is None else str(v) for k, v in figures.items()
        }


async def test_timeseries_has_every_day_of_the_window(admin: httpx.AsyncClient) -> None:
    days = [f"2026-06-0{d}T00:00:00Z" for d in range(1, 8)]

    async def series(metric: str, **more: str) -> list[Any]:
        response = await admin.get("/reports/timeseries", params={**WEEK, "metric": metric, **more})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["interval"], body["time_zone"]) == (more.get("interval", "day"), "UTC")
        assert [p["start"] for p in body["points"]] == days
        return [p["value"] for p in body["points"]]

    assert await series("created") == [2, 1, 1, 0, 1, 0, 0]  # A B; C; D; -; H; -; -
    assert await series("solved") == [2, 1, 0, 0, 0, 0, 0]  # A E; C
    # Open at Monday 00:00: E, F (2). Then + created - solved each day: 2+2-2, +1-1, +1, 0, +1, 0, 0.
    assert await series("backlog") == [2, 2, 3, 3, 4, 4, 4]
    # Mon: A 90, B 120 -> rank 1: 90; Tue: C 60; Wed: D unanswered; Fri: H 10.
    assert await series("first_reply_median_minutes") == [90.0, 60.0, None, None, 10.0, None, None]
    assert await series("first_reply_compliance") == [0.5, 1.0, 0.0, None, 1.0, None, None]
    assert await series("created", area="cards") == [0, 1, 1, 0, 0, 0, 0]


async def test_weekly_timeseries_starts_on_monday_clipped_to_the_window(admin: httpx.AsyncClient) -> None:
    response = await admin.get(
        "/reports/timeseries",
        params={"from": "2026-06-03", "to": "2026-06-10", "metric": "created", "interval": "week"},
    )
    assert response.status_code == 200, response.text
    # Week of Mon 06-01 from Wednesday: D, H; week of Mon 06-08 to Wednesday: G.
    assert response.json()["points"] == [
        {"start": "2026-06-03T00:00:00Z", "value": 2},
        {"start": "2026-06-08T00:00:00Z", "value": 1},
    ]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"from": "2026-06-07", "to": "2026-06-01"}, "to (2026-06-01) is before from (2026-06-07)"),
        ({"from": "2026-06-01"}, "from and to are both needed"),
        ({"from": "2025-01-01", "to": "2026-06-01"}, "at most 366 days"),
        ({"from": "1970-01-01", "to": "1970-01-02"}, "dates must be between"),
        ({**WEEK, "area": "nowhere"}, "no area named 'nowhere'"),
        ({**WEEK, "agent": "nobody"}, "no user named 'nobody'"),
        ({**WEEK, "priority": "whenever"}, "priority must be one of"),
    ],
)
async def test_summary_refuses_bad_input(admin: httpx.AsyncClient, params: dict[str, str], detail: str) -> None:
    response = await admin.get("/reports/summary", params=params)
    assert response.status_code == 422
    assert response.json()["error"] == "InvalidInput" and detail in response.json()["detail"]


async def test_timeseries_refuses_unknown_metric_and_interval(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/reports/timeseries", params={**WEEK, "metric": "happiness"})
    assert (response.status_code, response.json()["error"]) == (422, "InvalidInput")
    assert "metric must be one of created" in response.json()["detail"]
    response = await admin.get("/reports/timeseries", params={**WEEK, "metric": "created", "interval": "month"})
    assert (response.status_code, response.json()["error"]) == (422, "ValidationError")
    response = await admin.get("/reports/summary", params={"from": "June", "to": "2026-06-07"})
    assert (response.status_code, response.json()["error"]) == (422, "ValidationError")


async def test_reports_are_for_admins_only(report_desk: ReportDesk, api_app: FastAPI) -> None:
    token = await report_desk.token("ana")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url="http://test/api/v1") as client:
        for path in ("/reports/summary", "/reports/timeseries"):
            params = {**WEEK, "metric": "created"}
            assert (await client.get(path, params=params)).status_code == 401
            refused = await client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
            assert (refused.status_code, refused.json()["error"]) == (403, "Forbidden")


async def test_report_command_prints_table_csv_and_json(
    admin: httpx.AsyncClient, settings: Settings, report_desk: ReportDesk
) -> None:
    table = await asyncio.to_thread(invoke_routedesk, settings, "report", "--from", "2026-06-01", "--to", "2026-06-07")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0] == "Tickets created 2026-06-01 to 2026-06-07 (UTC)"
    assert lines[2].split() == [
        "all",
        "area",
        "cards",
        "area",
        "payments",
        "agent",
        "dana",
        "agent",
        "eli",
        "agent",
        "(nobody)",
    ]
    assert lines[3].split() == ["tickets", "created", "5", "2", "3", "2", "2", "1"]
    assert lines[6].split() == ["first", "reply", "median", "(min)", "60.0", "60.0", "90.0", "90.0", "10.0", "-"]
    assert "one-touch resolution  " in table.output and "50.0%" in table.output
    api = (await admin.get("/reports/summary", params={**WEEK, "area": "cards"})).json()
    as_json = await asyncio.to_thread(
        invoke_routedesk,
        settings,
        "report",
        "--from",
        "2026-06-01",
        "--to",
        "2026-06-07",
        "--area",
        "cards",
        "--format",
        "json",
    )
    assert as_json.exit_code == 0 and json.loads(as_json.output) == api
    as_csv = await asyncio.to_thread(
        invoke_routedesk, settings, "report", "--from", "2026-06-01", "--to", "2026-06-07", "--format", "csv"
    )
    api_csv = await admin.get("/reports/summary", params=WEEK, headers={"Accept": "text/csv"})
    assert as_csv.exit_code == 0 and as_csv.output == api_csv.text.replace("\r\n", "\n")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--from", "2026-06-07", "--to", "2026-06-01"], "error: to (2026-06-01) is before from (2026-06-07)"),
        (["--from", "June", "--to", "2026-06-01"], "error: --from must be a date (2026-01-31), not 'June'"),
        (["--from", "2026-06-01", "--to", "2026-06-07", "--area", "nowhere"], "error: no area named 'nowhere'"),
        (["--from", "2026-06-01", "--to", "2026-06-07", "--format", "xml"], "error: --format must be one of"),
        (["--from", "2026-06-01"], "error: --from and --to are both needed"),
        (["--from", "2025-01-01", "--to", "2026-06-01"], "error: a report covers at most 366 days"),
    ],
)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_report_command_refuses_bad_input_in_one_line(settings: Settings, args: list[str], line: str) -> None:
    done = invoke_routedesk(settings, "report", *args)
    assert done.exit_code == 2
    assert len(done.output.strip().splitlines()) == 1 and done.output.startswith(line)
