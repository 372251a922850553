"""`routedesk sla recompute` rebuilds clocks from history: through the real CLI in a subprocess (the sla
group's smoke test of the real entry point), its refusal of a bad date in-process (tests/cli.py)."""

from __future__ import annotations

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
