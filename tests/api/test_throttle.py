"""Failed authentication is throttled per client address (app/http.py, app/auth.py): after the limit of
invalid tokens in the window, further invalid tokens from that address get 429 with Retry-After, while
a valid token from the same address still works and other addresses are unaffected. The clock is
injected: the window passes by moving it, never by waiting."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.db import unit_of_work
from app.http import FailedAuthThrottle, client_address
from app.runtime import Runtime
from app.users import service as users
from tests.api.desk import Desk, sqlite_only
from tests.api.server import serving

BAD = "rdt_" + "B" * 43


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(desk: Desk) -> Clock:
    """The desk's throttle as the settings make it (20 failures a minute), on a clock the test moves."""
    clock = Clock()
    throttle = FailedAuthThrottle.from_settings(desk.settings.http)
    throttle.clock = clock
    desk.app.state.auth_throttle = throttle
    return clock


def _from(desk: Desk, address: str, token: str | None = BAD) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app, client=(address, 40000)),
                               base_url="http://test/api/v1", headers=headers)  # fmt: skip
    desk._clients.append(client)
    return client


async def _statuses(client: httpx.AsyncClient, n: int, headers: dict[str, str] | None = None) -> list[int]:
    return [(await client.get("/queues", headers=headers)).status_code for _ in range(n)]


async def test_a_burst_of_invalid_tokens_is_429_after_the_limit(desk: Desk, clock: Clock) -> None:
    attacker = _from(desk, "198.51.100.7")
    assert await _statuses(attacker, 20) == [401] * 20
    throttled = await attacker.get("/queues")
    assert throttled.status_code == 429
    assert throttled.json() == {
        "error": "TooManyRequests", "detail": "too many invalid tokens from this address; retry after 60 s",
    }  # fmt: skip
    assert throttled.headers["retry-after"] == "60"
    assert await _statuses(attacker, 50) == [429] * 50


@sqlite_only
async def test_a_valid_token_from_a_throttled_address_still_works(desk: Desk, clock: Clock) -> None:
    address = "198.51.100.7"
    assert await _statuses(_from(desk, address), 25) == [401] * 20 + [429] * 5
    _name, token = await desk.new_user("agent", "bea")
    valid = _from(desk, address, token)
    assert await _statuses(valid, 30) == [200] * 30
    assert (await valid.post("/queues/triage/claim")).status_code == 404  # a handler's answer, not a refusal
    assert (await _from(desk, address).get("/queues")).status_code == 429


@sqlite_only
async def test_another_address_is_not_throttled(desk: Desk, clock: Clock) -> None:
    assert await _statuses(_from(desk, "198.51.100.7"), 21) == [401] * 20 + [429]
    assert await _statuses(_from(desk, "198.51.100.8"), 20) == [401] * 20
    assert await _statuses(_from(desk, "2001:db8:1::1"), 20) == [401] * 20


@sqlite_only
async def test_the_throttle_lifts_once_the_window_has_passed(desk: Desk, clock: Clock) -> None:
    attacker = _from(desk, "198.51.100.7")
    for _ in range(20):  # one failure a second
        assert (await attacker.get("/queues")).status_code == 401
        clock.now += 1
    throttled = await attacker.get("/queues")  # at +20 s; the failure at +1 s leaves the window at +61 s
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "41")
    clock.now += 40
    assert (await attacker.get("/queues")).status_code == 429  # counted too: one ignoring 429s stays throttled
    clock.now += 60
    assert await _statuses(attacker, 20) == [401] * 20
    assert (await attacker.get("/queues")).status_code == 429


@sqlite_only
async def test_requests_without_a_token_are_not_counted(desk: Desk, clock: Clock) -> None:
    anonymous = _from(desk, "198.51.100.7", token=None)
    assert await _statuses(anonymous, 30) == [401] * 30
    assert await _statuses(_from(desk, "198.51.100.7"), 20) == [401] * 20


