"""One rule for every piece of text the API takes in (app/validation.py): NUL, other control characters,
a line break in a one-line field, a lone surrogate, or a request target that is not UTF-8, are a 422
ValidationError that names the input; never a 500 from the database or the mail composer, and nothing
changes. The first tests prove that every text input of every route has the rule, so a new field cannot
forget it; the others send the bad text through httpx, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import types
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, SecretStr

from app.config import Settings
from app.db import unit_of_work
from app.main import create_app
from app.runtime import Runtime
from app.tickets.schemas import ReplyCreate
from app.users import service as users
from app.validation import TEXT_ERROR_TYPES, TextRule
from tests.api.desk import Desk, sqlite_only
from tests.api.server import serving
from tests.api.test_bad_input import _fingerprint
from tests.mailgen import mail


@dataclass(frozen=True)
class TextInput:
    method: str
    path: str
    source: str  # "path", "query", "header", "cookie" or "body"
    name: str  # the parameter, or the body field
    rule: TextRule | None

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.source}:{self.name}"


def _texts(annotation: Any, metadata: list[Any], name: str) -> list[tuple[str, TextRule | None]]:
    """The text leaves of a type as (name, rule). A rule applies to what it annotates, unions
    included; not to the items of a container."""
    rule = next((m for m in metadata if isinstance(m, TextRule)), None)
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        return _texts(base, [*metadata, *extra], name)
    if origin is Union or origin is types.UnionType:
        return [leaf for arg in get_args(annotation) for leaf in _texts(arg, metadata, name)]
    if origin is Literal:
        return []  # only the listed values validate
    if origin is not None:  # list[...], dict[...]: each item on its own
        return [leaf for arg in get_args(annotation) for leaf in _texts(arg, [], f"{name}[]")]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [
            leaf
            for field_name, field in annotation.model_fields.items()
            for leaf in _texts(field.annotation, list(field.metadata), f"{name}.{field_name}" if name else field_name)
        ]
    if isinstance(annotation, type) and issubclass(annotation, str | SecretStr) and not issubclass(annotation, Enum):
        return [(name, rule)]
    return []


def _dependant_texts(dependant: Dependant) -> list[tuple[str, str, TextRule | None]]:
    found = []
    for source in ("path", "query", "header", "cookie", "body"):
        for param in getattr(dependant, f"{source}_params"):
            info = param.field_info
            # A body model's fields are named as the client sends them (top level of the JSON body).
            name = "" if source == "body" and isinstance(info.annotation, type) else param.name
            found += [(source, leaf, rule) for leaf, rule in _texts(info.annotation, list(info.metadata), name)]
    for sub in dependant.dependencies:
        found += _dependant_texts(sub)
    return found


def text_inputs(app: FastAPI) -> list[TextInput]:
    inputs = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or context.path is None:
            continue
        for method in sorted(route.methods or ()):
            for source, name, rule in _dependant_texts(route.dependant):
                inputs.add(TextInput(method, context.path, source, name, rule))
    return sorted(inputs, key=str)


APP = create_app()  # building the app builds no runtime
TEXT_INPUTS = text_inputs(APP)


def test_the_route_walk_finds_the_text_inputs_of_paths_queries_and_bodies() -> None:
    found = {str(i) for i in TEXT_INPUTS}
    assert {"POST /api/v1/queues/{area}/claim path:area", "GET /api/v1/tickets query:q",
            "POST /api/v1/tickets/{ticket_id}/notes body:text", "POST /api/v1/admin/mailboxes body:imap_password",
            "PATCH /api/v1/admin/macros/{macro_id} body:body"} <= found  # fmt: skip
    assert len(found) > 40


class _Unguarded(BaseModel):
    fine: Annotated[str, TextRule(multiline=False)]
    forgot: str | None = None
    secret: SecretStr
    labels: list[str] = []


def test_the_route_walk_reports_a_text_input_without_the_rule() -> None:
    probe = FastAPI()

    @probe.post("/probe/{name}")
    async def handler(name: str, body: _Unguarded, q: str = "") -> None: ...

    missing = {str(i) for i in text_inputs(probe) if i.rule is None}
    assert missing == {"POST /probe/{name} path:name", "POST /probe/{name} query:q",
                       "POST /probe/{name} body:forgot", "POST /probe/{name} body:secret",
                       "POST /probe/{name} body:labels[]"}  # fmt: skip


def test_every_text_input_of_every_route_has_the_text_rule() -> None:
    assert [str(i) for i in TEXT_INPUTS if i.rule is None] == []


def test_the_reply_body_the_route_reads_itself_has_the_text_rule() -> None:
    # The reply route reads its body itself (JSON, or a form with files), so the walk above cannot see
    # it: the model it validates with is checked here.
    assert [(name, rule is not None) for name, rule in _texts(ReplyCreate, [], "")] == [("text", True)]


def _unmarked_strings(node: Any, schema: dict[str, Any], marked: bool, where: str) -> list[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            target = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
            return _unmarked_strings(target, schema, marked or "x-text" in node, where)
        marked = marked or "x-text" in node
        # An uploaded file (format: binary) is bytes, not text; a date is parsed as one, which no NUL or
        # lone surrogate passes.
        textual = node.get("type") == "string" and node.get("format") not in ("binary", "date")
        if textual and "enum" not in node and "const" not in node and not marked:
            return [where]
        found = []
        for key in ("anyOf", "oneOf", "allOf"):
            for part in node.get(key, ()):
                found += _unmarked_strings(part, schema, marked, where)
        for name, prop in node.get("properties", {}).items():
            found += _unmarked_strings(prop, schema, False, f"{where}.{name}")
        if isinstance(node.get("items"), dict):
            found += _unmarked_strings(node["items"], schema, False, f"{where}[]")
        return found
    return []


def test_the_schema_documents_the_text_rule_on_every_string_input() -> None:
    schema = APP.openapi()
    unmarked = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", ()):
                unmarked += _unmarked_strings(param["schema"], schema, False, f"{method} {path} {param['name']}")
            for content in operation.get("requestBody", {}).get("content", {}).values():
                unmarked += _unmarked_strings(content["schema"], schema, False, f"{method} {path} body")
    assert unmarked == []


# --- through httpx -------------------------------------------------------------------------------------

NUL, SURROGATE = "nul", "surrogate"
# In a JSON body: the escape as the client sends it, never decoded by the test.
JSON_ESCAPE = {NUL: "\\u0000", SURROGATE: "\\ud800"}
# In a path or a query string: the UTF-8 bytes, percent-encoded (ED A0 80 encodes U+D800, which UTF-8
# forbids: no decoder may accept it).
PERCENT = {NUL: "%00", SURROGATE: "%ED%A0%80"}
MARK = "@@BAD@@"

MAILBOX = {"name": "other", "imap_host": "imap.example", "imap_username": "u", "imap_password": "p"}


@dataclass(frozen=True)
class Case:
    id: str
    admin: bool
    method: str
    path: str  # {ticket}, {macro}, {mailbox} are filled in; MARK marks the bad text in a path or query
    body: dict[str, Any] | None = None  # MARK marks the bad text in a JSON body

    def loc(self, bad: str) -> list[str]:
        """Where the refusal must point."""
        if self.body is not None and MARK in self.body.values():
            return ["body", next(k for k, v in self.body.items() if v == MARK)]
        before, _, _ = self.path.partition(MARK)
        if "?" in before:
            name = before.rsplit("?", 1)[1].rsplit("&", 1)[-1].rstrip("=")
            return ["query", name]
        # A NUL reaches the parameter; bytes that are not UTF-8 are refused as the whole path.
        param = {"/queues/": "area", "/admin/areas/": "name", "/admin/users/": "name", "/admin/models/": "version"}
        return ["path", next(v for k, v in param.items() if before.endswith(k))] if bad == NUL else ["path"]


CASES = [
    Case("reply text", False, "POST", "/tickets/{ticket}/reply", {"text": MARK}),
    Case("note text", False, "POST", "/tickets/{ticket}/notes", {"text": MARK}),
    Case("reroute area", False, "POST", "/tickets/{ticket}/reroute", {"area": MARK}),
    Case("claim area", False, "POST", f"/queues/{MARK}/claim"),
    Case("search q", False, "GET", f"/tickets?q={MARK}"),
    Case("search customer", False, "GET", f"/tickets?status=open&customer={MARK}"),
    Case("search area", False, "GET", f"/tickets?area={MARK}"),
    Case("search assignee", False, "GET", f"/tickets?assignee={MARK}"),
    Case("macro body", True, "POST", "/admin/macros", {"title": "Hello", "body": MARK}),
    Case("macro title", True, "POST", "/admin/macros", {"title": MARK, "body": "Hi"}),
    Case("macro body update", True, "PATCH", "/admin/macros/{macro}", {"body": MARK}),
    Case("mailbox imap_host", True, "POST", "/admin/mailboxes", {**MAILBOX, "imap_host": MARK}),
    Case("mailbox imap_username", True, "POST", "/admin/mailboxes", {**MAILBOX, "imap_username": MARK}),
    Case("mailbox imap_password", True, "POST", "/admin/mailboxes", {**MAILBOX, "imap_password": MARK}),
    Case("mailbox smtp_password", True, "POST", "/admin/mailboxes", {**MAILBOX, "smtp_password": MARK}),
    Case("mailbox from_name", True, "POST", "/admin/mailboxes", {**MAILBOX, "from_name": MARK}),
    Case("mailbox update imap_host", True, "PATCH", "/admin/mailboxes/{mailbox}", {"imap_host": MARK}),
    Case("mailbox update imap_password", True, "PATCH", "/admin/mailboxes/{mailbox}", {"imap_password": MARK}),
    Case("mailbox update smtp_password", True, "PATCH", "/admin/mailboxes/{mailbox}", {"smtp_password": MARK}),
    Case("area title", True, "POST", "/admin/areas", {"name": "refunds", "title": MARK}),
    Case("area update description", True, "PATCH", "/admin/areas/triage", {"description": MARK}),
    Case("area name in path", True, "PATCH", f"/admin/areas/{MARK}", {"title": "x"}),
    Case("rule pattern", True, "POST", "/admin/rules", {"kind": "keyword", "pattern": MARK, "area": "triage"}),
    Case("user name", True, "POST", "/admin/users", {"name": MARK, "email": "x@routedesk.example"}),
    Case("user name in path", True, "POST", f"/admin/users/{MARK}/token"),
    Case("model version in path", True, "POST", f"/admin/models/{MARK}/activate"),
]


@pytest.fixture
async def ids(desk: Desk) -> dict[str, int]:
    ticket = await desk.new_ticket(mail())
    assert (await desk.agent.post("/queues/triage/claim")).status_code == 200
    macro = await desk.admin.post("/admin/macros", json={"title": "Hello", "body": "Hi {customer_name}"})
    assert macro.status_code == 201, macro.text
    return {"ticket": ticket, "macro": macro.json()["id"], "mailbox": desk.mailbox_id}


async def _send_bad(desk: Desk, case: Case, bad: str, ids: dict[str, int]) -> httpx.Response:
    client = desk.admin if case.admin else desk.agent
    path = case.path.format(**ids) if "{" in case.path else case.path
    path = path.replace(MARK, PERCENT[bad])
    if case.body is None:
        return await client.request(case.method, path)
    raw = json.dumps(case.body).replace(MARK, JSON_ESCAPE[bad]).encode()
    return await client.request(case.method, path, content=raw, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_nul_and_lone_surrogate_are_a_422_naming_the_input(desk: Desk, ids: dict[str, int], case: Case) -> None:
    for bad in (NUL, SURROGATE):
        before = await _fingerprint(desk)
        response = await _send_bad(desk, case, bad, ids)
        assert response.status_code == 422, (bad, response.status_code, response.text)
        body = response.json()
        assert body["error"] == "ValidationError" and body["detail"], body
        kinds = TEXT_ERROR_TYPES | {"text_encoding"}
        assert any(f["loc"] == case.loc(bad) and f["type"] in kinds for f in body["fields"]), (bad, body)
        assert await _fingerprint(desk) == before


def _concrete(path: str, *, ticket_id: int, nul_in: str | None) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == nul_in:
            return "%00"
        if name.endswith("_id"):
            return str(ticket_id if name == "ticket_id" else 1)
        return "x"

    return re.sub(r"\{([a-z_]+)\}", fill, path)


async def test_every_text_input_refuses_nul_naming_it(desk: Desk, ids: dict[str, int]) -> None:
    """Generated from the route walk: each text input of each route, alone set to a NUL."""
    wrong = []
    for text in TEXT_INPUTS:
        url = _concrete(text.path, ticket_id=ids["ticket"], nul_in=text.name if text.source == "path" else None)
        url = url.removeprefix("/api/v1")
        kwargs: dict[str, Any] = {}
        if text.source == "query":
            url += f"?{text.name}=%00"
        elif text.source == "body":
            # An item of a list of text (`tags[]`) is sent as the list's one item, and named by its index.
            name, items = text.name.removesuffix("[]"), text.name.endswith("[]")
            value = ["\x00"] if items else "\x00"
            kwargs = {"content": json.dumps({name: value}), "headers": {"Content-Type": "application/json"}}
        expected = (
            [text.source, text.name.removesuffix("[]"), 0] if text.name.endswith("[]") else [text.source, text.name]
        )
        response = await desk.admin.request(text.method, url, **kwargs)
        fields = response.json().get("fields") or []
        if response.status_code != 422 or not any(
            f["loc"] == [str(part) for part in expected] and f["type"] == "text_control_character" for f in fields
        ):
            wrong.append(f"{text}: {response.status_code} {response.text[:300]}")
    assert wrong == []


@sqlite_only
@pytest.mark.parametrize(
    "bad", ["\x01", "\x1b[31m", "\x7f", "\x85", "\x0b", "\x0c"], ids=["SOH", "ESC", "DEL", "NEL", "VT", "FF"]
)
async def test_control_characters_are_refused_in_multi_line_text(desk: Desk, ids: dict[str, int], bad: str) -> None:
    response = await desk.agent.post(f"/tickets/{ids['ticket']}/notes", json={"text": f"a{bad}b"})
    assert response.status_code == 422
    assert response.json()["fields"][0]["type"] == "text_control_character"


@sqlite_only
@pytest.mark.parametrize("bad", ["\n", "\r", "\r\n"], ids=["LF", "CR", "CRLF"])
async def test_a_line_break_is_refused_in_a_one_line_field(desk: Desk, bad: str) -> None:
    before = await _fingerprint(desk)
    response = await desk.admin.post("/admin/mailboxes", json={**MAILBOX, "from_name": f"Support{bad}Bcc: x@evil"})
    assert response.status_code == 422
    assert response.json()["fields"][0] == {
        "loc": ["body", "from_name"], "msg": "must be a single line: a line break at position 7",
        "type": "text_line_break",
    }  # fmt: skip
    assert await _fingerprint(desk) == before


@sqlite_only
async def test_ordinary_text_passes_the_rule(desk: Desk, ids: dict[str, int]) -> None:
    text = "Hello\tAna,\r\nthe payout 💸 left today.\n\nÄ ß € \u200b \ufffd — Ana"
    note = await desk.agent.post(f"/tickets/{ids['ticket']}/notes", json={"text": text})
    assert note.status_code == 201, note.text
    assert note.json()["note"] == text
    search = await desk.agent.get("/tickets", params={"q": "payout 💸\tÄ"})
    assert search.status_code == 200, search.text


@sqlite_only
async def test_a_refused_password_is_not_echoed(desk: Desk) -> None:
    secret = "hunter2-\x00-secret"
    response = await desk.admin.post("/admin/mailboxes", json={**MAILBOX, "imap_password": secret})
    assert response.status_code == 422
    assert "hunter2" not in response.text


@sqlite_only
@pytest.mark.parametrize("raw", [b"\xff", b"\xed\xa0\x80", b"\xc0\x80"], ids=["FF", "surrogate", "overlong NUL"])
async def test_a_json_body_that_is_not_utf8_is_a_422(desk: Desk, ids: dict[str, int], raw: bytes) -> None:
    before = await _fingerprint(desk)
    response = await desk.agent.post(f"/tickets/{ids['ticket']}/notes", content=b'{"text": "a' + raw + b'"}',
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 422
    assert response.json()["fields"][0]["type"] in TEXT_ERROR_TYPES | {"text_encoding"}
    assert await _fingerprint(desk) == before


@sqlite_only
async def test_a_request_target_that_is_not_utf8_is_a_422_naming_where(desk: Desk) -> None:
    long_name = "n" * 5000
    answers = {
        "/tickets?q=ok&customer=%C3%28": ["query", "customer"],
        "/tickets?%FF=1": ["query"],
        f"/tickets?{long_name}=%FF": ["query", "n" * 63 + "…"],
        "/queues/%C0%AF/claim": ["path"],
    }
    for url, loc in answers.items():
        response = await desk.agent.get(url) if "claim" not in url else await desk.agent.post(url)
        assert response.status_code == 422, url
        assert response.json()["fields"] == [{"loc": loc, "msg": "not valid UTF-8", "type": "text_encoding"}]
        assert len(response.content) < 500


@sqlite_only
async def test_uvicorn_refuses_nul_and_undecodable_targets_with_a_422(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    """A real server decodes the target itself (with replacement characters where it is not UTF-8):
    the refusal must come all the same."""
    async with unit_of_work(runtime.sessionmaker) as session:
        _user, token = await users.create_user(session, name="ana", email="ana@routedesk.example", role="agent")
    with serving(settings, tmp_path / "serve.log") as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1",
                                     headers={"Authorization": f"Bearer {token}"}) as client:  # fmt: skip
            answers = {
                "nul in query": (await client.get("/tickets?q=%00"), ["query", "q"]),
                "surrogate in query": (await client.get("/tickets?q=%ED%A0%80"), ["query", "q"]),
                "nul in path": (await client.post("/queues/%00/claim"), ["path", "area"]),
                "surrogate in path": (await client.post("/queues/%ED%A0%80/claim"), ["path"]),
            }
    wrong = {
        name: (r.status_code, r.text[:200])
        for name, (r, loc) in answers.items()
        if r.status_code != 422 or r.json()["fields"][0]["loc"] != loc
    }
    assert wrong == {}
