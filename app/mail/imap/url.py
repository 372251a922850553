"""Where a mailbox is: an IMAP URL and the endpoint it names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit

__all__ = ["ImapEndpoint", "Security", "parse_imap_url"]

Security = Literal["tls", "starttls", "none"]

_DEFAULT_PORTS = {"imap": 143, "imaps": 993}


@dataclass(frozen=True)
class ImapEndpoint:
    host: str
    port: int
    security: Security
    username: str
    password: str = field(repr=False)
    folder: str = "INBOX"

    def to_url(self, *, with_password: bool = True) -> str:
        scheme = "imaps" if self.security == "tls" else "imap"
        password = quote(self.password, safe="") if with_password else "***"
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = "?tls=starttls" if self.security == "starttls" else ""
        return (
            f"{scheme}://{quote(self.username, safe='')}:{password}@{host}:{self.port}"
            f"/{quote(self.folder, safe='/')}{query}"
        )

    def __str__(self) -> str:
        return self.to_url(with_password=False)


def parse_imap_url(url: str) -> ImapEndpoint:
    """imap://USER:PASS@HOST[:PORT]/FOLDER, plain unless `?tls=starttls`; imaps:// is implicit TLS.

    Plain imap:// never upgrades on its own: a URL that asks for no TLS gets none, and one that asks
    for STARTTLS fails when the server does not offer it, rather than silently sending the password
    in the clear. User, password and folder are percent-decoded. Errors never quote the password.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise ValueError("not a valid IMAP URL") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"IMAP URL scheme must be imap:// or imaps://, not {scheme or 'none'!r}")
    if parts.fragment:
        raise ValueError("IMAP URL must not have a #fragment")
    try:
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise ValueError("IMAP URL has an invalid port") from None
    if not host:
        raise ValueError("IMAP URL has no host")
    if port is None:
        if parts.netloc.rpartition("@")[2].endswith(":"):
            raise ValueError("IMAP URL has an empty port")
        port = _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise ValueError("IMAP URL has an invalid port")
    if not parts.username:
        raise ValueError("IMAP URL has no user (imap://USER:PASSWORD@HOST/FOLDER)")

    security: Security = "tls" if scheme == "imaps" else "none"
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "tls":
            raise ValueError(f"unknown IMAP URL parameter {key!r} (only tls=starttls|none)")
        if scheme == "imaps":
            raise ValueError("imaps:// is implicit TLS; use imap://...?tls=starttls for STARTTLS")
        if value not in ("starttls", "none"):
            raise ValueError("IMAP URL parameter tls must be 'starttls' or 'none'")
        security = "starttls" if value == "starttls" else "none"

    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return ImapEndpoint(
        host=host,
        port=port,
        security=security,
        username=unquote(parts.username),
        password=unquote(parts.password or ""),
        folder=folder,
    )
