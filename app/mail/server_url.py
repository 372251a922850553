"""What IMAP and SMTP URLs share: a plain or implicit-TLS scheme, a host, a port and `?tls=starttls|none`.

A URL that asks for no TLS gets none, and one that asks for STARTTLS fails when the server does not offer
it, rather than silently sending the password in the clear. Errors never quote the password."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import SplitResult, parse_qsl, urlsplit

Security = Literal["tls", "starttls", "none"]


@dataclass(frozen=True, slots=True)
class ServerUrl:
    parts: SplitResult
    host: str
    port: int
    security: Security


def split_server_url(
    url: str,
    *,
    protocol: str,
    ports: dict[str, int],
    check_parts: Callable[[SplitResult], None],
) -> ServerUrl:
    """`ports` maps the plain scheme and then the implicit-TLS one (`{"imap": 143, "imaps": 993}`) to
    their default ports; `check_parts` refuses what the protocol's URL must not have (a path, a fragment),
    right after the scheme is known."""
    plain, tls = ports
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise ValueError(f"not a valid {protocol} URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ports:
        raise ValueError(f"{protocol} URL scheme must be {plain}:// or {tls}://, not {scheme or 'none'!r}")
    check_parts(parts)
    try:
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise ValueError(f"{protocol} URL has an invalid port") from None
    if not host:
        raise ValueError(f"{protocol} URL has no host")
    if port is None:
        if parts.netloc.rpartition("@")[2].endswith(":"):
            raise ValueError(f"{protocol} URL has an empty port")
        port = ports[scheme]
    if not 0 < port < 65536:
        raise ValueError(f"{protocol} URL has an invalid port")
    security: Security = "tls" if scheme == tls else "none"
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "tls":
            raise ValueError(f"unknown {protocol} URL parameter {key!r} (only tls=starttls|none)")
        if scheme == tls:
            raise ValueError(f"{tls}:// is implicit TLS; use {plain}://...?tls=starttls for STARTTLS")
        if value not in ("starttls", "none"):
            raise ValueError(f"{protocol} URL parameter tls must be 'starttls' or 'none'")
        security = "starttls" if value == "starttls" else "none"
    return ServerUrl(parts=parts, host=host, port=port, security=security)
