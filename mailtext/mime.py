"""The MIME structure of a message: parts cut out by boundary, transfer encodings undone, text parts
decoded and collected, everything else kept as attachments."""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from mailtext.headers import (
    NOT_BASE64,
    add_defect,
    decode_bytes,
    first_id,
    first_values,
    id_list,
    parse_content_type,
    parse_disposition,
    part_filename,
    split_entity,
)

# Bounds on what hostile or runaway input can cost; past them the rest is kept as opaque attachments.
MAX_DEPTH = 20
MAX_PARTS = 500
_TOO_DEEP = f"MIME structure deeper than {MAX_DEPTH} levels, the rest kept as one attachment"
_TOO_MANY = f"too many parts, only the first {MAX_PARTS} were read"


@dataclass(slots=True)
class ParsedAttachment:
    filename: str | None
    content_type: str
    size: int
    content: bytes | None
    content_id: str | None
    inline: bool


class Walk:
    """What reading a message's parts collects: text and HTML pieces, attachments, and the marks that
    mailtext.auto tells automatic mail by (delivery reports, the ids of bounced messages)."""

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
        add_defect(self.defects, note)


def walk_entity(walk: Walk, first: dict[str, str], body: bytes, depth: int, default_type: str) -> str:
    walk.parts += 1
    ctype, params = parse_content_type(first.get("content-type"), default_type, walk.defects)
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
                child_headers, child_body = split_entity(part, walk.defects)
                walk_entity(walk, first_values(child_headers), child_body, depth + 1, child_default)
        return ctype
    _leaf(walk, first, body, ctype, params, depth)
    return ctype


def _alternatives(walk: Walk, parts: list[bytes], depth: int, child_default: str) -> None:
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
            child_headers, child_body = split_entity(part, walk.defects)
            walk_entity(walk, first_values(child_headers), child_body, depth + 1, child_default)
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


def _too_many_parts(walk: Walk) -> bool:
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


def _leaf(walk: Walk, first: dict[str, str], body: bytes, ctype: str, params: dict[str, str], depth: int) -> None:
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
        headers, _ = split_entity(data, [])
        walk.bounce_ids.extend(id_list(first_values(headers).get("message-id"))[:1])
        _keep_attachment(walk, first, data, ctype, params)
        return
    if ctype in ("text/plain", "text/html"):
        disposition, disposition_params = parse_disposition(first.get("content-disposition"), walk.defects)
        # As in the stdlib's get_body(), a text part is body unless marked as an attachment; but a
        # named one without a disposition that comes after the body is a file the client attached.
        if disposition == "inline" or (
            disposition is None
            and not ((walk.plain or walk.html) and part_filename(disposition_params, params, walk.defects))
        ):
            data = _transfer_decode(body, first.get("content-transfer-encoding"), walk.defects)
            charset = params.get("charset")
            if charset is None and subtype == "html":
                charset = _meta_charset(data)
            text = decode_bytes(data, charset, walk.defects, "body")
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
    walk: Walk, first: dict[str, str], body: bytes, ctype: str, params: dict[str, str], depth: int
) -> None:
    # An attached message (a forward as attachment, the original in a bounce) is kept whole as an
    # attachment, "forwarded-message.eml" unless it is named, so that agents can open it as sent. Its
    # text does not go into `text` (that is what this sender wrote) unless the message has no text of
    # its own; its Message-ID is noted in case this is a bounce.
    data = _transfer_decode(body, first.get("content-transfer-encoding"), walk.defects)
    headers, nested_body = split_entity(data, [])
    nested_first = first_values(headers)
    walk.bounce_ids.extend(id_list(nested_first.get("message-id"))[:1])
    if depth < MAX_DEPTH and walk.parts < MAX_PARTS:
        nested = Walk(walk.max_bytes, defects=[])
        nested.parts = walk.parts
        walk_entity(nested, nested_first, nested_body, depth + 1, "text/plain")
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


def _attachment(walk: Walk, first: dict[str, str], body: bytes, ctype: str, params: dict[str, str]) -> None:
    data = _transfer_decode(body, first.get("content-transfer-encoding"), walk.defects)
    _keep_attachment(walk, first, data, ctype, params)


def _keep_attachment(
    walk: Walk,
    first: dict[str, str],
    data: bytes,
    ctype: str,
    params: dict[str, str],
    default_name: str | None = None,
) -> None:
    disposition, disposition_params = parse_disposition(first.get("content-disposition"), walk.defects)
    content_id = first_id(first.get("content-id"))
    size = len(data)
    walk.attachments.append(
        ParsedAttachment(
            filename=part_filename(disposition_params, params, walk.defects) or default_name,
            content_type=ctype,
            size=size,
            content=data if size <= walk.max_bytes else None,
            content_id=content_id,
            # no disposition but a Content-ID: a picture the HTML shows in place
            inline=disposition == "inline" or (disposition is None and content_id is not None),
        )
    )


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _meta_charset(data: bytes) -> str | None:
    found = _META_CHARSET.search(data, 0, 2048)
    return found.group(1).decode("ascii") if found else None


# ---------------------------------------------------------------------------------------------------
# transfer encodings


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
            add_defect(defects, "broken base64 repaired")
            cleaned = NOT_BASE64.sub(b"", body.split(b"=", 1)[0])
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
        add_defect(defects, f"unknown Content-Transfer-Encoding {encoding[:40]!r}, kept as is")
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
                add_defect(defects, "broken uuencoded line skipped")
    return bytes(out)


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
