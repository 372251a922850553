"""Every answer carries the hardening headers, errors and the server-error handler's 500 included, and
every /api answer (they carry customer data) `Cache-Control: no-store` (app/http.py)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from app.inbox.models import Message
from tests.api.desk import Desk, sqlite_only
from tests.mailgen import mail

HARDENING = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}
API = {**HARDENING, "cache-control": "no-store"}


def _missing(response: httpx.Response, expected: dict[str, str]) -> dict[str, list[str]]:
    return {
        name: response.headers.get_list(name)
        for name, value in expected.items()
        if response.headers.get_list(name) != [value]
    }


@sqlite_only
async def test_api_answers_and_errors_carry_the_hardening_headers(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail())
    answers = {
        "200": await desk.agent.get(f"/tickets/{ticket_id}"),
        "201": await desk.agent.post(f"/tickets/{ticket_id}/notes", json={"text": "checked"}),
        "401": await desk.client().get("/queues"),
        "403": await desk.agent.get("/admin/users"),
        "404": await desk.agent.get(f"/tickets/{ticket_id + 1000}"),
        "404 route": await desk.agent.get("/no-such-route"),
        "405": await desk.agent.delete("/queues"),
        "413": await desk.agent.post(f"/tickets/{ticket_id}/notes", json={"text": "x" * 2_000_000}),
        "422": await desk.agent.post(f"/tickets/{ticket_id}/notes", json={"text": "\x00"}),
        "422 target": await desk.agent.get("/tickets?q=%FF"),
    }
    wrong = {name: (r.status_code, _missing(r, API)) for name, r in answers.items() if _missing(r, API)}
    assert wrong == {}
    assert {name: r.status_code for name, r in answers.items()} == {
        "200": 200, "201": 201, "401": 401, "403": 403, "404": 404, "404 route": 404, "405": 405, "413": 413,
        "422": 422, "422 target": 422,
    }  # fmt: skip


@pytest.mark.own_app
@sqlite_only
async def test_an_unexpected_500_carries_the_hardening_headers(desk: Desk) -> None:
    async def broken() -> None:
        raise RuntimeError("broken for the test")

    desk.app.add_api_route("/api/v1/broken-for-test", broken)
    # The 500 comes from ErrorBoundary (app/errors.py), inside the server-error middleware; the guard
    # is outside both.
    transport = httpx.ASGITransport(app=desk.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/api/v1/broken-for-test")
    assert response.status_code == 500
    assert _missing(response, API) == {}


@sqlite_only
async def test_answers_outside_the_api_carry_the_hardening_headers_but_may_be_cached(desk: Desk) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test") as client:
        health = await client.get("/healthz")
        schema = await client.get("/openapi.json")
        docs = await client.get("/docs")
    for response in (health, schema):
        assert response.status_code == 200 and _missing(response, HARDENING) == {}
        assert "cache-control" not in response.headers
    # The docs page sends its own policy, naming what it loads (tests/api/test_docs.py); still unframed.
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert _missing(docs, {k: v for k, v in HARDENING.items() if k != "content-security-policy"}) == {}
    assert "frame-ancestors 'none'" in docs.headers.get_list("content-security-policy")[0]


@sqlite_only
async def test_a_header_a_route_sets_itself_is_kept_and_not_repeated(desk: Desk) -> None:
    await desk.new_ticket(mail())
    message_id = await desk.scalar(select(Message.id))
    raw = await desk.admin.get(f"/admin/messages/{message_id}/raw")
    assert raw.status_code == 200 and raw.headers["content-type"] == "message/rfc822"
    assert _missing(raw, API) == {}
