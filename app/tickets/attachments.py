"""A ticket's files as the agents' API serves and takes them: a stored attachment (inbound, or sent with
a reply) as a download no browser renders from our origin, and the files of a reply against their limits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import AttachmentSettings
from app.errors import Gone, InvalidInput, NotFound, PayloadTooLarge
from app.mail.compose import OutgoingFile, clean_filename, media_type
from app.tickets import repository
from app.tickets import service as tickets

OCTET_STREAM = "application/octet-stream"
# Types a browser would run or render as a document of our origin (scripts, HTML, XML with XSLT, SVG,
# CSS, Flash): served as bytes to save, whatever the mail said. Types naming html, xml or script in
# their subtype, and every multipart type, are caught by _active too.
_ACTIVE = frozenset(
    {
        "text/css",
        "text/xsl",
        "application/x-shockwave-flash",
        "application/vnd.adobe.flash.movie",
        "application/x-mimearchive",  # MHTML
    }
)


def url(ticket_id: int, attachment_id: int) -> str:
    return f"/api/v1/tickets/{ticket_id}/attachments/{attachment_id}"


def served_type(content_type: str | None) -> str:
    """The Content-Type a download is served with: the mail's `type/subtype`, unless a browser could
    treat it as active content; then application/octet-stream."""
    base = media_type(content_type)
    maintype, _, subtype = base.partition("/")
    if base in _ACTIVE or maintype == "multipart" or any(word in subtype for word in ("html", "xml", "script")):
        return OCTET_STREAM
    return base


def content_disposition(filename: str) -> str:
    """`attachment` with the name twice (RFC 6266): an ASCII fallback for old clients and the exact
    name as RFC 5987 UTF-8. Neither can end the parameter or the header early."""
    fallback = "".join(ch if ch.isascii() and ch.isprintable() and ch not in '"\\;' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@dataclass(frozen=True, slots=True)
class Download:
    filename: str
    media_type: str
    content: bytes = field(repr=False)
    # The message was over the size limit and kept truncated: the file may end early.
    truncated: bool


async def download(session: AsyncSession, ticket_id: int, attachment_id: int) -> Download:
    await tickets.get_ticket(session, ticket_id)
    found = await repository.ticket_attachment(session, ticket_id, attachment_id)
    if found is None:
        raise NotFound(f"ticket {ticket_id} has no attachment {attachment_id}")
    attachment, parse_status = found
    if attachment.content is None:
        raise Gone(
            f"attachment {attachment_id} ({attachment.size} bytes) was over the attachment size limit when its "
            "message arrived (ROUTEDESK_INGEST__MAX_ATTACHMENT_BYTES): its name, type and size were kept, "
            "its content was not"
        )
    return Download(
        filename=clean_filename(attachment.filename) or f"attachment-{attachment_id}",
        media_type=served_type(attachment.content_type),
        content=attachment.content,
        truncated=parse_status == "too_large",
    )


def reply_files(
    files: Sequence[tuple[str | None, str | None, bytes]], limits: AttachmentSettings
) -> list[OutgoingFile]:
    """A reply's uploads as the files it sends, checked against the limits:
    413 for a file or the whole over its bytes, 422 for too many files or a file without a name."""
    if len(files) > limits.max_reply_files:
        raise InvalidInput(f"a reply carries at most {limits.max_reply_files} files; this one has {len(files)}")
    out = []
    total = 0
    for number, (name, content_type, content) in enumerate(files, 1):
        filename = clean_filename(name)
        if filename is None:
            raise InvalidInput(f"file {number} has no usable file name")
        if len(content) > limits.max_reply_file_bytes:
            raise PayloadTooLarge(
                f"file {filename!r} has {len(content)} bytes, over the limit of {limits.max_reply_file_bytes} "
                "bytes per file"
            )
        total += len(content)
        out.append(OutgoingFile(filename=filename, content_type=media_type(content_type), content=content))
    if total > limits.max_reply_bytes:
        raise PayloadTooLarge(
            f"the reply's files have {total} bytes together, over the limit of {limits.max_reply_bytes} bytes per reply"
        )
    return out
