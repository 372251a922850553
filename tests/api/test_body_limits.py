"""Request bodies are bounded before they cost anything (app/http.py): over its route class's limit a body
is a 413, on its Content-Length before a byte is read, or as soon as a streamed body passes the limit; a
JSON body with too many entries or too deep a nesting is a 422 before validation; and a refusal of
invalid input is small whatever the input. Through httpx's ASGI transport, and through a real uvicorn
for what only a server shows (a body never read off the socket)."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.validation import MAX_ERROR_FIELDS
from tests.api.desk import Desk, sqlite_only
from tests.api.server import serving
from tests.api.test_bad_input import _fingerprint
from tests.mailgen import mail

MiB = 1024 * 1024
HUNDRED_MB = 100 * 1000 * 1000


class CountingBody:
    """A request body produced on demand, counting what the app pulled."""

    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total, self.chunk, self.pulled = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            piece = b"x" * min(self.chunk, self.total - self.pulled)
            self.pulled += len(piece)
            yield piece


@pytest.fixture
async def ticket_id(desk: Desk) -> int:
    return await desk.new_ticket(mail())


def _with_http(desk: Desk, **http: int) -> None:
    """Change the running app's request limits (it reads them per request)."""
    settings = desk.settings
    desk.app.state.settings = settings.model_copy(update={"http": settings.http.model_copy(update=http)})


