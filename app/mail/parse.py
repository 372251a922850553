"""Raw RFC 5322 bytes to a ParsedMessage: a pure function, no I/O.

The MIME structure is split here rather than by `email.parser`: even with policy.compat32 the stdlib
feed parser walks every line of every part in Python, which on realistic support mail (base64
attachments, long HTML) costs more than the whole rest of ingest. Here headers are read with one regex
per block, parts are cut out with bytes.find on their boundary, and payloads are decoded by binascii, so
the cost grows with the number of parts, not of lines (benchmarks/parse.py: about 1.4 times the rate
of a bare compat32 parse, which decodes nothing, and 5 times policy.default's). The behaviour on broken
input follows the stdlib parser and the RFCs where they are clear; tests/mail/test_corpora.py runs it
over public corpora of real and deliberately broken mail.
"""

from __future__ import annotations

import binascii
import codecs
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses, parsedate_tz
from functools import lru_cache
from urllib.parse import unquote_to_bytes

from app.mail.html import html_to_text, sanitize_html
from app.mail.quotes import strip_quoted

__all__ = [
    "MessageParseError",
    "ParsedAttachment",
    "ParsedMessage",
    "decode_header_words",
    "html_to_text",
    "normalize_subject",
    "parse_message",
    "strip_quoted",
]

DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
# Bounds on what hostile or runaway input can cost; past them the rest is kept as opaque attachments.
MAX_DEPTH = 20
MAX_PARTS = 500
MAX_DEFECTS = 50
# Sizes the standards allow. A longer value is invalid, and an identifier cut short could match
# another one (a Message-ID that deduplicates or threads a stranger's mail), so it is dropped with a
# defect noted. What a database column can hold is not decided here (this module knows no database):
# app.db.fit_row holds every stored value to its column's declared size.
MAX_ID_LENGTH = 998  # a Message-ID or Content-ID fills at most one RFC 5322 line
MAX_ADDRESS_LENGTH = 320  # local part 64 + "@" + domain 255 (RFC 5321)
MAX_TYPE_LENGTH = 255  # type and subtype names of at most 127 characters each (RFC 6838)
MAX_LIST_ID_LENGTH = 255  # RFC 2919
MAX_FILENAME_LENGTH = 255  # NAME_MAX of common file systems: a longer name cannot be saved as given
_TOO_DEEP = f"MIME structure deeper than {MAX_DEPTH} levels, the rest kept as one attachment"
_TOO_MANY = f"too many parts, only the first {MAX_PARTS} were read"


class MessageParseError(Exception):
    pass


@dataclass(slots=True)
class ParsedAttachment:
    filename: str | None
    content_type: str
    size: int
    content: bytes | None
    content_id: str | None
    inline: bool


@dataclass(slots=True)
class ParsedMessage:
    message_id: str | None
    in_reply_to: list[str]
    references: list[str]
    subject: str
    from_address: str | None
    from_name: str | None
    reply_to: str | None
    to: list[str]
    cc: list[str]
    date: datetime | None
    text: str
    html: str | None
    new_text: str
    attachments: list[ParsedAttachment]
    auto: str | None
    bounced_message_ids: list[str]
    defects: list[str]
    headers_text: str
    # Added fields have defaults so that code building a ParsedMessage by hand keeps working.
    content_type: str = "text/plain"  # of the message as a whole, e.g. "multipart/alternative"
    text_from_html: bool = False  # `text` was converted from the HTML part (there was no plain text)
    # The List-Id (RFC 2919), lowercased, without <>: a support address that is itself a group
    # (Google Groups and the like) adds list headers to every customer's mail, so whoever reads
    # auto == "bulk" may want to compare this with the mailbox's own group first.
    list_id: str | None = None


# ---------------------------------------------------------------------------------------------------
# entry point


def parse_message(
    raw: bytes | bytearray | memoryview, *, max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES
) -> ParsedMessage:
    if not isinstance(raw, bytes):
        if not isinstance(raw, bytearray | memoryview):
            raise TypeError(f"parse_message() takes bytes, not {type(raw).__name__}")
        raw = bytes(raw)
    if not raw.strip():
        raise MessageParseError("empty message")
    try:
        return _parse(raw, max_attachment_bytes)
    except RecursionError as exc:
        # Never expected (depth is bounded), but a message must never take the ingest loop down.
        return _fallback(raw, f"parser error: {type(exc).__name__}")
    except Exception as exc:  # same: degrade to the raw text, keep the message
        return _fallback(raw, f"parser error: {type(exc).__name__}: {exc}"[:200])


