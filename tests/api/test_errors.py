"""Failures that are nobody's input: a lost database connection and an unexpected exception. Both get
a JSON error body like every other answer of the API, and neither leaks what went wrong inside."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from app.db import unit_of_work
from tests.api.desk import Desk, sqlite_only
from tests.logcapture import LogCapture, StuckStream


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


@pytest.mark.own_app
async def test_an_unexpected_exception_is_a_json_500_without_its_message(desk: Desk) -> None:
    async def broken() -> None:
        raise RuntimeError("secret detail from inside")

    desk.app.add_api_route("/api/v1/broken-for-test", broken)
    # A server logs the exception after answering; here the transport must not re-raise it instead.
    transport = httpx.ASGITransport(app=desk.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/api/v1/broken-for-test")
    assert response.status_code == 500
    body = response.json()
    assert {k: body[k] for k in ("error", "detail")} == {
        "error": "InternalError",
        "detail": "unexpected error; it is logged on the server",
    }
    assert set(body) == {"error", "detail", "error_id"} and len(body["error_id"]) == 16
    assert "secret detail" not in response.text


def _broken_route(desk: Desk) -> str:
    async def broken() -> None:
        raise RuntimeError("boom from inside the route")

    desk.app.add_api_route("/api/v1/broken-for-test", broken)
    return "/api/v1/broken-for-test"


@pytest.mark.own_app
@sqlite_only
@pytest.mark.parametrize("json_format", [False, True], ids=["console", "json"])
async def test_a_500_carries_an_error_id_that_is_in_exactly_one_log_line(
    desk: Desk, log_capture: Callable[..., LogCapture], json_format: bool
) -> None:
    capture = log_capture(json=json_format)
    path = _broken_route(desk)
    # The exception is answered and not raised further (a server would log it again and drop the connection).
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test") as client:
        responses = [await client.get(path) for _ in range(3)]
    assert [r.status_code for r in responses] == [500] * 3
    error_ids = [r.json()["error_id"] for r in responses]
    assert len(set(error_ids)) == 3
    lines = capture.lines()
    for error_id in error_ids:
        matching = [line for line in lines if error_id in line]
        assert len(matching) == 1, lines
        assert "unexpected_error" in matching[0] and "RuntimeError" in matching[0]
        assert "boom from inside the route" in matching[0] and "broken-for-test" in matching[0]
    assert len([line for line in lines if "RuntimeError" in line]) == 3  # and no second traceback elsewhere


@pytest.mark.own_app
@sqlite_only
async def test_healthz_keeps_answering_while_many_500s_are_being_logged(
    desk: Desk, log_capture: Callable[..., LogCapture]
) -> None:
    """The log's stream is stuck (a full pipe, a slow terminal): the errors are still answered, and so
    is /healthz, because nothing is written from the event loop's thread."""
    stream = StuckStream(blocked=True)
    log_capture(stream=stream)
    path = _broken_route(desk)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test") as client:
            answers = await asyncio.gather(
                *(client.get(path) for _ in range(200)), *(client.get("/healthz") for _ in range(50))
            )
        assert [a.status_code for a in answers[:200]] == [500] * 200
        assert [a.status_code for a in answers[200:]] == [200] * 50
        assert stream.caller not in stream.writers
    finally:
        stream.release.set()