@sqlite_only
async def test_a_declared_body_over_the_limit_is_413_before_a_byte_is_read(desk: Desk, ticket_id: int) -> None:
    body = CountingBody(HUNDRED_MB)
    response = await desk.agent.post(
        f"/tickets/{ticket_id}/notes",
        content=body,
        headers={"Content-Length": str(HUNDRED_MB), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json() == {
        "error": "PayloadTooLarge", "detail": "the request body is over this route's limit of 1048576 bytes",
    }  # fmt: skip
    assert response.headers["connection"] == "close"
    assert body.pulled == 0


@sqlite_only
async def test_a_streamed_body_over_the_limit_is_413_once_the_limit_is_passed(desk: Desk, ticket_id: int) -> None:
    before = await _fingerprint(desk)
    body = CountingBody(HUNDRED_MB)
    response = await desk.agent.post(
        f"/tickets/{ticket_id}/notes", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413 and response.json()["error"] == "PayloadTooLarge"
    assert "content-length" not in response.request.headers  # sent chunked
    assert body.pulled <= MiB + body.chunk
    assert await _fingerprint(desk) == before


@sqlite_only
async def test_admin_routes_take_a_larger_body_than_agent_routes(desk: Desk, ticket_id: int) -> None:
    text = "A" * (MiB + MiB // 2)  # over the agents' 1 MiB, under the admin routes' 2 MiB
    note = await desk.agent.post(f"/tickets/{ticket_id}/notes", json={"text": text})
    macro = await desk.admin.post("/admin/macros", json={"title": "Big", "body": text})
    assert note.status_code == 413
    assert macro.status_code == 422 and macro.json()["fields"][0]["type"] == "string_too_long"


@sqlite_only
async def test_the_limit_of_each_route_class_is_a_setting(desk: Desk, ticket_id: int) -> None:
    _with_http(desk, max_body_bytes=4096, max_admin_body_bytes=8192, max_other_body_bytes=1024)
    assert (await desk.agent.post(f"/tickets/{ticket_id}/notes", json={"text": "A" * 5000})).status_code == 413
    assert (await desk.agent.post(f"/tickets/{ticket_id}/notes", json={"text": "A" * 3000})).status_code == 201
    assert (await desk.admin.post("/admin/macros", json={"title": "T", "body": "A" * 7000})).status_code == 201
    assert (await desk.admin.post("/admin/macros", json={"title": "T", "body": "A" * 9000})).status_code == 413
    outside = await desk.agent.post("http://test/healthz", content=b"x" * 2000)
    assert outside.status_code == 413


def _unknown_keys(n: int) -> bytes:
    return json.dumps({f"k{i}": 0 for i in range(n)}).encode()


async def _post_json(client: httpx.AsyncClient, path: str, body: bytes) -> httpx.Response:
    return await client.post(path, content=body, headers={"Content-Type": "application/json"})


@sqlite_only
async def test_900k_unknown_keys_get_a_small_answer(desk: Desk, ticket_id: int) -> None:
    body = _unknown_keys(900_000)  # about 11 MB
    over = await _post_json(desk.agent, f"/tickets/{ticket_id}/status", body)
    assert over.status_code == 413 and len(over.content) < 200
    # Under a body limit raised to let it in, the count of entries still stops it before validation.
    _with_http(desk, max_body_bytes=32 * MiB)
    before = await _fingerprint(desk)
    under = await _post_json(desk.agent, f"/tickets/{ticket_id}/status", body)
    assert under.status_code == 422 and len(under.content) < 500
    assert under.json()["fields"] == [{
        "loc": ["body"], "msg": "more than 1000 JSON entries (object keys and array items)", "type": "json_too_large",
    }]  # fmt: skip
    assert await _fingerprint(desk) == before


@sqlite_only
async def test_json_entries_beyond_the_limit_are_refused_before_validation(desk: Desk, ticket_id: int) -> None:
    for body in (_unknown_keys(1001), json.dumps({"status": "solved", "x": [0] * 1000}).encode()):
        response = await _post_json(desk.agent, f"/tickets/{ticket_id}/status", body)
        assert response.status_code == 422, response.text
        assert response.json()["fields"][0]["type"] == "json_too_large"
    _with_http(desk, max_json_entries=2000)
    allowed = await _post_json(desk.agent, f"/tickets/{ticket_id}/status", _unknown_keys(1001))
    assert allowed.status_code == 422
    assert "extra_forbidden" in {f["type"] for f in allowed.json()["fields"]}


@sqlite_only
@pytest.mark.parametrize("depth", [33, 200_000])
async def test_json_nested_deeper_than_the_limit_is_refused(desk: Desk, ticket_id: int, depth: int) -> None:
    body = b'{"text": ' + b"[" * depth + b"]" * depth + b"}"
    response = await _post_json(desk.agent, f"/tickets/{ticket_id}/notes", body)
    assert response.status_code == 422
    assert response.json()["fields"] == [
        {"loc": ["body"], "msg": "JSON nested deeper than 32 levels", "type": "json_too_large"}
    ]


@sqlite_only
async def test_json_nesting_within_the_limit_reaches_validation(desk: Desk, ticket_id: int) -> None:
    body = b'{"text": ' + b"[" * 31 + b"]" * 31 + b"}"
    response = await _post_json(desk.agent, f"/tickets/{ticket_id}/notes", body)
    assert response.status_code == 422 and response.json()["fields"][0]["type"] == "string_type"


@sqlite_only
async def test_a_refusal_lists_at_most_a_bounded_number_of_errors(desk: Desk, ticket_id: int) -> None:
    response = await _post_json(desk.agent, f"/tickets/{ticket_id}/status", _unknown_keys(900))
    body = response.json()
    assert response.status_code == 422
    assert len(body["fields"]) == MAX_ERROR_FIELDS
    assert body["detail"].endswith(f"; and {900 + 1 - 5} more")  # 900 unknown keys and the missing status
    assert len(response.content) < 5_000


@sqlite_only
async def test_a_refusal_clips_a_huge_key_name(desk: Desk, ticket_id: int) -> None:
    key = "K" * 500_000
    response = await desk.agent.post(f"/tickets/{ticket_id}/status", json={"status": "solved", key: 1})
    assert response.status_code == 422
    [field] = response.json()["fields"]
    assert field["loc"] == ["body", "K" * 63 + "…"] and field["type"] == "extra_forbidden"
    assert len(response.content) < 1_000


# --- through a real server -----------------------------------------------------------------------------


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[int]:
    with serving(settings, tmp_path / "serve.log") as port:
        yield port


def _answer(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def _request_head(port: int, extra: str) -> bytes:
    return (f"POST /api/v1/tickets/1/notes HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\n{extra}\r\n").encode()  # fmt: skip


@sqlite_only
def test_uvicorn_answers_413_to_a_declared_100_mb_body_without_reading_it(server: int) -> None:
    # Only the head is sent: the answer comes while the 100 MB it announces are still to come.
    for expect in ("", "Expect: 100-continue\r\n"):
        with socket.create_connection(("127.0.0.1", server), timeout=30) as sock:
            sock.sendall(_request_head(server, f"Content-Length: {HUNDRED_MB}\r\n{expect}"))
            answer = _answer(sock)  # the server closes the connection after it
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413 "), answer[:200]  # and no "100 Continue" first
        assert b"connection: close" in head.lower() and b"cache-control: no-store" in head.lower()
        assert json.loads(body)["error"] == "PayloadTooLarge"


@sqlite_only
def test_uvicorn_answers_413_to_a_chunked_body_once_it_passes_the_limit(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=30) as sock:
        sock.sendall(_request_head(server, "Transfer-Encoding: chunked\r\n"))
        chunk = b"x" * 65536
        for _ in range(MiB // len(chunk)):  # exactly the limit: still accepted
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        sock.sendall(b"1\r\nx\r\n")  # one byte more, and no last chunk
        answer = _answer(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert json.loads(body)["error"] == "PayloadTooLarge"