def _parse(raw: bytes, max_attachment_bytes: int) -> ParsedMessage:
    walk = _Walk(max_attachment_bytes)
    headers, body = _split_entity(raw, walk.defects)
    if not headers:
        walk.defect("no header block")
    first = _first_values(headers)
    top_type = _walk_entity(walk, first, body, 0, "text/plain")

    subject = _collapse(decode_header_words(first.get("subject", ""), walk.defects))
    from_name, from_address = _sender(first, walk.defects)
    reply_to_list = _address_list(first.get("reply-to"), walk.defects)
    to = [addr for _, addr in _address_list(first.get("to"), walk.defects)]
    cc = [addr for _, addr in _address_list(first.get("cc"), walk.defects)]

    text, text_from_html = _body_text(walk.plain, walk.html)
    if not text.strip() and (walk.nested_plain or walk.nested_html):
        # A message whose only content is an attached message (forward as attachment, some bounces):
        # the attached message's text is then the best thing to show and to route on.
        text, text_from_html = _body_text(walk.nested_plain, walk.nested_html)
    html = sanitize_html("\n".join(walk.html)) if walk.html else None

    auto = _classify(first, walk, subject, from_address)
    bounced: list[str] = []
    if auto == "bounce":
        bounced = _bounced_ids(first, walk, text)

    message = ParsedMessage(
        message_id=_first_id(first.get("message-id")),
        in_reply_to=_ids(first.get("in-reply-to")),
        references=_ids(first.get("references")),
        subject=subject,
        from_address=from_address,
        from_name=from_name,
        reply_to=reply_to_list[0][1] if reply_to_list else None,
        to=to,
        cc=cc,
        date=_date(first.get("date"), walk.defects),
        text=text,
        html=html,
        new_text=strip_quoted(text) if text else "",
        attachments=walk.attachments,
        auto=auto,
        bounced_message_ids=bounced,
        defects=walk.defects,
        headers_text=_headers_text(headers, walk.defects),
        content_type=top_type,
        text_from_html=text_from_html,
        list_id=(_first_id(first.get("list-id")) or "").lower() or None,
    )
    _finish(message)
    return message


def _fallback(raw: bytes, reason: str) -> ParsedMessage:
    text = _decode_bytes(raw, None, [], "message")
    message = ParsedMessage(
        message_id=None,
        in_reply_to=[],
        references=[],
        subject="",
        from_address=None,
        from_name=None,
        reply_to=None,
        to=[],
        cc=[],
        date=None,
        text=text,
        html=None,
        new_text=text,
        attachments=[],
        auto=None,
        bounced_message_ids=[],
        defects=[reason],
        headers_text="",
    )
    _finish(message)
    return message


# ---------------------------------------------------------------------------------------------------
# MIME structure


class _Walk:
    __slots__ = (
        "attachments",
        "bounce_ids",
        "defects",
        "delivery_status",
        "html",
        "max_bytes",
        "nested_html",
        "nested_plain",
        "parts",
        "plain",
        "report_types",
        "status_text",
    )

    def __init__(self, max_bytes: int, defects: list[str] | None = None) -> None:
        self.max_bytes = max_bytes
        self.defects: list[str] = [] if defects is None else defects
        self.plain: list[str] = []
        self.html: list[str] = []
        self.nested_plain: list[str] = []
        self.nested_html: list[str] = []
        self.attachments: list[ParsedAttachment] = []
        self.bounce_ids: list[str] = []
        self.report_types: list[str] = []
        self.delivery_status = False
        self.status_text: list[str] = []
        self.parts = 0

    def defect(self, note: str) -> None:
        if len(self.defects) < MAX_DEFECTS and note not in self.defects:
            self.defects.append(note)


# Header lines in one C-speed match: an optional mbox "From " line, then field lines and their
# continuations. Where the match stops is where the header block ends, blank line or not.
_HEADER_BLOCK = re.compile(
    rb"(?:From [^\n]*\n)?(?:[ \t][^\n]*(?:\n|\Z))*"
    rb"(?:[!-9;-~]+[ \t]*:[^\n]*(?:\n|\Z)(?:[ \t][^\n]*(?:\n|\Z))*)*"
)


def _split_entity(data: bytes, defects: list[str]) -> tuple[list[tuple[str, str, str]], bytes]:
    if data.startswith(b"\n"):
        return [], data[1:]
    if data.startswith(b"\r\n"):
        return [], data[2:]
    found = _HEADER_BLOCK.match(data)
    end = found.end() if found else 0
    rest = data[end:]
    if rest.startswith(b"\r\n"):
        body = rest[2:]
    elif rest.startswith(b"\n") or rest.startswith(b"\r"):
        body = rest[1:]
    else:
        body = rest
        if rest:
            _note(defects, "no blank line between headers and body")
    return _header_fields(data[:end], defects), body


def _header_fields(block: bytes, defects: list[str]) -> list[tuple[str, str, str]]:
    # -> (name as written, lowercased name, unfolded value)
    if not block:
        return []
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        _note(defects, "raw 8-bit bytes in headers that are not UTF-8, read as windows-1252")
        text = "\n".join(_decode_header_line(line) for line in block.split(b"\n"))
    if text.startswith("From ") and not text[5:].lstrip().startswith(":"):
        text = text.partition("\n")[2]  # the mbox envelope line
    if text[:1] in (" ", "\t"):
        _note(defects, "header block starts with a continuation line")
    # Every line break inside a matched value precedes white space, so unfolding is dropping them.
    return [
        (name, name.lower(), (value.replace("\r", "").replace("\n", "") if "\n" in value else value).strip())
        for name, value in _FIELD.findall(text)
    ]


_FIELD = re.compile(r"^([^\s:][^:\n]*?)[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)", re.M)


def _decode_header_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("cp1252", "replace")


def _first_values(headers: list[tuple[str, str, str]]) -> dict[str, str]:
    first: dict[str, str] = {}
    for _, lower, value in headers:
        if lower not in first:
            first[lower] = value
    return first


