"""Where a mailbox is: an IMAP URL and the endpoint it names."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import SplitResult, quote, unquote

from app.mail.server_url import Security, split_server_url

__all__ = ["ImapEndpoint", "Security", "parse_imap_url"]

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

    Plain imap:// never upgrades on its own (app/mail/server_url.py). User, password and folder are
    percent-decoded. Errors never quote the password.
    """
    split = split_server_url(url, protocol="IMAP", ports=_DEFAULT_PORTS, check_parts=_no_fragment)
    parts = split.parts
    if not parts.username:
        raise ValueError("IMAP URL has no user (imap://USER:PASSWORD@HOST/FOLDER)")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return ImapEndpoint(
        host=split.host,
        port=split.port,
        security=split.security,
        username=unquote(parts.username),
        password=unquote(parts.password or ""),
        folder=folder,
    )


def _no_fragment(parts: SplitResult) -> None:
    if parts.fragment:
        raise ValueError("IMAP URL must not have a #fragment")
