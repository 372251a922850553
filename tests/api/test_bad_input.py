"""Hand-written hostile requests, one kind each: every one gets a 4xx JSON error and changes nothing.
(tests/api/test_fuzz.py sends generated ones.)"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import select

from app.db import Base
from app.main import create_app
from tests.api.desk import Desk, sqlite_only
from tests.mailgen import mail

BEYOND_INT32 = 2**31  # ids are 32-bit integer columns on PostgreSQL


async def _fingerprint(desk: Desk) -> str:
    digest = hashlib.sha256()
    async with desk.runtime.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            for row in (await session.execute(select(table).order_by(*order))).all():
                digest.update(repr((table.name, tuple(row))).encode())
    return digest.hexdigest()


async def _refused(
    desk: Desk, method: str, path: str, *, status: int | tuple[int, ...], **kwargs: Any
) -> dict[str, Any]:
    """Send a request as the claiming agent; assert the refusal and that no table changed."""
    before = await _fingerprint(desk)
    response = await desk.agent.request(method, path, **kwargs)
    body: dict[str, Any] = response.json()
    assert response.status_code in ((status,) if isinstance(status, int) else status), (response.status_code, body)
    assert isinstance(body["error"], str) and isinstance(body["detail"], str) and body["detail"]
    assert await _fingerprint(desk) == before
    return body


@pytest.fixture
async def ticket_id(desk: Desk) -> int:
    ticket_id = await desk.new_ticket(mail())
    await desk.agent.post("/queues/triage/claim")
    return ticket_id


@sqlite_only
async def test_non_numeric_ticket_id_is_422(desk: Desk, ticket_id: int) -> None:
    body = await _refused(desk, "POST", "/tickets/abc/notes", json={"text": "x"}, status=422)
    assert body["error"] == "ValidationError"


@sqlite_only
async def test_wrong_json_types_are_422(desk: Desk, ticket_id: int) -> None:
    await _refused(desk, "POST", f"/tickets/{ticket_id}/notes", json={"text": ["a", "list"]}, status=422)
    await _refused(desk, "POST", f"/tickets/{ticket_id}/status", json={"status": 5}, status=422)
    await _refused(desk, "POST", f"/tickets/{ticket_id}/reply", json={"text": "x", "macro_id": "one"}, status=422)


@sqlite_only
async def test_body_that_is_not_json_is_422(desk: Desk, ticket_id: int) -> None:
    await _refused(
        desk,
        "POST",
        f"/tickets/{ticket_id}/notes",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
        status=422,
    )


@sqlite_only
async def test_json_array_instead_of_object_is_422(desk: Desk, ticket_id: int) -> None:
    await _refused(desk, "POST", f"/tickets/{ticket_id}/notes", json=["text"], status=422)


@sqlite_only
async def test_unknown_fields_are_refused(desk: Desk, ticket_id: int) -> None:
    body = await _refused(
        desk, "POST", f"/tickets/{ticket_id}/status", json={"status": "solved", "assignee_id": 1}, status=422
    )
    assert "assignee_id" in body["detail"]


@sqlite_only
async def test_huge_note_is_refused_without_echoing_it(desk: Desk, ticket_id: int) -> None:
    # Under the body limit, so that validation refuses it (over the limit it is a 413: test_body_limits.py).
    huge = "A" * 900_000
    body = await _refused(desk, "POST", f"/tickets/{ticket_id}/notes", json={"text": huge}, status=422)
    assert len(str(body)) < 2_000


@sqlite_only
async def test_huge_reply_is_refused(desk: Desk, ticket_id: int) -> None:
    await _refused(desk, "POST", f"/tickets/{ticket_id}/reply", json={"text": "x" * 50_001}, status=422)


@sqlite_only
async def test_huge_search_text_is_refused(desk: Desk, ticket_id: int) -> None:
    await _refused(desk, "GET", "/tickets", params={"q": "x" * 10_000}, status=422)


async def test_unknown_ticket_is_404_for_every_ticket_action(desk: Desk, ticket_id: int) -> None:
    missing = ticket_id + 1000
    for path, payload in [
        ("notes", {"text": "x"}),
        ("status", {"status": "solved"}),
        ("reroute", {"area": "triage"}),
        ("release", None),
        ("reply", {"text": "x"}),
    ]:
        await _refused(desk, "POST", f"/tickets/{missing}/{path}", json=payload, status=404)


@pytest.mark.parametrize(
    "path",
    [
        f"/tickets/{BEYOND_INT32}",
        f"/tickets/{BEYOND_INT32}/suggestions",
        f"/macros/{BEYOND_INT32}",
    ],
)
async def test_ids_beyond_the_integer_columns_are_refused_not_500(desk: Desk, path: str) -> None:
    await _refused(desk, "GET", path, status=(404, 422))


async def test_macro_id_beyond_the_integer_columns_is_refused_not_500(desk: Desk, ticket_id: int) -> None:
    await _refused(
        desk, "POST", f"/tickets/{ticket_id}/reply", json={"text": "x", "macro_id": BEYOND_INT32}, status=(404, 422)
    )


async def test_macro_area_id_beyond_the_integer_columns_is_refused_not_500(desk: Desk) -> None:
    before = await _fingerprint(desk)
    response = await desk.admin.post("/admin/macros", json={"title": "x", "body": "y", "area_id": BEYOND_INT32})
    assert response.status_code in (404, 422)
    assert await _fingerprint(desk) == before


async def test_sql_in_path_and_query_parameters_is_only_data(desk: Desk, ticket_id: int) -> None:
    hostile = "triage' OR '1'='1"
    await _refused(desk, "POST", f"/queues/{hostile}/claim", status=404)
    await _refused(desk, "GET", "/tickets", params={"assignee": "x' OR 1=1 --"}, status=404)
    await _refused(desk, "GET", "/tickets", params={"area": "'; DELETE FROM ticket; --"}, status=404)


async def test_admin_payload_with_sql_and_markup_is_refused(desk: Desk) -> None:
    before = await _fingerprint(desk)
    response = await desk.admin.post(
        "/admin/users", json={"name": 'x\'; DROP TABLE "user"; --', "email": "x@y.example"}
    )
    assert response.status_code == 422
    assert await _fingerprint(desk) == before


async def test_macro_with_a_template_expression_placeholder_is_refused(desk: Desk) -> None:
    before = await _fingerprint(desk)
    response = await desk.admin.post("/admin/macros", json={"title": "x", "body": "Hi {__import__}"})
    assert (response.status_code, response.json()["error"]) == (422, "InvalidInput")
    assert await _fingerprint(desk) == before


def test_openapi_schema_documents_the_error_body_the_api_returns() -> None:
    """Clients generated from the schema must be able to read our errors: {"error", "detail"}."""
    schema = create_app().openapi()
    undocumented = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("4"):
                    continue
                ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
                model = schema["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
                if not {"error", "detail"} <= set(model.get("properties", {})):
                    undocumented.append(f"{method.upper()} {path} {status}")
    assert undocumented == []