def _walk_entity(walk: _Walk, first: dict[str, str], body: bytes, depth: int, default_type: str) -> str:
    walk.parts += 1
    ctype, params = _content_type(first.get("content-type"), default_type, walk.defects)
    maintype, _, subtype = ctype.partition("/")
    if maintype == "multipart":
        boundary = params.get("boundary", "")
        if not boundary:
            walk.defect(f"{ctype} without boundary, read as text")
            _leaf(walk, first, body, "text/plain", params, depth)
            return ctype
        if depth >= MAX_DEPTH or walk.parts >= MAX_PARTS:
            walk.defect(_TOO_DEEP if depth >= MAX_DEPTH else _TOO_MANY)
            _attachment(walk, first, body, ctype, params)
            return ctype
        parts, closed = _split_multipart(body, boundary.encode("utf-8", "replace"))
        if parts is None:
            walk.defect(f"{ctype} boundary not found, read as text")
            _leaf(walk, first, body, "text/plain", params, depth)
            return ctype
        if not closed:
            walk.defect(f"{ctype} closing boundary missing")
        if subtype == "report":
            walk.report_types.append(params.get("report-type", "").lower())
        child_default = "message/rfc822" if subtype == "digest" else "text/plain"
        if subtype == "alternative":
            _alternatives(walk, parts, depth, child_default)
        else:
            for part in parts:
                if _too_many_parts(walk):
                    break
                child_headers, child_body = _split_entity(part, walk.defects)
                _walk_entity(walk, _first_values(child_headers), child_body, depth + 1, child_default)
        return ctype
    _leaf(walk, first, body, ctype, params, depth)
    return ctype


def _alternatives(walk: _Walk, parts: list[bytes], depth: int, child_default: str) -> None:
    # Each alternative is read into its own lists, then the first non-empty plain and the first HTML
    # are kept: plain is what the router and agents read, HTML is what the UI may show.
    outer_plain, outer_html = walk.plain, walk.html
    best_plain: list[str] | None = None
    best_html: list[str] | None = None
    try:
        for part in parts:
            if _too_many_parts(walk):
                break
            walk.plain, walk.html = [], []
            child_headers, child_body = _split_entity(part, walk.defects)
            _walk_entity(walk, _first_values(child_headers), child_body, depth + 1, child_default)
            if best_plain is None and any(piece.strip() for piece in walk.plain):
                best_plain = walk.plain
            if best_html is None and any(piece.strip() for piece in walk.html):
                best_html = walk.html
    finally:
        walk.plain, walk.html = outer_plain, outer_html
    if best_plain:
        outer_plain.extend(best_plain)
    if best_html:
        outer_html.extend(best_html)


def _too_many_parts(walk: _Walk) -> bool:
    if walk.parts < MAX_PARTS:
        return False
    walk.defect(_TOO_MANY)
    return True


def _split_multipart(body: bytes, boundary: bytes) -> tuple[list[bytes] | None, bool]:
    delimiter = b"--" + boundary
    size = len(delimiter)
    marks: list[tuple[int, int, bool]] = []  # (delimiter line start, content start, is closing)
    pos = 0
    while True:
        start = body.find(delimiter, pos)
        if start < 0:
            break
        pos = start + size
        if start and body[start - 1] != 0x0A:
            continue
        after = pos
        closing = body.startswith(b"--", after)
        if closing:
            after += 2
        line_end = body.find(b"\n", after)
        if line_end < 0:
            line_end = len(body)
        # Only transport padding may follow; "--boundary_2" is a different, longer boundary.
        if body[after:line_end].strip(b" \t\r"):
            continue
        marks.append((start, line_end + 1, closing))
        if closing:
            break
    if not marks:
        return None, False
    parts = []
    for index, (_, content_start, closing) in enumerate(marks):
        if closing:
            break
        if index + 1 < len(marks):
            # the line break before a delimiter belongs to the delimiter (RFC 2046 5.1.1)
            end = marks[index + 1][0] - 1
            if end > content_start and body[end - 1] == 0x0D:
                end -= 1
        else:
            end = len(body)
        parts.append(body[content_start : max(end, content_start)])
    return parts, marks[-1][2]


