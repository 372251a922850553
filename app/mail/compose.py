"""Outbound mail: headers fixed at enqueue time so that a resend is the very same message.

Built by hand rather than with EmailMessage: its header registry costs ~5 ms a message, which made
acknowledgements the slowest step of ingestion. Every header value passes through _clean (no CR or
LF can reach the wire, so no header injection) and RFC 2047 encoding when it is not plain ASCII."""

from __future__ import annotations

import contextlib
import quopri
import re
from collections.abc import Sequence
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, make_msgid

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def new_message_id(from_address: str) -> str:
    domain = from_address.rpartition("@")[2] or "routedesk.invalid"
    return make_msgid(domain=domain)[1:-1]


def _clean(value: str) -> str:
    return " ".join(_CONTROL.sub(" ", value).split())


def _text_header(name: str, value: str) -> str:
    value = _clean(value)
    if value.isascii() and len(value) + len(name) < 900:
        return f"{name}: {value}"
    encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}"


def _address(name: str | None, address: str) -> str:
    address = _clean(address)
    local, _, domain = address.rpartition("@")
    if not address.isascii() and domain and not domain.isascii():
        with contextlib.suppress(UnicodeError):
            address = f"{local}@{domain.encode('idna').decode('ascii')}"
    if address.isascii():
        return formataddr((_clean(name or ""), address), charset="utf-8")
    # A non-ASCII local part can only travel as RFC 6532 UTF-8; the display name is still encoded.
    shown = formataddr((_clean(name or ""), "x@x"), charset="utf-8").rpartition("<")[0]
    return f"{shown}<{address}>" if shown else address


def _body(text: str) -> tuple[str, bytes]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if text.isascii() and all(len(line) <= 900 for line in lines):
        return "7bit", "\r\n".join(lines).encode("ascii")
    encoded = quopri.encodestring("\n".join(lines).encode("utf-8"))
    return "quoted-printable", encoded.replace(b"\n", b"\r\n")


def compose(
    *,
    from_address: str,
    from_name: str | None,
    to: Sequence[str],
    cc: Sequence[str] = (),
    subject: str,
    body: str,
    message_id: str,
    in_reply_to: str | None,
    references: Sequence[str],
    date: datetime,
    automatic: bool,
) -> bytes:
    headers = [
        f"From: {_address(from_name, from_address)}",
        f"To: {', '.join(_address(None, a) for a in to)}",
    ]
    if cc:
        headers.append(f"Cc: {', '.join(_address(None, a) for a in cc)}")
    headers += [
        _text_header("Subject", subject),
        f"Date: {format_datetime(date)}",
        f"Message-ID: <{_clean(message_id)}>",
    ]
    if in_reply_to:
        headers.append(f"In-Reply-To: <{_clean(in_reply_to)}>")
    if references:
        # RFC 5322 3.6.4: the parent's References followed by the parent; keep the header bounded.
        refs = list(dict.fromkeys(_clean(r) for r in references))
        if len(refs) > 20:
            refs = [refs[0], *refs[-19:]]
        headers.append("References: " + "\r\n ".join(f"<{r}>" for r in refs))
    if automatic:
        # RFC 3834: tell auto-responders not to answer, and Exchange not to send OOF replies.
        headers += ["Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All"]
    encoding, payload = _body(body)
    headers += [
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Transfer-Encoding: {encoding}",
    ]
    return "\r\n".join(headers).encode("utf-8") + b"\r\n\r\n" + payload + b"\r\n"
