"""Outbound mail: headers fixed at enqueue time so that a resend is the very same message.

Built by hand rather than with EmailMessage: its header registry costs ~5 ms a message, which made
acknowledgements the slowest step of ingestion. Every header value passes through _clean (no CR or
LF can reach the wire, so no header injection) and RFC 2047 encoding when it is not plain ASCII."""

from __future__ import annotations

import base64
import contextlib
import quopri
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.utils import encode_rfc2231, format_datetime, formataddr, make_msgid

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class OutgoingFile:
    """A file attached to an outbound message: a name without path, a `type/subtype`, the bytes."""

    filename: str
    content_type: str
    content: bytes = field(repr=False)


# RFC 2045 token characters: what a media type's type and subtype may hold.
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")
_QUOTED_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f]')


def media_type(value: str | None) -> str:
    """`type/subtype` of a Content-Type value, lower-cased; application/octet-stream when it is none."""
    base = (value or "").split(";", 1)[0].strip().lower()
    return base if _MEDIA_TYPE.match(base) and len(base) <= 255 else "application/octet-stream"


_RESERVED = re.compile(r'[<>:"|?*]')
_FILENAME_LENGTH = 255
# Control, format (bidirectional overrides such as U+202E, which make "exe.pdf" of "fdp.exe"),
# surrogates and line or paragraph separators: none belongs in a file's name.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def clean_filename(name: str | None) -> str | None:
    """A file name that is safe to store, show and save: its last path component, without control or
    format characters, without leading dots, without the characters Windows reserves; at most 255
    characters, its extension kept. None when nothing is left."""
    if not name:
        return None
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(" " if unicodedata.category(ch) in _UNPRINTABLE else ch for ch in name)
    name = _RESERVED.sub("_", " ".join(name.split())).lstrip(". ").rstrip(". ")
    if len(name) > _FILENAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        keep = _FILENAME_LENGTH - len(extension) - 1
        name = f"{stem[:keep]}.{extension}" if dot and 0 < len(extension) <= 16 else name[:_FILENAME_LENGTH]
    return name or None


def _file_params(filename: str) -> tuple[str, str]:
    """The `name` parameter of Content-Type and `filename` of Content-Disposition: quoted when ASCII,
    RFC 2231 encoded (UTF-8) when not."""
    name = _QUOTED_UNSAFE.sub("_", clean_filename(filename) or "attachment")
    if name.isascii() and len(name) < 200:
        quoted = f'"{name}"'
        return f"name={quoted}", f"filename={quoted}"
    encoded = encode_rfc2231(name, "utf-8")
    return f"name*={encoded}", f"filename*={encoded}"


def _file_part(file: OutgoingFile) -> bytes:
    name, filename = _file_params(file.filename)
    encoded = base64.encodebytes(file.content).replace(b"\n", b"\r\n")
    head = (
        f"Content-Type: {media_type(file.content_type)}; {name}\r\n"
        f"Content-Disposition: attachment; {filename}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return head.encode("ascii") + encoded


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
    files: Sequence[OutgoingFile] = (),
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
    text_headers = ["Content-Type: text/plain; charset=utf-8", f"Content-Transfer-Encoding: {encoding}"]
    if not files:
        headers += ["MIME-Version: 1.0", *text_headers]
        return "\r\n".join(headers).encode("utf-8") + b"\r\n\r\n" + payload + b"\r\n"
    parts = [("\r\n".join(text_headers) + "\r\n\r\n").encode("ascii") + payload, *map(_file_part, files)]
    boundary = _boundary(parts)
    headers += ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{boundary}"']
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    return (
        "\r\n".join(headers).encode("utf-8")
        + b"\r\n\r\nThis is a multi-part message in MIME format."
        + delimiter
        + delimiter.join(parts)
        + f"\r\n--{boundary}--\r\n".encode("ascii")
    )


def _boundary(parts: Sequence[bytes]) -> str:
    # "=_" never occurs in base64 or quoted-printable; a plain-text body could hold anything, so check.
    while True:
        boundary = f"=_routedesk_{secrets.token_hex(12)}"
        if not any(boundary.encode("ascii") in part for part in parts):
            return boundary