def _leaf(walk: _Walk, first: dict[str, str], body: bytes, ctype: str, params: dict[str, str], depth: int) -> None:
    maintype, _, subtype = ctype.partition("/")
    if maintype == "message" and subtype in ("rfc822", "global"):
        _nested_message(walk, first, body, ctype, params, depth)
        return
    if ctype in ("message/delivery-status", "message/global-delivery-status"):
        walk.delivery_status = True
        data = _transfer_decode(body, first.get("content-transfer-encoding"), walk.defects)
        walk.status_text.append(data.decode("utf-8", "replace"))
        _keep_attachment(walk, first, data, ctype, params)
        return
    if ctype in ("text/rfc822-headers", "message/global-headers"):
        data = _transfer_decode(body, first.get("content-transfer-encoding"), walk.defects)
        headers, _ = _split_entity(data, [])
        walk.bounce_ids.extend(_ids(_first_values(headers).get("message-id"))[:1])
        _keep_attachment(walk, first, data, ctype, params)
        return
    if ctype in ("text/plain", "text/html"):
        disposition, disposition_params = _disposition(first.get("content-disposition"), walk.defects)
        # As in the stdlib's get_body(), a text part is body unless marked as an attachment; but a
        # named one without a disposition that comes after the body is a file the client attached.
        if disposition == "inline" or (
            disposition is None
            and not ((walk.plain or walk.html) and _filename(disposition_params, params, walk.defects))
        ):
            data = _transfer_decode(body, first.get("content-transfer-encoding"), walk.defects)
            charset = params.get("charset")
            if charset is None and subtype == "html":
                charset = _meta_charset(data)
            text = _decode_bytes(data, charset, walk.defects, "body")
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            if subtype == "plain":
                if params.get("format", "").lower() == "flowed" and " \n" in text:
                    text = _unflow(text, params.get("delsp", "").lower() == "yes")
                walk.plain.append(text)
            else:
                walk.html.append(text)
            return
    _attachment(walk, first, body, ctype, params)


def _nested_message(
    walk: _Walk, first: dict[str, str], body: bytes, ctype: str, params: dict[str, str], depth: int
) -> None:
    # An attached message (a forward as attachment, the original in a bounce) is kept whole as an
    # attachment, "forwarded-message.eml" unless it is named, so that agents can open it as sent. Its
    # text does not go into `text` (that is what this sender wrote) unless the message has no text of
    # its own; its Message-ID is noted in case this is a bounce.
    data = _transfer_decode(body, first.get("content-transfer-encoding"), walk.defects)
    headers, nested_body = _split_entity(data, [])
    nested_first = _first_values(headers)
    walk.bounce_ids.extend(_ids(nested_first.get("message-id"))[:1])
    if depth < MAX_DEPTH and walk.parts < MAX_PARTS:
        nested = _Walk(walk.max_bytes, defects=[])
        nested.parts = walk.parts
        _walk_entity(nested, nested_first, nested_body, depth + 1, "text/plain")
        walk.parts = nested.parts
        walk.nested_plain.extend(nested.plain)
        walk.nested_html.extend(nested.html)
        walk.bounce_ids.extend(nested.bounce_ids)
        # the attached message's own defects are its sender's business; hitting our limits is ours
        for note in (_TOO_DEEP, _TOO_MANY):
            if note in nested.defects:
                walk.defect(note)
        walk.delivery_status = walk.delivery_status or nested.delivery_status
    elif depth >= MAX_DEPTH:
        walk.defect(_TOO_DEEP)
    _keep_attachment(walk, first, data, ctype, params, default_name="forwarded-message.eml")


def _attachment(walk: _Walk, first: dict[str, str], body: bytes, ctype: str, params: dict[str, str]) -> None:
    data = _transfer_decode(body, first.get("content-transfer-encoding"), walk.defects)
    _keep_attachment(walk, first, data, ctype, params)


def _keep_attachment(
    walk: _Walk,
    first: dict[str, str],
    data: bytes,
    ctype: str,
    params: dict[str, str],
    default_name: str | None = None,
) -> None:
    disposition, disposition_params = _disposition(first.get("content-disposition"), walk.defects)
    content_id = _first_id(first.get("content-id"))
    size = len(data)
    walk.attachments.append(
        ParsedAttachment(
            filename=_filename(disposition_params, params, walk.defects) or default_name,
            content_type=ctype,
            size=size,
            content=data if size <= walk.max_bytes else None,
            content_id=content_id,
            # no disposition but a Content-ID: a picture the HTML shows in place
            inline=disposition == "inline" or (disposition is None and content_id is not None),
        )
    )


# ---------------------------------------------------------------------------------------------------
# Content-Type, Content-Disposition and their parameters (RFC 2045, 2183, 2231)

_TYPE = re.compile(r"\s*([^\s;/\"]+)\s*/\s*([^\s;\"]+)")
# The bound on the name keeps a long run of token characters with no "=" from costing quadratic time.
_PARAM = re.compile(r"""([^\s=;"]{1,100})\s*=\s*("(?:[^"\\]|\\.)*(?:"|$)|[^;]*)""", re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)


def _content_type(value: str | None, default: str, defects: list[str]) -> tuple[str, dict[str, str]]:
    if value is None:
        return default, {}
    found = _TYPE.match(value)
    if not found:
        if value.strip():
            _note(defects, f"invalid Content-Type {value[:60]!r}, read as {default}")
        return default, _params(value.partition(";")[2], defects)
    ctype = f"{found.group(1)}/{found.group(2)}".lower()
    rest = value[found.end() :]
    return ctype, _params(rest, defects) if "=" in rest else {}


def _disposition(value: str | None, defects: list[str]) -> tuple[str | None, dict[str, str]]:
    if value is None:
        return None, {}
    kind, _, rest = value.partition(";")
    kind = kind.strip().lower()
    if "=" in kind:  # "Content-Disposition: filename=x.pdf": no type, only parameters
        return None, _params(value, defects)
    return kind or None, _params(rest, defects) if "=" in rest else {}


