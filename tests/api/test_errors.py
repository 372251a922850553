"""Failures that are nobody's input: a lost database connection and an unexpected exception. Both get
a JSON error body like every other answer of the API, and neither leaks what went wrong inside."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from app.db import unit_of_work
from tests.api.desk import Desk


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_connection_the_server_dropped_is_a_503_once_then_requests_work_again(desk: Desk) -> None:
    """The pool does not ping connections before use (a round trip per request), so a connection
    PostgreSQL closed fails the one request that gets it: that request is told to retry, and the
    pool replaces its connections."""
    assert (await desk.agent.get("/queues")).status_code == 200  # the pool now holds a live connection
    async with unit_of_work(desk.runtime.sessionmaker) as session:
        database = await session.scalar(text("SELECT current_database()"))
    admin = await asyncpg.connect(desk.settings.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        terminated = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await admin.close()
    assert terminated >= 1

    failed = await desk.agent.get("/queues")
    assert failed.status_code == 503
    assert failed.json()["error"] == "DatabaseUnavailable"
    assert failed.headers["retry-after"] == "1"
    assert "terminat" not in failed.text.lower()  # the driver's message stays in the server log

    again = await desk.agent.get("/queues")
    assert again.status_code == 200


async def test_an_unexpected_exception_is_a_json_500_without_its_message(desk: Desk) -> None:
    async def broken() -> None:
        raise RuntimeError("secret detail from inside")

    desk.app.add_api_route("/api/v1/broken-for-test", broken)
    # A server logs the exception after answering; here the transport must not re-raise it instead.
    transport = httpx.ASGITransport(app=desk.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/api/v1/broken-for-test")
    assert response.status_code == 500
    assert response.json() == {"error": "InternalError", "detail": "unexpected error; it is logged on the server"}
    assert "secret detail" not in response.text
