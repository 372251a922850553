"""What the API does to every request before a handler sees it, and to every answer it sends:

- the request target must be UTF-8 once percent-decoded (else 422: servers would decode it with
  replacement characters, and search for text nobody typed);
- a request body over its route class's limit is refused with 413, on its Content-Length before a byte
  is read, or as soon as a streamed body passes the limit;
- a JSON body with too many entries or too deep a nesting is refused with 422 before validation;
- every answer carries hardening headers, and every /api answer `Cache-Control: no-store`.

Plus the client address (socket peer, or X-Forwarded-For from a trusted proxy) and the throttle of failed
authentication that app/auth.py applies.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any
from urllib.parse import unquote_to_bytes

import structlog
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import HttpSettings
from app.metrics import RequestMetrics
from app.validation import MAX_LOC_PART, clip

log = structlog.get_logger()

_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
# JSON needs no resources at all. The HTML docs pages send their own policy, which names the assets
# they load from this origin (app/docs.py); any other HTML gets none.
_CSP_JSON = b"default-src 'none'; frame-ancestors 'none'"
_CSP_HTML = _CSP_JSON


# How every entry point (serve, run, demo) runs uvicorn. Its proxy_headers would rewrite the client
# address from X-Forwarded-For for peers it trusts (127.0.0.1 by default), so any local client could
# pick the address the throttle counts: the client address is the socket peer, and
# settings.http.trusted_proxies alone says whose X-Forwarded-For is believed.
UVICORN_OPTIONS: dict[str, Any] = {"log_config": None, "access_log": False, "proxy_headers": False}


class HttpGuard:
    """Pure ASGI, outside every other layer of the app (see GuardedFastAPI), so that its headers are on
    every answer, the server-error handler's 500 included."""

    def __init__(self, app: ASGIApp, *, settings: Callable[[], HttpSettings]) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _hardened(send, no_store=scope["path"].startswith("/api/"))
        undecodable = _undecodable_target(scope)
        if undecodable is not None:
            where = ".".join(undecodable)
            await _refuse(send, 422, "ValidationError", f"{where}: not valid UTF-8", loc=undecodable)
            return
        settings = self.settings()
        limit = settings.max_body_for(scope["path"])
        headers = dict(_header_pairs(scope))
        declared = _content_length(headers.get(b"content-length"))
        if declared is not None and declared > limit:
            await _too_large(send, limit)
            return
        if not declared and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        # Read the body here, counting: every route takes a small JSON body, and the limit bounds what
        # is held. The app then receives it as one message.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if _is_json(headers.get(b"content-type")) and body:
            problem = json_shape_problem(body, max_entries=settings.max_json_entries, max_depth=settings.max_json_depth)
            if problem is not None:
                reason, kind = problem
                await _refuse(send, 422, "ValidationError", f"body: {reason}", loc=["body"], kind=kind)
                return
        await self.app(scope, _replay(body, receive), send)


class GuardedFastAPI(FastAPI):
    """FastAPI with HttpGuard around its whole middleware stack, the server-error middleware included,
    and the request metrics around that (so that HttpGuard's refusals are counted)."""

    def build_middleware_stack(self) -> ASGIApp:
        guarded = HttpGuard(super().build_middleware_stack(), settings=self.http_settings)
        return RequestMetrics(guarded, lambda: getattr(self.state, "http_metrics", None))  # set by the lifespan

    def http_settings(self) -> HttpSettings:
        settings = getattr(self.state, "settings", None)  # set by the lifespan
        return settings.http if settings is not None else _DEFAULT_SETTINGS


_DEFAULT_SETTINGS = HttpSettings()