def _params(text: str, defects: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    sections: dict[str, list[tuple[int, bool, str]]] = {}
    for found in _PARAM.finditer(text):
        key = found.group(1).lower()
        value = found.group(2)
        if value.startswith('"'):
            value = value[1:-1] if value.endswith('"') and len(value) > 1 else value[1:]
            if "\\" in value:
                value = _ESCAPE.sub(r"\1", value)
        else:
            value = value.strip()
        if "*" in key:
            # RFC 2231: "name*" is percent-encoded with a charset, "name*0", "name*1*"... are sections
            extended = key.endswith("*")
            base, _, index = key.removesuffix("*").partition("*")
            if not index or (index.isascii() and index.isdigit()):
                sections.setdefault(base, []).append((int(index or 0), extended, value))
                continue
        params.setdefault(key, value)
    for name, pieces in sections.items():
        params[name] = _rfc2231(pieces, defects)
    return params


def _rfc2231(pieces: list[tuple[int, bool, str]], defects: list[str]) -> str:
    pieces.sort(key=lambda piece: piece[0])
    charset = None
    data = bytearray()
    for position, (_, extended, value) in enumerate(pieces):
        if extended:
            if position == 0 and value.count("'") >= 2:
                charset, _language, value = value.split("'", 2)
            data += unquote_to_bytes(value)
        else:
            data += value.encode("utf-8")
    return _decode_bytes(bytes(data), charset or None, defects, "parameter")


def _filename(disposition_params: dict[str, str], params: dict[str, str], defects: list[str]) -> str | None:
    raw = disposition_params.get("filename") or params.get("name")
    if not raw:
        return None
    name = decode_header_words(raw, defects)
    # The name is the sender's to choose, the path is not: keep the last component only.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c >= " " and c != "\x7f").strip()
    return name if name and name not in (".", "..") else None


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _meta_charset(data: bytes) -> str | None:
    found = _META_CHARSET.search(data, 0, 2048)
    return found.group(1).decode("ascii") if found else None


# ---------------------------------------------------------------------------------------------------
# transfer encodings and charsets

_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def _transfer_decode(body: bytes, encoding: str | None, defects: list[str]) -> bytes:
    if not encoding:
        return body
    name = encoding.strip().strip("\"';").lower()
    if name in ("7bit", "8bit", "binary", ""):
        return body
    if "base64" in name:
        try:
            return binascii.a2b_base64(body)
        except binascii.Error:
            _note(defects, "broken base64 repaired")
            cleaned = _NOT_BASE64.sub(b"", body.split(b"=", 1)[0])
            cleaned = cleaned[: len(cleaned) - len(cleaned) % 4] if len(cleaned) % 4 == 1 else cleaned
            try:
                return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
            except binascii.Error:
                return b""
    if "quoted" in name:
        return binascii.a2b_qp(body)
    if "uu" in name:
        return _uudecode(body, defects)
    if name not in ("7-bit", "8-bit", "plain", "text", "none"):
        _note(defects, f"unknown Content-Transfer-Encoding {encoding[:40]!r}, kept as is")
    return body


def _uudecode(body: bytes, defects: list[str]) -> bytes:
    out = bytearray()
    started = False
    for line in body.splitlines():
        if not started:
            started = line.startswith(b"begin ")
            continue
        if line.strip() == b"end":
            break
        if not line.strip():
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            # some encoders pad lines; decode the length the line announces
            length = (((line[0] - 32) & 63) * 4 + 5) // 3
            try:
                out += binascii.a2b_uu(line[:length])
            except binascii.Error:
                _note(defects, "broken uuencoded line skipped")
    return bytes(out)


_ALIASES = {
    # WHATWG's decoding rules, which match what mail clients actually send under these labels
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "korean": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312-80": "gb18030",
    "csgb2312": "gb18030",
    "chinese": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "csshiftjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "csiso2022jp": "iso2022_jp_ext",
    "big5": "big5hkscs",
    "iso-8859-8-i": "iso8859-8",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "x-mac-roman": "mac-roman",
    "macintosh": "mac-roman",
}
# Real text encodings that nonetheless have no business decoding mail.
_REFUSED = frozenset({"unicode-escape", "raw-unicode-escape", "undefined", "idna", "punycode", "mbcs", "oem"})
# ASCII plus what stateful encodings (ISO-2022-*, UTF-7, HZ) read as shifts: it decodes to itself only
# in encodings where pure-ASCII bytes may skip the decoder.
_ASCII_SAMPLE = bytes(range(0x80)) + b"+AGE- \x1b$B%F\x1b(B ~{<:~}"
_DECLARED_SINGLE_BYTE_WESTERN = frozenset({"cp1252"})
_ASCII_LABELS = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968"})


@lru_cache(maxsize=256)
def _codec(label: str) -> tuple[str | None, bool]:
    # -> (Python codec name or None when unknown, whether ASCII bytes decode to themselves in it)
    name = label.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None, True
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED:
        return None, True
    try:
        ascii_safe = _ASCII_SAMPLE.decode(info.name) == _ASCII_SAMPLE.decode("ascii")
    except (UnicodeDecodeError, LookupError):
        ascii_safe = False
    return info.name, ascii_safe


def _decode_bytes(data: bytes, label: str | None, defects: list[str], where: str) -> str:
    codec, ascii_safe = _codec(label[:64]) if label else (None, True)
    if label and codec is None:
        _note(defects, f"unknown charset {label[:40]!r} in {where}")
    if ascii_safe and data.isascii():
        return data.decode("ascii")
    if codec is None:
        if not label:
            _note(defects, f"8-bit {where} without a charset")
        return _guess(data, defects, where)
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        return _declared_wrong(data, codec, label or codec, defects, where)
    except LookupError:
        return _guess(data, defects, where)
    if codec in _DECLARED_SINGLE_BYTE_WESTERN and label:
        if label.strip("\"' ").lower() in _ASCII_LABELS:
            _note(defects, f"{where} declared {label} has 8-bit bytes")
        # Valid UTF-8 with multi-byte sequences is almost never intended windows-1252/latin-1 text.
        try:
            utf8 = data.decode("utf-8")
        except UnicodeDecodeError:
            return text
        _note(defects, f"{where} declared {label} is UTF-8")
        return utf8
    return text


_DECODED_NON_ASCII = re.compile("[^\x00-\x7f\ufffd]")


def _declared_wrong(data: bytes, codec: str, label: str, defects: list[str], where: str) -> str:
    if codec == "utf-8":
        text = data.decode("utf-8", "replace")
        # Mostly UTF-8 with a few broken bytes: keep it; no multi-byte character at all: 8-bit legacy.
        if _DECODED_NON_ASCII.search(text):
            _note(defects, f"{where} declared {label} has invalid UTF-8 bytes, replaced")
            return text
        _note(defects, f"{where} declared {label} is not UTF-8, read as windows-1252")
        return data.decode("cp1252", "replace")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        _note(defects, f"{where} declared {label} has bytes invalid in it, replaced")
        return data.decode(codec, "replace")
    _note(defects, f"{where} declared {label} is UTF-8")
    return text


def _guess(data: bytes, defects: list[str], where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        _note(defects, f"{where} is not UTF-8, read as windows-1252")
        return data.decode("cp1252", "replace")


def _unflow(text: str, delsp: bool) -> str:
    # RFC 3676 format=flowed: a line ending in a space continues on the next line of the same depth.
    out: list[str] = []
    pieces: list[str] = []
    pieces_depth = 0
    for line in text.split("\n"):
        content = line.lstrip(">")
        depth = len(line) - len(content)
        if content.startswith(" "):
            content = content[1:]
        if pieces and depth != pieces_depth:
            out.append(_quote_prefix(pieces_depth) + "".join(pieces))
            pieces = []
        pieces_depth = depth
        if content.endswith(" ") and content != "-- ":
            pieces.append(content[:-1] if delsp else content)
        else:
            pieces.append(content)
            out.append(_quote_prefix(depth) + "".join(pieces))
            pieces = []
    if pieces:
        out.append(_quote_prefix(pieces_depth) + "".join(pieces))
    return "\n".join(out)


def _quote_prefix(depth: int) -> str:
    return ">" * depth + " " if depth else ""


# ---------------------------------------------------------------------------------------------------
# header values

_ENCODED_WORD = re.compile(r"=\?([^?\s]+?)\?([qQbB])\?([^?]*?)\?=")


def decode_header_words(value: str, defects: list[str] | None = None) -> str:
    """RFC 2047 encoded words in a header value, leniently: adjacent words of one charset are joined
    before decoding (a character may be split across two), and broken words stay as they were."""
    if "=?" not in value:
        return value
    notes = [] if defects is None else defects
    out: list[str] = []
    pending = bytearray()
    pending_charset = ""
    pos = 0
    after_word = False
    for found in _ENCODED_WORD.finditer(value):
        between = value[pos : found.start()]
        # white space between two encoded words is folding, not text (RFC 2047 6.2)
        adjacent = after_word and (not between or between.isspace())
        charset = found.group(1).partition("*")[0]  # RFC 2231 language suffix: "utf-8*en"
        if pending and (not adjacent or charset.lower() != pending_charset.lower()):
            out.append(_decode_bytes(bytes(pending), pending_charset, notes, "header"))
            pending = bytearray()
        if not adjacent:
            out.append(between)
        encoded = found.group(3)
        if found.group(2) in "bB":
            pending += _header_b64(encoded, notes)
        else:
            pending += binascii.a2b_qp(encoded.encode("utf-8", "replace"), header=True)
        pending_charset = charset
        pos = found.end()
        after_word = True
    if pending:
        out.append(_decode_bytes(bytes(pending), pending_charset, notes, "header"))
    out.append(value[pos:])
    return "".join(out)


def _header_b64(encoded: str, defects: list[str]) -> bytes:
    data = encoded.encode("ascii", "replace")
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except binascii.Error:
        _note(defects, "broken base64 in an encoded header word")
        cleaned = _NOT_BASE64.sub(b"", data.split(b"=", 1)[0])
        if len(cleaned) % 4 == 1:
            cleaned = cleaned[:-1]
        try:
            return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
        except binascii.Error:
            return b""


def _collapse(text: str) -> str:
    return " ".join(text.split())


_SIMPLE_ADDRESS = re.compile(r"\s*<?([^<>\s,;:\"()@]+@[^<>\s,;:\"()@]+)>?\s*")
_NAMED_ADDRESS = re.compile(r"\s*(?:\"((?:[^\"\\]|\\.)*)\"|([^<>\",;:@()]*?))\s*<([^<>\s,;\"]*)>\s*")


def _address_list(value: str | None, defects: list[str]) -> list[tuple[str, str]]:
    if not value:
        return []
    # Most headers are "Name <addr>" or bare addresses: read those with two regexes; anything else
    # (groups, comments, quoted commas) goes to the stdlib's RFC 5322 address parser.
    pairs: list[tuple[str, str]] | None = None
    if len(value) > 2000:
        pass  # the regexes backtrack on long runs of spaces; long lists are rare enough for the slow path
    elif "(" not in value and '"' not in value:
        pairs = _simple_addresses(value.split(","))
    elif "(" not in value and "," not in value and value.count('"') == 2:
        pairs = _simple_addresses([value])
    if pairs is None:
        try:
            pairs = getaddresses([value])
        except Exception:  # the stdlib parser is lenient but old; a bad header must not be a crash
            _note(defects, "unreadable address header")
            return []
    result = []
    for name, addr in pairs:
        addr = addr.strip().lower()
        if addr:
            result.append((decode_header_words(name, defects).strip() if name else "", addr))
    return result


def _simple_addresses(items: list[str]) -> list[tuple[str, str]] | None:
    pairs = []
    for item in items:
        if not item or item.isspace():
            continue
        found = _SIMPLE_ADDRESS.fullmatch(item)
        if found:
            pairs.append(("", found.group(1)))
            continue
        found = _NAMED_ADDRESS.fullmatch(item)
        if not found:
            return None
        quoted = found.group(1)
        name = found.group(2) if quoted is None else _ESCAPE.sub(r"\1", quoted) if "\\" in quoted else quoted
        pairs.append((name, found.group(3)))
    return pairs


def _sender(first: dict[str, str], defects: list[str]) -> tuple[str | None, str | None]:
    for header in ("from", "sender", "return-path"):
        found = _address_list(first.get(header), defects)
        if found:
            name, addr = found[0]
            if header != "from":
                _note(defects, f"no usable From, sender taken from {header.title()}")
            return (_collapse(name) or None), addr
    return None, None


_ANGLE_ID = re.compile(r"<([^<>]*)>")


def _ids(value: str | None) -> list[str]:
    if not value:
        return []
    found = _ANGLE_ID.findall(value)
    if not found:
        found = re.split(r"[\s,]+", value)
    ids: list[str] = []
    for item in found:
        item = "".join(item.split())
        if item and item not in ids:
            ids.append(item)
    return ids


def _first_id(value: str | None) -> str | None:
    ids = _ids(value)
    return ids[0] if ids else None


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parts = parsedate_tz(value)
        if parts is None:
            raise ValueError(value)
        year, month, day, hour, minute, second = parts[:6]
        moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
        return moment - timedelta(seconds=parts[9] or 0)
    except (ValueError, OverflowError, IndexError, TypeError):
        _note(defects, f"unreadable Date {value[:60]!r}")
        return None


def _headers_text(headers: list[tuple[str, str, str]], defects: list[str]) -> str:
    return "\n".join(
        [f"{name}: {decode_header_words(value, defects) if '=?' in value else value}" for name, _, value in headers]
    )


# ---------------------------------------------------------------------------------------------------
# body text


def _body_text(plain: list[str], html: list[str]) -> tuple[str, bool]:
    pieces = [piece.strip("\n") for piece in plain if piece.strip()]
    if pieces:
        return "\n\n".join(pieces).rstrip(), False
    if html:
        text = html_to_text("\n".join(html))
        return text, bool(text)
    return "", False


# ---------------------------------------------------------------------------------------------------
# automatic mail

_AUTO_REPLY_SUBJECT = re.compile(
    r"^\W{0,3}(?:out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?(?:reply|response)|autoreply"
    r"|abwesenheitsnotiz|automatische antwort|réponse automatique|absence du bureau|fuera de la oficina"
    r"|respuesta automática|risposta automatica|automatisch antwoord|autosvar|out of office autoreply)",
    re.I,
)
_BOUNCE_SUBJECT = re.compile(
    r"^\W{0,3}(?:undeliver(?:able|ed)|delivery (?:status notification|failure|has failed|failed|notification)"
    r"|returned mail|mail delivery (?:failed|failure|system)|failure notice|message not delivered"
    r"|non remis|unzustellbar|nicht zustellbar|warning: could not send)",
    re.I,
)


def _classify(first: dict[str, str], walk: _Walk, subject: str, sender: str | None) -> str | None:
    local = (sender or "").partition("@")[0]
    return_path = first.get("return-path")
    empty_return_path = return_path is not None and return_path.replace(" ", "") in ("<>", "")
    auto_submitted = first.get("auto-submitted", "").strip().lower()
    reports = walk.report_types
    if (
        "delivery-status" in reports
        or walk.delivery_status
        or local == "mailer-daemon"
        or "x-failed-recipients" in first
        # postmaster@ is also a person at small companies: only with a DSN's other marks
        or (local == "postmaster" and (_BOUNCE_SUBJECT.match(subject) or empty_return_path))
        or (empty_return_path and (_BOUNCE_SUBJECT.match(subject) or walk.bounce_ids))
    ):
        return "bounce"
    suppress = first.get("x-auto-response-suppress", "").lower()
    if (
        (auto_submitted and not auto_submitted.startswith("no"))
        # read receipts and spam-complaint reports are machine-made too, though they report no failure
        or "disposition-notification" in reports
        or "feedback-report" in reports
        or "x-autoreply" in first
        or "x-autorespond" in first
        or any(word in suppress for word in ("all", "oof", "autoreply"))
        or first.get("precedence", "").strip().lower() == "auto_reply"
        or _AUTO_REPLY_SUBJECT.match(subject)
    ):
        return "auto_reply"
    if (
        first.get("precedence", "").strip().lower() in ("bulk", "list", "junk")
        or "list-id" in first
        or "list-unsubscribe" in first
    ):
        return "bulk"
    return None


_ORIGINAL_ID = re.compile(r"^[ \t]*(?:X-)?Original-Message-ID[ \t]*:[ \t]*(\S[^\n]*)", re.M | re.I)
_BODY_MESSAGE_ID = re.compile(r"^[ \t]*Message-ID[ \t]*:[ \t]*<([^<>\s]+)>", re.M | re.I)


def _bounced_ids(first: dict[str, str], walk: _Walk, text: str) -> list[str]:
    found = list(walk.bounce_ids)
    for header in ("original-message-id", "x-original-message-id"):
        found.extend(_ids(first.get(header)))
    for status in walk.status_text:
        for match in _ORIGINAL_ID.finditer(status):
            found.extend(_ids(match.group(1)))
    if not found:
        # Bounces that quote the original's headers in plain text (Gmail, qmail) name it only there.
        found = _BODY_MESSAGE_ID.findall(text)
    unique: list[str] = []
    for item in found:
        if item not in unique:
            unique.append(item)
    return unique


# ---------------------------------------------------------------------------------------------------
# subjects and helpers

_PREFIXES = re.compile(
    r"^(?:\s*(?:re|aw|wg|fwd?|tr|rv|sv|vs|antw|antwort|réf|odp|enc)\s*(?:\[\d+\]|\(\d+\))?\s*[:\uff1a])+\s*",
    re.I,
)


def normalize_subject(subject: str) -> str:
    return _collapse(_PREFIXES.sub("", subject)).casefold()


def _note(defects: list[str], note: str) -> None:
    if len(defects) < MAX_DEFECTS and note not in defects:
        defects.append(note)


def _clean(text: str) -> str:
    # PostgreSQL text refuses NUL, and UTF-8 refuses lone surrogates: neither may reach storage.
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _finish(message: ParsedMessage) -> None:
    # Every string is made clean text, and fields the standards bound are held to those bounds.
    notes = message.defects
    message.defects[:] = [_clean(item) for item in notes]
    message.subject = _clean(message.subject)
    message.text = _clean(message.text)
    message.new_text = _clean(message.new_text)
    message.headers_text = _clean(message.headers_text)
    message.html = _clean(message.html) if message.html is not None else None
    message.from_name = _clean(message.from_name) if message.from_name is not None else None
    message.content_type = _fit(message.content_type, MAX_TYPE_LENGTH, notes, "Content-Type") or "text/plain"
    message.message_id = _fit(message.message_id, MAX_ID_LENGTH, notes, "Message-ID")
    message.from_address = _fit(message.from_address, MAX_ADDRESS_LENGTH, notes, "address")
    message.reply_to = _fit(message.reply_to, MAX_ADDRESS_LENGTH, notes, "address")
    message.list_id = _fit(message.list_id, MAX_LIST_ID_LENGTH, notes, "List-Id")
    message.to = _fit_all(message.to, MAX_ADDRESS_LENGTH, notes, "address")
    message.cc = _fit_all(message.cc, MAX_ADDRESS_LENGTH, notes, "address")
    message.in_reply_to = _fit_all(message.in_reply_to, MAX_ID_LENGTH, notes, "In-Reply-To id")
    message.references = _fit_all(message.references, MAX_ID_LENGTH, notes, "References id")
    message.bounced_message_ids = _fit_all(message.bounced_message_ids, MAX_ID_LENGTH, notes, "Message-ID")
    for attachment in message.attachments:
        content_type = _fit(attachment.content_type, MAX_TYPE_LENGTH, notes, "Content-Type")
        attachment.content_type = content_type or "application/octet-stream"
        attachment.content_id = _fit(attachment.content_id, MAX_ID_LENGTH, notes, "Content-ID")
        if attachment.filename is not None:
            attachment.filename = _short_filename(_clean(attachment.filename))


def _fit(value: str | None, limit: int, defects: list[str], what: str) -> str | None:
    if value is None:
        return None
    value = _clean(value)
    if len(value) > limit:
        _note(defects, f"{what} longer than {limit} characters dropped")
        return None
    return value


def _fit_all(values: list[str], limit: int, defects: list[str], what: str) -> list[str]:
    return [value for value in (_fit(item, limit, defects, what) for item in values) if value is not None]


def _short_filename(name: str) -> str:
    if len(name) <= MAX_FILENAME_LENGTH:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 16:
        return name[:MAX_FILENAME_LENGTH]
    return stem[: MAX_FILENAME_LENGTH - len(extension) - 1] + "." + extension
