"""The SLA admin API: schedules, holidays, policies, a ticket's priority; bad input is a 4xx and
changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.desk import Desk, sqlite_only
from tests.mailgen import mail

WEEK = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(5)]
ICAL = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:1\r\n"
    b"DTSTART;VALUE=DATE:20261225\r\nSUMMARY:Christmas\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@sqlite_only
async def test_schedule_policy_and_holidays_round_trip(desk: Desk) -> None:
    assert (
        await desk.admin.put("/admin/sla/schedules/berlin", json={"zone": "Europe/Berlin", "intervals": WEEK})
    ).status_code == 200
    imported = await desk.admin.post(
        "/admin/sla/schedules/berlin/holidays/import", content=ICAL, headers={"Content-Type": "text/calendar"}
    )
    assert imported.json() == {"added": 1}
    schedule = (await desk.admin.get("/admin/sla/schedules/berlin")).json()
    assert schedule["holidays"] == [{"day": "2026-12-25", "name": "Christmas"}]
    assert schedule["intervals"][0] == {"weekday": 0, "start": "09:00", "end": "17:00"}
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    policy = {"business_hours": True, "schedule": "berlin", "targets": {"normal": {"first_reply": 120}}}
    written = await desk.admin.put("/admin/sla/policies/payouts", json=policy)
    assert written.status_code == 200, written.text
    assert written.json() == {"area": "payouts", **policy}
    assert (await desk.admin.delete("/admin/sla/schedules/berlin")).status_code == 409


@sqlite_only
async def test_agent_sets_priority_and_sees_the_clocks(desk: Desk) -> None:
    await desk.ingest(mail(message_id="<p1@merchant.example>"))
    ticket_id = await desk.ticket_of("p1@merchant.example")
    changed = await desk.agent.post(f"/tickets/{ticket_id}/priority", json={"priority": "urgent"})
    assert changed.status_code == 200 and changed.json()["priority"] == "urgent"
    clocks = (await desk.agent.get(f"/tickets/{ticket_id}/sla")).json()
    assert {c["metric"] for c in clocks["clocks"]} == {"first_reply", "resolution"}
    assert [e["kind"] for e in clocks["events"]].count("applied") == 4  # two started, two re-targeted
    refused = await desk.agent.post(f"/tickets/{ticket_id}/priority", json={"priority": "whenever"})
    assert refused.status_code == 422


@sqlite_only
async def test_a_rule_gives_its_tickets_a_priority(desk: Desk) -> None:
    await desk.admin.post("/admin/areas", json={"name": "incidents"})
    rule = {"kind": "keyword", "pattern": "outage", "area": "incidents", "priority": "urgent"}
    created = await desk.admin.post("/admin/rules", json=rule)
    assert created.status_code == 201 and created.json()["priority"] == "urgent", created.text
    assert (await desk.admin.post("/admin/rules", json={**rule, "priority": "asap"})).status_code == 422
    await desk.ingest(mail(subject="Total outage", message_id="<r1@merchant.example>"))
    await desk.ingest(mail(subject="A question", message_id="<r2@merchant.example>"))
    urgent, normal = await desk.ticket_of("r1@merchant.example"), await desk.ticket_of("r2@merchant.example")
    assert (await desk.agent.get(f"/tickets/{urgent}/sla")).json()["priority"] == "urgent"
    assert (await desk.agent.get(f"/tickets/{normal}/sla")).json()["priority"] == "normal"


BAD_SCHEDULES: list[tuple[dict[str, Any], str]] = [
    ({"zone": "Mars/Base", "intervals": WEEK}, "unknown time zone"),
    (
        {
            "zone": "UTC",
            "intervals": [
                {"weekday": 0, "start": "09:00", "end": "12:00"},
                {"weekday": 0, "start": "11:00", "end": "13:00"},
            ],
        },
        "overlap",
    ),
    ({"zone": "UTC", "intervals": [{"weekday": 0, "start": "17:00", "end": "09:00"}]}, "ends before it starts"),
    ({"zone": "UTC", "intervals": [{"weekday": 0, "start": "9am", "end": "17:00"}]}, "HH:MM"),
    ({"zone": "UTC", "intervals": [{"weekday": 7, "start": "09:00", "end": "17:00"}]}, "weekday"),
]


@sqlite_only
@pytest.mark.parametrize(("body", "message"), BAD_SCHEDULES)
async def test_bad_schedule_is_refused_and_nothing_is_stored(desk: Desk, body: dict[str, Any], message: str) -> None:
    response = await desk.admin.put("/admin/sla/schedules/bad", json=body)
    assert 400 <= response.status_code < 500
    assert message in response.text
    assert (await desk.admin.get("/admin/sla/schedules")).json() == []


BAD_POLICIES: list[tuple[str, dict[str, Any], int]] = [
    ("triage", {"targets": {"normal": {"first_reply": 0}}}, 422),
    ("triage", {"targets": {"normal": {"first_reply": -5}}}, 422),
    ("triage", {"targets": {"someday": {"first_reply": 60}}}, 422),
    ("triage", {"targets": {"normal": {"coffee": 60}}}, 422),
    ("triage", {"targets": {"high": {"first_reply": 60}}}, 422),  # no normal targets to fall back to
    ("triage", {"business_hours": True, "targets": {"normal": {"first_reply": 60}}}, 422),
    ("triage", {"schedule": "nowhere", "targets": {"normal": {"first_reply": 60}}}, 404),
    ("atlantis", {"targets": {"normal": {"first_reply": 60}}}, 404),
]


@sqlite_only
@pytest.mark.parametrize(("area", "body", "status"), BAD_POLICIES)
async def test_bad_policy_is_refused_and_nothing_is_stored(
    desk: Desk, area: str, body: dict[str, Any], status: int
) -> None:
    await desk.ingest(mail(message_id="<t1@merchant.example>"))  # makes the triage area
    response = await desk.admin.put(f"/admin/sla/policies/{area}", json=body)
    assert response.status_code == status, response.text
    assert set(response.json()) >= {"error", "detail"}
    assert (await desk.admin.get("/admin/sla/policies")).json() == []