def _hardened(send: Send, *, no_store: bool) -> Send:
    async def send_hardened(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {name.lower() for name, _value in headers}
            html = any(n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers)
            extra = [*_HEADERS, (b"content-security-policy", _CSP_HTML if html else _CSP_JSON)]
            if no_store:
                extra.append((b"cache-control", b"no-store"))
            headers.extend((name, value) for name, value in extra if name not in present)
            message = {**message, "headers": headers}
        await send(message)

    return send_hardened


def _header_pairs(scope: Scope) -> list[tuple[bytes, bytes]]:
    return [(name.lower(), value) for name, value in scope.get("headers", ())]


def _content_length(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None  # the server's parser refuses these; counting the body still applies


def _is_json(content_type: bytes | None) -> bool:
    # What FastAPI parses as JSON: application/json or application/*+json. A body without a Content-Type
    # it leaves unparsed (strict_content_type, its default, which this app keeps).
    if content_type is None:
        return False
    maintype, _, subtype = content_type.split(b";", 1)[0].strip().lower().partition(b"/")
    return maintype == b"application" and (subtype == b"json" or subtype.endswith(b"+json"))


def _undecodable_target(scope: Scope) -> list[str] | None:
    """Where the request target is not UTF-8 once percent-decoded: ["path"], ["query"] or
    ["query", name]; None when it all decodes."""
    raw_path = scope.get("raw_path")
    if raw_path is not None and not _decodes(raw_path):
        return ["path"]
    for part in scope.get("query_string", b"").split(b"&"):
        name, _, value = part.partition(b"=")
        if not _decodes(name):
            return ["query"]
        if not _decodes(value):
            return ["query", clip(unquote_to_bytes(name.replace(b"+", b" ")).decode(), MAX_LOC_PART)]
    return None


def _decodes(raw: bytes) -> bool:
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def json_shape_problem(body: bytes, *, max_entries: int, max_depth: int) -> tuple[str, str] | None:
    """Why a JSON body may not reach validation, as (message, error type), or None. It is parsed as
    FastAPI parses it; a body that is not JSON at all is left to FastAPI, which refuses it."""
    try:
        value = json.loads(body)
    except UnicodeDecodeError:
        return "not valid UTF-8", "text_encoding"
    except RecursionError:
        return f"JSON nested deeper than {max_depth} levels", "json_too_large"
    except ValueError:
        return None
    if not isinstance(value, dict | list):
        return None
    entries = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > max_depth:
            return f"JSON nested deeper than {max_depth} levels", "json_too_large"
        entries += len(children)
        if entries > max_entries:
            return f"more than {max_entries} JSON entries (object keys and array items)", "json_too_large"
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body, the server's own messages (http.disconnect)

    return replay


async def _too_large(send: Send, limit: int) -> None:
    # The connection is closed after the answer: the rest of the body is not worth reading.
    await _refuse(
        send, 413, "PayloadTooLarge", f"the request body is over this route's limit of {limit} bytes",
        headers=[(b"connection", b"close")],
    )  # fmt: skip


async def _refuse(
    send: Send,
    status: int,
    error: str,
    detail: str,
    *,
    loc: list[str] | None = None,
    kind: str = "text_encoding",
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    body: dict[str, Any] = {"error": error, "detail": detail}
    if loc is not None:
        body["fields"] = [{"loc": loc, "msg": detail.partition(": ")[2] or detail, "type": kind}]
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


Network = IPv4Network | IPv6Network


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted_proxies: Sequence[Network]) -> str:
    """The client a request comes from: the socket peer, unless the peer is a trusted proxy; then the
    right-most X-Forwarded-For hop that is not a trusted proxy (hops further left were written by
    whoever connected to the proxies, so they prove nothing)."""
    if peer is None:
        return "unknown"
    if not trusted_proxies or not _trusted(peer, trusted_proxies):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        client = hop
        if not _trusted(hop, trusted_proxies):
            break
    return client


def is_https(scheme: str, peer: str | None, forwarded_proto: str | None, trusted_proxies: Sequence[Network]) -> bool:
    """Whether the client's connection is HTTPS: the request's own scheme, or, from a trusted proxy
    (which terminates TLS), its X-Forwarded-Proto."""
    if scheme == "https":
        return True
    if peer is None or forwarded_proto is None or not _trusted(peer, trusted_proxies):
        return False
    return forwarded_proto.split(",")[0].strip().lower() == "https"


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _throttle_key(address: str) -> str:
    # One IPv6 host usually holds a whole /64: counting its addresses apart would let it rotate freely.
    try:
        ip = ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass
class _Failures:
    times: deque[float]
    throttled: bool = False


@dataclass
class FailedAuthThrottle:
    """Failed authentications per client address in a sliding window, held in this process (with
    `serve --workers N`, each worker counts on its own). After `limit` failures within `window`
    seconds, further failures are answered 429 and still counted, so a client that ignores Retry-After
    stays throttled. Memory is bounded: at most `max_addresses`, each with at most `limit` times."""

    limit: int
    window: float
    max_addresses: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _addresses: OrderedDict[str, _Failures] = field(default_factory=OrderedDict, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: HttpSettings) -> FailedAuthThrottle:
        return cls(
            limit=settings.auth_failures_per_window,
            window=settings.auth_failure_window_seconds,
            max_addresses=settings.auth_tracked_addresses,
        )

    def failed(self, address: str) -> int | None:
        """Count a failed authentication from `address`; the seconds it should wait (for Retry-After)
        when it is over the limit, else None."""
        now = self.clock()
        key = _throttle_key(address)
        entry = self._addresses.get(key)
        if entry is None:
            entry = self._addresses[key] = _Failures(deque(maxlen=self.limit))
            while len(self._addresses) > self.max_addresses:
                self._addresses.popitem(last=False)
        else:
            self._addresses.move_to_end(key)
        times = entry.times
        while times and times[0] <= now - self.window:
            times.popleft()
        over = len(times) >= self.limit
        times.append(now)
        if not over:
            entry.throttled = False
            return None
        if not entry.throttled:
            entry.throttled = True
            log.warning("authentication_throttled", client=key, failures=self.limit, window_seconds=self.window)
        return max(1, math.ceil(times[0] + self.window - now))

    def __len__(self) -> int:
        return len(self._addresses)
