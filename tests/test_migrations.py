from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, inspect, text

import app.models  # noqa: F401
from app.db import Base, create_engine
from app.migrate import downgrade_async, include_object, upgrade_async
from app.tickets import repository


async def _diff_and_tables(url: str) -> tuple[list[object], set[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:

            def inspect_sync(sync_conn: object) -> tuple[list[object], set[str]]:
                context = MigrationContext.configure(
                    sync_conn,  # type: ignore[arg-type]
                    opts={"compare_type": True, "include_object": include_object},
                )
                with warnings.catch_warnings():
                    # Alembic cannot compare expression indexes; test_claim_order_index checks that one.
                    warnings.filterwarnings("ignore", message=".*expression-based index '?ix_ticket_claim_order")
                    diff = compare_metadata(context, Base.metadata)
                tables = set(inspect(sync_conn).get_table_names()) - {"alembic_version"}
                return diff, tables

            return await conn.run_sync(inspect_sync)
    finally:
        await engine.dispose()


async def test_migrations_match_the_models(database_url: str) -> None:
    diff, tables = await _diff_and_tables(database_url)
    assert diff == []
    assert tables == set(Base.metadata.tables)


async def test_migrations_downgrade_to_nothing_and_upgrade_again(database_url: str) -> None:
    await downgrade_async(database_url, "base")
    _, tables = await _diff_and_tables(database_url)
    assert tables == set()
    await upgrade_async(database_url)
    diff, tables = await _diff_and_tables(database_url)
    assert diff == []
    assert tables == set(Base.metadata.tables)


async def test_claim_order_index_is_built_and_serves_the_claim(database_url: str) -> None:
    """The migrated index has the model's expression and condition; on PostgreSQL the claim statement
    reads waiting tickets from it in claim order instead of sorting them."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                definition = await conn.scalar(
                    text("SELECT sql FROM sqlite_master WHERE name = 'ix_ticket_claim_order'")
                )
            else:
                definition = await conn.scalar(
                    text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_ticket_claim_order'")
                )
                # An empty table would be scanned whole; forbid that and sorting, and see the index serve.
                # The claim runs as a prepared statement, so check the generic plan, the one reused.
                await conn.execute(text("SET enable_seqscan = off"))
                await conn.execute(text("SET enable_sort = off"))
                await conn.execute(text("SET plan_cache_mode = force_generic_plan"))
                sent: list[tuple[str, Any]] = []

                def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
                    sent.append((statement, parameters))

                # The SQL exactly as SQLAlchemy sends it (values written in, $n for the bound ones).
                event.listen(engine.sync_engine, "before_cursor_execute", capture)
                async with conn.begin_nested():
                    await conn.execute(repository._CLAIM, {"area": "payouts", "user_id": 1, "now": datetime.now(UTC)})
                event.remove(engine.sync_engine, "before_cursor_execute", capture)
                [(sql, args)] = [(statement, p) for statement, p in sent if "FOR UPDATE SKIP LOCKED" in statement]
                raw = (await conn.get_raw_connection()).driver_connection
                assert raw is not None
                await raw.execute(f"PREPARE claim_plan AS {sql}")
                values = ", ".join(
                    str(v) if isinstance(v, int) else "'" + str(v).replace("'", "''") + "'" for v in args
                )
                plan = "\n".join(row[0] for row in await raw.fetch(f"EXPLAIN EXECUTE claim_plan({values})"))
                assert "ix_ticket_claim_order" in plan
                assert "Sort" not in plan, plan
    finally:
        await engine.dispose()
    assert definition is not None
    normalized = " ".join(definition.lower().replace('"', "").replace("(", " ").replace(")", " ").split())
    # The nearest due time of the ticket's running SLA clocks, any metric (0007; before, an expression).
    assert "area_id, sla_due_at, created_at, id" in normalized
    assert "status" in normalized and "assignee_id is null" in normalized


async def test_archive_and_activation_history_migration_carries_existing_rows(database_url: str) -> None:
    """0006 marks areas deactivated before it as archived and records the versions activated before it,
    in activation order, so that the first rollback after the upgrade goes where it went before."""
    await downgrade_async(database_url, "0005")
    engine = create_engine(database_url)
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO area (name, title, description, first_response_minutes, resolution_minutes,"
                    " acknowledge, active, created_at) VALUES ('old', '', '', 1, 1, true, false, :at),"
                    " ('live', '', '', 1, 1, true, true, :at)"
                ),
                {"at": early},
            )
            for version, activated in (("v-late", late), ("v-early", early), ("v-never", None)):
                await conn.execute(
                    text(
                        "INSERT INTO model_version (version, active, created_at, activated_at, source, classes,"
                        " metrics, threshold, n_examples, fingerprint, sha256, meta, artifact) VALUES"
                        " (:v, false, :at, :activated, '', '[]', '{}', 0.5, 0, '', '', '{}', :blob)"
                    ),
                    {"v": version, "at": early, "activated": activated, "blob": b""},
                )
        await upgrade_async(database_url)
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT name, archived_at IS NOT NULL FROM area"))
            archived: dict[str, object] = {name: flag for name, flag in rows}
            history = (
                await conn.execute(
                    text(
                        "SELECT v.version FROM model_activation a JOIN model_version v"
                        " ON v.id = a.model_version_id ORDER BY a.id"
                    )
                )
            ).scalars()
            assert list(history) == ["v-early", "v-late"]
        assert {k: bool(v) for k, v in archived.items()} == {"old": True, "live": False}
    finally:
        await engine.dispose()


async def test_sla_migration_carries_old_due_times_into_clocks(database_url: str) -> None:
    """0007 gives every ticket from before its first-reply and resolution clocks, from the due times
    and answers it had (nothing lost), and the claim's due time."""
    from sqlalchemy import select

    from app.sla.models import SlaClock
    from app.tickets.models import Ticket

    await downgrade_async(database_url, "0006")
    engine = create_engine(database_url)
    created = datetime(2026, 1, 1, 9, tzinfo=UTC)
    try:
        async with engine.begin() as conn:
            naive = conn.dialect.name == "sqlite"

            def at(hours: float) -> datetime:
                moment = created + timedelta(hours=hours)
                return moment.replace(tzinfo=None) if naive else moment

            await conn.execute(
                text(
                    "INSERT INTO area (id, name, title, description, first_response_minutes, resolution_minutes,"
                    " acknowledge, active, created_at) VALUES (1, 'payouts', '', '', 60, 600, true, true, :at)"
                ),
                {"at": at(0)},
            )
            for reference, answered in (("RD-ANSWERED", at(0.5)), ("RD-WAITING", None)):
                await conn.execute(
                    text(
                        "INSERT INTO ticket (reference, subject, subject_key, status, area_id, routed_by, created_at,"
                        " updated_at, first_response_due_at, resolution_due_at, first_responded_at)"
                        " VALUES (:ref, '', '', 'open', 1, 'rule', :at, :at, :first, :resolution, :answered)"
                    ),
                    {"ref": reference, "at": at(0), "first": at(1), "resolution": at(10), "answered": answered},
                )
        await upgrade_async(database_url)
        async with engine.connect() as conn:
            clocks: dict[tuple[str, str], Any] = {
                (reference, str(metric)): (state, due, fulfilled, minutes)
                for reference, metric, state, due, fulfilled, minutes in await conn.execute(
                    select(
                        Ticket.reference,
                        SlaClock.metric,
                        SlaClock.state,
                        SlaClock.due_at,
                        SlaClock.fulfilled_at,
                        SlaClock.calendar_minutes,
                    ).join(Ticket, Ticket.id == SlaClock.ticket_id)
                )
            }
            dues = dict((await conn.execute(select(Ticket.reference, Ticket.sla_due_at))).all())
    finally:
        await engine.dispose()
    hour = timedelta(hours=1)
    answered_clock = clocks[("RD-ANSWERED", "first_reply")]
    assert answered_clock[:3] == ("fulfilled", created + hour, created + hour / 2)
    assert abs(answered_clock[3] - 30) < 1e-6
    assert clocks[("RD-WAITING", "first_reply")][:3] == ("running", created + hour, None)
    assert clocks[("RD-WAITING", "resolution")][:2] == ("running", created + 10 * hour)
    assert dues == {"RD-ANSWERED": created + 10 * hour, "RD-WAITING": created + hour}