@sqlite_only
async def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(desk: Desk, clock: Clock) -> None:
    proxied = desk.settings.http.model_copy(update={"trusted_proxies": [ipaddress.ip_network("10.0.0.0/24")]})
    desk.app.state.settings = desk.settings.model_copy(update={"http": proxied})
    proxy = _from(desk, "10.0.0.2")
    first = {"X-Forwarded-For": "203.0.113.5"}
    assert await _statuses(proxy, 21, headers=first) == [401] * 20 + [429]
    assert await _statuses(proxy, 20, headers={"X-Forwarded-For": "203.0.113.6"}) == [401] * 20
    # A client's own X-Forwarded-For, passed on by the proxy, does not make it someone else.
    spoofed = {"X-Forwarded-For": "192.0.2.99, 203.0.113.5, 10.0.0.3"}
    assert (await proxy.get("/queues", headers=spoofed)).status_code == 429
    # From a peer that is no proxy of ours the header is ignored: rotating it escapes nothing.
    direct = _from(desk, "198.51.100.7")
    codes = [(await direct.get("/queues", headers={"X-Forwarded-For": f"192.0.2.{i}"})).status_code for i in range(21)]
    assert codes == [401] * 20 + [429]


def test_client_address_walks_forwarded_hops_from_the_right() -> None:
    trusted = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]
    assert client_address("10.1.1.1", ["192.0.2.1, 203.0.113.5", "10.2.2.2"], trusted) == "203.0.113.5"
    assert client_address("10.1.1.1", [], trusted) == "10.1.1.1"
    assert client_address("10.1.1.1", ["10.3.3.3"], trusted) == "10.3.3.3"  # only proxies: the first of them
    assert client_address("::1", ["2001:db8::5"], trusted) == "2001:db8::5"
    assert client_address("198.51.100.7", ["203.0.113.5"], trusted) == "198.51.100.7"
    assert client_address("10.1.1.1", ["203.0.113.5"], []) == "10.1.1.1"
    assert client_address(None, [], trusted) == "unknown"


def test_the_throttle_remembers_a_bounded_number_of_addresses() -> None:
    clock = Clock()
    throttle = FailedAuthThrottle(limit=3, window=60, max_addresses=100, clock=clock)
    for i in range(10_000):
        throttle.failed(f"198.51.{i // 256}.{i % 256}")
    assert len(throttle) == 100
    for _ in range(1000):
        throttle.failed("203.0.113.5")
    assert len(throttle) == 100
    assert max(len(entry.times) for entry in throttle._addresses.values()) == 3


def test_one_ipv6_slash_64_counts_as_one_address() -> None:
    throttle = FailedAuthThrottle(limit=3, window=60, clock=Clock())
    waits = [throttle.failed(f"2001:db8:0:1::{i:x}") for i in range(1, 5)]
    assert waits == [None, None, None, 60]
    assert throttle.failed("2001:db8:0:2::1") is None
    assert [throttle.failed("::ffff:198.51.100.7"), throttle.failed("198.51.100.7")] == [None, None]


@sqlite_only
async def test_uvicorn_counts_the_socket_peer_not_a_forwarded_for_header(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    """A real server: the client address is the socket peer (127.0.0.1), whatever X-Forwarded-For says,
    unless trusted_proxies names the peer. The window is an hour, so the burst is inside it."""
    async with unit_of_work(runtime.sessionmaker) as session:
        _user, token = await users.create_user(session, name="ana", email="ana@routedesk.example", role="agent")
    with serving(settings, tmp_path / "serve.log", ROUTEDESK_HTTP__AUTH_FAILURE_WINDOW_SECONDS="3600") as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1") as client:
            codes = [
                (await client.get("/queues", headers={"Authorization": f"Bearer {BAD}",
                                                      "X-Forwarded-For": f"192.0.2.{i}"})).status_code
                for i in range(21)
            ]  # fmt: skip
            throttled = await client.get("/queues", headers={"Authorization": f"Bearer {BAD}"})
            valid = await asyncio.gather(
                *(client.get("/queues", headers={"Authorization": f"Bearer {token}"}) for _ in range(5))
            )
    assert codes == [401] * 20 + [429]
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 3000
    assert [r.status_code for r in valid] == [200] * 5
