from __future__ import annotations

import hashlib
import re

import httpx
from sqlalchemy import select

from app.http import FailedAuthThrottle
from app.main import create_app
from app.users.models import User
from tests.api.desk import Desk, sqlite_only
from tests.cli import routedesk
from tests.mailgen import mail

# Every operation of the API, from the app's own OpenAPI schema (building the app builds no runtime).
OPERATIONS = [
    (method.upper(), path.removeprefix("/api/v1"))
    for path, operations in create_app().openapi()["paths"].items()
    for method in operations
]
ADMIN_OPERATIONS = [(method, path) for method, path in OPERATIONS if path.startswith("/admin/")]


def _concrete(path: str) -> str:
    # Ids that name nothing: an unauthenticated caller must not even learn that.
    return re.sub(r"\{[a-z_]+_id\}", "424242", re.sub(r"\{(area|name|version)\}", "nothing-here", path))


async def _refusals(client: httpx.AsyncClient, operations: list[tuple[str, str]], expected: int) -> list[str]:
    wrong = []
    for method, path in operations:
        response = await client.request(method, _concrete(path))
        body = response.json()
        if response.status_code != expected or set(body) < {"error", "detail"}:
            wrong.append(f"{method} {path}: {response.status_code} {body}")
    return wrong


def test_the_schema_lists_the_agent_and_admin_operations() -> None:
    assert ("POST", "/queues/{area}/claim") in OPERATIONS
    assert ("POST", "/admin/users") in ADMIN_OPERATIONS
    assert len(OPERATIONS) > 30


async def test_every_api_route_refuses_a_request_without_a_token(desk: Desk) -> None:
    assert await _refusals(desk.client(), OPERATIONS, 401) == []


async def test_every_api_route_refuses_an_unknown_token(desk: Desk) -> None:
    # More routes than the failed-authentication throttle allows per address: lift it for this test
    # (tests/api/test_throttle.py tests the throttle).
    desk.app.state.auth_throttle = FailedAuthThrottle(limit=len(OPERATIONS) + 1, window=60)
    forged = desk.client("rdt_" + "A" * 43)
    assert await _refusals(forged, OPERATIONS, 401) == []


async def test_unauthenticated_caller_cannot_probe_which_tickets_exist(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail())
    anonymous = desk.client()
    existing = await anonymous.post(f"/tickets/{ticket_id}/notes", json={"text": "hi"})
    missing = await anonymous.post(f"/tickets/{ticket_id + 1000}/notes", json={"text": "hi"})
    assert (existing.status_code, missing.status_code) == (401, 401)


@sqlite_only
async def test_refusal_names_the_bearer_scheme(desk: Desk) -> None:
    response = await desk.client().get("/queues")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "Unauthorized"


@sqlite_only
async def test_basic_credentials_are_not_a_bearer_token(desk: Desk) -> None:
    client = desk.client()
    response = await client.get("/queues", headers={"Authorization": "Basic cm9vdDpyb290"})
    assert response.status_code == 401


async def test_admin_routes_refuse_an_agent_with_403(desk: Desk) -> None:
    assert await _refusals(desk.agent, ADMIN_OPERATIONS, 403) == []


async def test_agent_token_identifies_the_agent(desk: Desk) -> None:
    response = await desk.agent.get("/me")
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["role"]) == ("ana", "agent")


async def test_token_is_returned_once_and_only_its_hash_is_stored(desk: Desk) -> None:
    created = await desk.admin.post("/admin/users", json={"name": "bo", "email": "bo@routedesk.example"})
    token = created.json()["token"]
    listing = await desk.admin.get("/admin/users")
    stored = await desk.scalar(select(User.token_hash).where(User.name == "bo"))
    assert token.startswith("rdt_") and len(token) > 40
    assert token not in listing.text and "token" not in listing.json()[0]
    assert stored == hashlib.sha256(token.encode()).hexdigest()


async def test_revoked_token_is_refused(desk: Desk) -> None:
    _name, token = await desk.new_user("agent", "carl")
    client = desk.client(token)
    assert (await client.get("/queues")).status_code == 200
    revoked = await desk.admin.post("/admin/users/carl/revoke")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert (await client.get("/queues")).status_code == 401


async def test_rotating_a_token_retires_the_old_one(desk: Desk) -> None:
    _name, old = await desk.new_user("agent", "dana")
    rotated = await desk.admin.post("/admin/users/dana/token")
    new = rotated.json()["token"]
    assert (await desk.client(old).get("/me")).status_code == 401
    assert (await desk.client(new).get("/me")).status_code == 200


async def test_cli_token_is_accepted_until_the_cli_revokes_it(desk: Desk) -> None:
    added = await routedesk(desk.settings, "users", "add", "eve", "--email", "eve@routedesk.example", "--role", "admin")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    client = desk.client(token)
    me = await client.get("/me")
    assert (me.status_code, me.json()["role"]) == (200, "admin")
    assert (await client.get("/admin/users")).status_code == 200
    revoked = await routedesk(desk.settings, "users", "revoke", "eve")
    assert revoked.returncode == 0, revoked.stderr
    assert (await client.get("/me")).status_code == 401
