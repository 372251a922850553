"""Raw RFC 5322 bytes to a ParsedMessage: a pure function, no I/O.

The MIME structure is split by mailtext.mime rather than by `email.parser`: even with policy.compat32
the stdlib feed parser walks every line of every part in Python, which on realistic support mail
(base64 attachments, long HTML) costs more than the whole rest of ingest. Headers are read with one
regex per block, parts are cut out with bytes.find on their boundary, and payloads are decoded by
binascii, so the cost grows with the number of parts, not of lines (benchmarks/parse.py: about 1.4
times the rate of a bare compat32 parse, which decodes nothing, and 5 times policy.default's). The
behaviour on broken input follows the stdlib parser and the RFCs where they are clear;
tests/mailtext/test_corpora.py runs it over public corpora of real and deliberately broken mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailtext.auto import bounced_ids, classify
from mailtext.headers import (
    add_defect,
    address_list,
    collapse,
    decode_bytes,
    decode_header_words,
    first_id,
    first_values,
    header_date,
    headers_text,
    id_list,
    sender_of,
    split_entity,
)
from mailtext.html import html_to_text, sanitize_html
from mailtext.mime import ParsedAttachment, Walk, walk_entity
from mailtext.quotes import strip_quoted
from mailtext.trust import UNVERIFIED, SenderTrust

DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
# Sizes the standards allow. A longer value is invalid, and an identifier cut short could match
# another one (a Message-ID that deduplicates or threads a stranger's mail), so it is dropped with a
# defect noted. What a database column can hold is not decided here (this module knows no database):
# app.db.fit_row holds every stored value to its column's declared size.
MAX_ID_LENGTH = 998  # a Message-ID or Content-ID fills at most one RFC 5322 line
MAX_ADDRESS_LENGTH = 320  # local part 64 + "@" + domain 255 (RFC 5321)
MAX_TYPE_LENGTH = 255  # type and subtype names of at most 127 characters each (RFC 6838)
MAX_LIST_ID_LENGTH = 255  # RFC 2919
MAX_FILENAME_LENGTH = 255  # NAME_MAX of common file systems: a longer name cannot be saved as given


class MessageParseError(Exception):
    pass


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
    # Who sent it, as far as the mail system can tell (mailtext.trust.assess): parse_message leaves it
    # unverified; app/inbox/parsing.py assesses it beside the parse, with the ingest settings.
    trust: SenderTrust = UNVERIFIED

    @property
    def empty(self) -> bool:
        """Nothing to read in the body: no text, no HTML, no attachment (zero bytes, or headers alone)."""
        return not self.text.strip() and not self.html and not self.attachments


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
        # Zero bytes (or whitespace): a message all the same, one with nothing in it. It is stored and
        # shown as empty, not as a failure to parse.
        return _fallback(raw, "empty message")
    try:
        return _parse(raw, max_attachment_bytes)
    except RecursionError as exc:
        # Never expected (depth is bounded), but a message must never take the ingest loop down.
        return _fallback(raw, f"parser error: {type(exc).__name__}")
    except Exception as exc:  # same: degrade to the raw text, keep the message
        return _fallback(raw, f"parser error: {type(exc).__name__}: {exc}"[:200])


def _parse(raw: bytes, max_attachment_bytes: int) -> ParsedMessage:
    walk = Walk(max_attachment_bytes)
    headers, body = split_entity(raw, walk.defects)
    if not headers:
        walk.defect("no header block")
    first = first_values(headers)
    top_type = walk_entity(walk, first, body, 0, "text/plain")

    subject = collapse(decode_header_words(first.get("subject", ""), walk.defects))
    from_name, from_address = sender_of(first, walk.defects)
    reply_to_list = address_list(first.get("reply-to"), walk.defects)
    to = [addr for _, addr in address_list(first.get("to"), walk.defects)]
    cc = [addr for _, addr in address_list(first.get("cc"), walk.defects)]

    text, text_from_html = _body_text(walk.plain, walk.html)
    if not text.strip() and (walk.nested_plain or walk.nested_html):
        # A message whose only content is an attached message (forward as attachment, some bounces):
        # the attached message's text is then the best thing to show and to route on.
        text, text_from_html = _body_text(walk.nested_plain, walk.nested_html)
    html = sanitize_html("\n".join(walk.html)) if walk.html else None

    auto = classify(first, walk, subject, from_address)
    bounced: list[str] = []
    if auto == "bounce":
        bounced = bounced_ids(first, walk, text)

    message = ParsedMessage(
        message_id=first_id(first.get("message-id")),
        in_reply_to=id_list(first.get("in-reply-to")),
        references=id_list(first.get("references")),
        subject=subject,
        from_address=from_address,
        from_name=from_name,
        reply_to=reply_to_list[0][1] if reply_to_list else None,
        to=to,
        cc=cc,
        date=header_date(first.get("date"), walk.defects),
        text=text,
        html=html,
        new_text=strip_quoted(text) if text else "",
        attachments=walk.attachments,
        auto=auto,
        bounced_message_ids=bounced,
        defects=walk.defects,
        headers_text=headers_text(headers, walk.defects),
        content_type=top_type,
        text_from_html=text_from_html,
        list_id=(first_id(first.get("list-id")) or "").lower() or None,
    )
    _finish(message)
    return message


def _fallback(raw: bytes, reason: str) -> ParsedMessage:
    text = decode_bytes(raw, None, [], "message")
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
# clean, bounded fields


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
        add_defect(defects, f"{what} longer than {limit} characters dropped")
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
