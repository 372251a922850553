"""`routedesk sla recompute` rebuilds clocks from history: through the real CLI in a subprocess (the sla
group's smoke test of the real entry point), its refusal of a bad date in-process (tests/cli.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete

from app.db import unit_of_work
from app.sla.models import Metric, SlaClock
from tests.cli import cli_env, invoke_env_async, run_routedesk_env
from tests.sla.desk import SlaDesk

T0 = datetime(2026, 6, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sla_recompute_rebuilds_lost_clocks(sla_desk: SlaDesk, database_url: str, tmp_path: Path) -> None:
    await sla_desk.area("payments", targets={"normal": {"first_reply": 60, "resolution": 600}})
    ticket = await sla_desk.open(T0, area="payments")
    live = await sla_desk.clock(ticket, Metric.FIRST_REPLY)
    async with unit_of_work(sla_desk.sessionmaker) as session:
        await session.execute(delete(SlaClock))
    env = cli_env(database_url, tmp_path)
    done = await run_routedesk_env(env, "sla", "recompute", "--since", "2026-05-01")
    assert (done.returncode, done.stdout.strip()) == (0, "recomputed 1 tickets"), done.stderr
    rebuilt = await sla_desk.clock(ticket, Metric.FIRST_REPLY)
    assert (rebuilt["due_at"], rebuilt["started_at"]) == (live["due_at"], live["started_at"])
    bad = await invoke_env_async(env, "sla", "recompute", "--since", "yesterday")
    assert bad.returncode != 0 and "--since must be a date" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sla_set_policy_and_clear_policy_change_the_areas_targets(
    sla_desk: SlaDesk, database_url: str, tmp_path: Path
) -> None:
    await sla_desk.area("payments")
    await sla_desk.schedule("office", "Europe/Berlin", [{"weekday": 0, "start": "09:00", "end": "17:00"}])
    env = cli_env(database_url, tmp_path)
    done = await invoke_env_async(
        env,
        *("sla", "set-policy", "payments", "--business-hours", "--schedule", "office"),
        *(
            "--target",
            "normal.first_reply=60",
            "--target",
            "normal.resolution=600",
            "--target",
            "urgent.first_reply=15",
        ),
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown == {
        "area": "payments",
        "business_hours": True,
        "schedule": "office",
        "targets": {"normal": {"first_reply": 60, "resolution": 600}, "urgent": {"first_reply": 15}},
    }
    listed = await invoke_env_async(env, "sla", "policies")
    assert json.loads(listed.stdout.strip()) == shown
    # A ticket opened now runs on the policy: an urgent one's first reply is due in 15 business minutes.
    monday = datetime(2026, 6, 1, 7, tzinfo=UTC)  # 09:00 in Berlin
    ticket = await sla_desk.open(monday, area="payments", priority="urgent")
    assert (await sla_desk.clock(ticket, Metric.FIRST_REPLY))["due_at"] == datetime(2026, 6, 1, 7, 15, tzinfo=UTC)
    for bad, words in (
        (("--target", "normal.first_reply"), "PRIORITY.METRIC=MINUTES"),
        (("--target", "someday.first_reply=5"), "targets.someday"),
        (("--target", "normal.first_reply=soon"), "targets.normal.first_reply"),
        (("--target", "normal.first_reply=5", "--schedule", "nowhere"), "nowhere"),
    ):
        refused = await invoke_env_async(env, "sla", "set-policy", "payments", *bad)
        assert refused.returncode != 0 and words in refused.stderr, (bad, refused.stderr)
        assert len(refused.stderr.strip().splitlines()) == 1
    unknown = await invoke_env_async(env, "sla", "set-policy", "cards", "--target", "normal.first_reply=5")
    assert unknown.returncode != 0 and "cards" in unknown.stderr
    assert json.loads((await invoke_env_async(env, "sla", "policies")).stdout.strip()) == shown  # unchanged
    cleared = await invoke_env_async(env, "sla", "clear-policy", "payments")
    assert cleared.returncode == 0 and "policy removed" in cleared.stdout
    assert "office" not in (await invoke_env_async(env, "sla", "policies")).stdout
