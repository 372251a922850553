"""Attachments through the API: an inbound file, ingested as the poller stores it, downloads with its
bytes and safe headers; a reply's uploads are checked against their limits, stored on the outbound
message and delivered as MIME parts to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.db import unit_of_work
from app.inbox.ingest import Source, ingest_batch
from app.inbox.models import Attachment, Message
from app.inbox.parsing import prepare
from app.replies.models import Outbox
from app.tickets.attachments import served_type
from tests.api.desk import SUPPORT, Desk, sqlite_only
from tests.mailgen import mail, with_files

MiB = 1024 * 1024
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF"


def _pdf(filename: str = "invoice.pdf") -> tuple[str, bytes]:
    return f'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="{filename}"', PDF


async def _attachments(desk: Desk, ticket_id: int, client: httpx.AsyncClient | None = None) -> list[dict[str, Any]]:
    response = await (client or desk.agent).get(f"/tickets/{ticket_id}")
    assert response.status_code == 200, response.text
    return [a for m in response.json()["messages"] for a in m["attachments"]]


async def _download(desk: Desk, attachment: dict[str, Any], client: httpx.AsyncClient | None = None) -> httpx.Response:
    return await (client or desk.agent).get("http://test" + attachment["url"])


def _with_limits(desk: Desk, **limits: int) -> None:
    """Change the running app's attachment limits (it reads them per request)."""
    settings = desk.settings
    update = {"attachments": settings.attachments.model_copy(update=limits)}
    desk.app.state.settings = settings.model_copy(update=update)


# -- download ------------------------------------------------------------------------------------------


async def test_an_inbound_attachment_downloads_with_its_bytes_type_and_headers(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(with_files(_pdf()))
    [attachment] = await _attachments(desk, ticket_id)
    assert attachment["url"] == f"/api/v1/tickets/{ticket_id}/attachments/{attachment['id']}"
    response = await _download(desk, attachment)
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-length"] == str(len(PDF))
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"invoice.pdf\"; filename*=UTF-8''invoice.pdf"
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert "sandbox" in response.headers["content-security-policy"]
    assert "x-routedesk-truncated" not in response.headers


@sqlite_only
@pytest.mark.parametrize(
    "mail_type",
    [
        "text/html",
        "image/svg+xml",
        "application/xhtml+xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/xml",
        "application/xml",
        "text/css",
        "TEXT/HTML; charset=utf-8",
        "application/x-shockwave-flash",
    ],
)
async def test_active_content_is_served_as_octet_stream(desk: Desk, mail_type: str) -> None:
    payload = b"<html><script>alert(document.cookie)</script></html>"
    file = (f'Content-Type: {mail_type}\r\nContent-Disposition: attachment; filename="page.html"', payload)
    ticket_id = await desk.new_ticket(with_files(file))
    [attachment] = await _attachments(desk, ticket_id)
    response = await _download(desk, attachment)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.content == payload


@sqlite_only
@pytest.mark.parametrize(
    ("mail_type", "served"),
    [("text/plain", "text/plain"), ("image/png", "image/png"), ("Text/CSV; charset=latin-1", "text/csv")],
)
async def test_passive_types_keep_the_type_the_mail_gave_them(desk: Desk, mail_type: str, served: str) -> None:
    file = (f'Content-Type: {mail_type}\r\nContent-Disposition: attachment; filename="data"', b"caf\xe9;1\r\n")
    ticket_id = await desk.new_ticket(with_files(file))
    [attachment] = await _attachments(desk, ticket_id)
    response = await _download(desk, attachment)
    assert response.headers["content-type"] == served  # no charset added: the bytes are the sender's
    assert response.content == b"caf\xe9;1\r\n"


@sqlite_only
@pytest.mark.parametrize(
    ("disposition", "fallback", "exact"),
    [
        ('filename="../../etc/passwd"', "passwd", "passwd"),
        ('filename="C:\\\\Windows\\\\evil.exe"', "evil.exe", "evil.exe"),
        # a quote, a semicolon and a parameter of its own, to break out of the header's value
        ("filename*=UTF-8''a%22%3B%20filename%3Devil.exe", "a__ filename=evil.exe", "a_; filename=evil.exe"),
        # CR LF and a header of its own; a right-to-left override that makes "exe.pdf" of "fdp.exe"
        ("filename*=UTF-8''x%0D%0ASet-Cookie%3A%20a%3Db.txt", "xSet-Cookie_ a=b.txt", "xSet-Cookie_ a=b.txt"),
        ("filename*=UTF-8''report%E2%80%AEfdp.exe", "report fdp.exe", "report fdp.exe"),
        ("filename*=UTF-8''%2E%2E%2F.hidden", "hidden", "hidden"),
        ("filename*=UTF-8''R%C3%A9sum%C3%A9%20%E2%84%962.pdf", "R_sum_ _2.pdf", "Résumé №2.pdf"),
    ],
)
async def test_hostile_filenames_are_cleaned_in_the_download(
    desk: Desk, disposition: str, fallback: str, exact: str
) -> None:
    file = (f"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; {disposition}", b"x")
    ticket_id = await desk.new_ticket(with_files(file))
    [attachment] = await _attachments(desk, ticket_id)
    header = (await _download(desk, attachment)).headers["content-disposition"]
    assert header == f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(exact, safe='')}"


@sqlite_only
async def test_an_attachment_without_a_name_downloads_under_its_id(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(with_files(("Content-Type: image/png\r\nContent-Disposition: attachment", b"p")))
    [attachment] = await _attachments(desk, ticket_id)
    header = (await _download(desk, attachment)).headers["content-disposition"]
    name = f"attachment-{attachment['id']}"
    assert header == f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"


async def test_an_attachment_of_another_ticket_is_not_found(desk: Desk) -> None:
    first = await desk.new_ticket(with_files(_pdf()))
    second = await desk.new_ticket(mail(subject="Another matter", sender="bo@shop.example"))
    [attachment] = await _attachments(desk, first)
    response = await desk.agent.get(f"/tickets/{second}/attachments/{attachment['id']}")
    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "detail": f"ticket {second} has no attachment {attachment['id']}"}
    assert (await desk.agent.get(f"/tickets/{second + 100}/attachments/{attachment['id']}")).status_code == 404


@sqlite_only
async def test_a_download_needs_a_token_and_any_agent_may_make_it(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(with_files(_pdf()))
    [attachment] = await _attachments(desk, ticket_id)
    anonymous = await _download(desk, attachment, desk.client())
    forged = await _download(desk, attachment, desk.client("not-a-token"))
    other = await _download(desk, attachment, await desk.new_agent())
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "Unauthorized")
    assert forged.status_code == 401
    assert PDF not in anonymous.content + forged.content
    assert (other.status_code, other.content) == (200, PDF)
    assert (await _download(desk, attachment, desk.admin)).status_code == 200


@sqlite_only
async def test_an_attachment_over_the_size_limit_is_listed_and_its_download_says_why(desk: Desk) -> None:
    big = b"B" * (MiB + 1)  # Desk.ingest stores attachments up to 1 MiB
    ticket_id = await desk.new_ticket(
        with_files(_pdf(), ("Content-Type: video/mp4\r\nContent-Disposition: attachment; filename=a.mp4", big))
    )
    small, large = await _attachments(desk, ticket_id)
    assert (small["stored"], large["stored"], large["size"]) == (True, False, MiB + 1)
    response = await _download(desk, large)
    assert response.status_code == 410
    assert response.json()["error"] == "Gone"
    assert f"({MiB + 1} bytes) was over the attachment size limit" in response.json()["detail"]
    assert "ROUTEDESK_INGEST__MAX_ATTACHMENT_BYTES" in response.json()["detail"]


@sqlite_only
async def test_attachments_of_a_message_kept_truncated_say_so(desk: Desk) -> None:
    raw = with_files(_pdf(), message_id="<cut@merchant.example>")
    batch = [prepare(raw[:-300], None, size=len(raw), max_attachment_bytes=MiB, truncated=True)]
    source = Source(mailbox_id=desk.mailbox_id, uidvalidity=None, own_addresses=frozenset({SUPPORT}))
    async with unit_of_work(desk.runtime.sessionmaker) as session:
        await ingest_batch(session, batch, source=source, settings=desk.settings, router=desk.runtime.router)
    ticket_id = await desk.ticket_of("<cut@merchant.example>")
    [attachment] = await _attachments(desk, ticket_id)
    response = await _download(desk, attachment)
    assert attachment["truncated"] is True
    assert response.status_code == 200
    assert response.headers["x-routedesk-truncated"] == "true"
    assert PDF.startswith(response.content) and len(response.content) < len(PDF)


@pytest.mark.parametrize(
    ("mail_type", "served"),
    [
        ("multipart/related", "application/octet-stream"),
        ("not a type", "application/octet-stream"),
        ("", "application/octet-stream"),
        ("image/svg+xml; charset=utf-8", "application/octet-stream"),
        ("application/vnd.ms-excel", "application/vnd.ms-excel"),
        ("image/jpeg", "image/jpeg"),
    ],
)
def test_the_served_type_is_the_mails_unless_it_is_active_or_malformed(mail_type: str, served: str) -> None:
    assert served_type(mail_type) == served


# -- replies with files --------------------------------------------------------------------------------


async def _claimed_ticket(desk: Desk) -> int:
    ticket_id = await desk.new_ticket(mail(sender="Ana Silva <ana@merchant.example>"))
    assert (await desk.agent.post("/queues/triage/claim")).json()["id"] == ticket_id
    return ticket_id


async def _outbound_files(desk: Desk) -> int:
    query = select(func.count()).select_from(Attachment).join(Message).where(Message.direction == "outbound")
    return int(await desk.scalar(query))


async def _replies(desk: Desk) -> int:
    return int(await desk.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == "reply")))


async def test_a_reply_with_files_is_delivered_with_them_as_mime_parts(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    csv = "id;montant\n1;12,50 €\n".encode("latin-1", "replace")
    response = await desk.agent.post(
        f"/tickets/{ticket_id}/reply",
        data={"text": "Here are the statement and the receipt.", "status": "solved"},
        files=[
            ("files", ("statement.pdf", PDF, "application/pdf")),
            ("files", ("Relevé №7.csv", csv, "text/csv")),
        ],
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["ticket"]["status"] == "solved"
    assert await desk.send_due() >= 1
    [delivered] = [m for m in await desk.smtp.wait_for(2) if m.message_id == result["message_id"]]
    message = delivered.message
    assert message.get_content_type() == "multipart/mixed"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().strip() == "Here are the statement and the receipt."
    parts = [(p.get_filename(), p.get_content_type(), p.get_payload(decode=True)) for p in message.iter_attachments()]
    assert parts == [("statement.pdf", "application/pdf", PDF), ("Relevé №7.csv", "text/csv", csv)]
    # Stored on the outbound message like inbound files: listed on the ticket and downloadable.
    sent = [a for a in await _attachments(desk, ticket_id) if a["filename"] == "statement.pdf"]
    assert [(a["content_type"], a["size"], a["stored"]) for a in sent] == [("application/pdf", len(PDF), True)]
    assert (await _download(desk, sent[0])).content == PDF


@sqlite_only
async def test_a_multipart_reply_without_files_sends_plain_text(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    response = await desk.agent.post(f"/tickets/{ticket_id}/reply", data={"text": "No files today."})
    assert response.status_code == 200, response.text
    outbox = await desk.scalar(select(Outbox).where(Outbox.id == response.json()["outbox_id"]))
    assert b"Content-Type: text/plain; charset=utf-8" in outbox.raw and b"multipart" not in outbox.raw
    assert response.json()["ticket"]["status"] == "pending"


@sqlite_only
async def test_an_uploaded_filename_is_cleaned_before_it_is_stored_and_sent(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    response = await desk.agent.post(
        f"/tickets/{ticket_id}/reply",
        data={"text": "See attached."},
        files=[("files", ("..\\..\\x\u202eevil\x7f.txt", b"hi", "text/html"))],
    )
    assert response.status_code == 200, response.text
    [stored] = await desk.all(select(Attachment))
    assert (stored.filename, stored.content_type) == ("x evil .txt", "text/html")
    outbox = await desk.scalar(select(Outbox).where(Outbox.id == response.json()["outbox_id"]))
    assert b'filename="x evil .txt"' in outbox.raw


@sqlite_only
@pytest.mark.parametrize(
    ("limits", "files", "status", "detail"),
    [
        ({"max_reply_files": 2}, [b"a", b"b", b"c"], 422, "a reply carries at most 2 files; this one has 3"),
        (
            {"max_reply_file_bytes": 100},
            [b"a" * 101],
            413,
            "'f0.bin' has 101 bytes, over the limit of 100 bytes per file",
        ),
        (
            {"max_reply_bytes": 150},
            [b"a" * 100, b"b" * 100],
            413,
            "the reply's files have 200 bytes together, over the limit of 150 bytes per reply",
        ),
    ],
)
async def test_a_reply_over_an_attachment_limit_is_refused_and_queues_nothing(
    desk: Desk, limits: dict[str, int], files: list[bytes], status: int, detail: str
) -> None:
    ticket_id = await _claimed_ticket(desk)
    _with_limits(desk, **limits)
    response = await desk.agent.post(
        f"/tickets/{ticket_id}/reply",
        data={"text": "Files."},
        files=[("files", (f"f{i}.bin", content, "application/octet-stream")) for i, content in enumerate(files)],
    )
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert (await _replies(desk), await _outbound_files(desk)) == (0, 0)


@sqlite_only
async def test_the_reply_route_admits_a_body_as_large_as_the_attachment_limits(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    three_mb = bytes(range(256)) * (3 * MiB // 256)  # over the 1 MiB every other agent route takes
    note = await desk.agent.post(
        f"/tickets/{ticket_id}/notes", content=three_mb, headers={"Content-Type": "application/json"}
    )
    reply = await desk.agent.post(
        f"/tickets/{ticket_id}/reply",
        data={"text": "Big file."},
        files=[("files", ("scan.tiff", three_mb, "image/tiff"))],
    )
    assert note.status_code == 413
    assert reply.status_code == 200, reply.text
    [stored] = await desk.all(select(Attachment))
    assert stored.content == three_mb


def test_the_reply_body_limit_follows_the_attachment_limits() -> None:
    default = Settings()
    raised = Settings(attachments={"max_reply_bytes": 200 * MiB})
    assert default.http.max_body_for("/api/v1/tickets/7/reply") > default.attachments.max_reply_bytes
    assert raised.http.max_body_for("/api/v1/tickets/7/reply") > 200 * MiB
    assert raised.http.max_body_for("/api/v1/tickets/7/notes") == MiB
    with pytest.raises(ValueError, match="cannot hold a reply with the attachments"):
        Settings(http={"max_reply_body_bytes": 2 * MiB})


@sqlite_only
@pytest.mark.parametrize(
    ("data", "files", "detail"),
    [
        ({"text": "x"}, [("attachment", ("a.txt", b"a", "text/plain"))], "files go in the form field 'files'"),
        ({"text": "x"}, [("files", ("", b"a", "text/plain"))], "files"),
        ({"text": "x", "colour": "red"}, [], "colour"),
        ({"status": "solved"}, [("files", ("a.txt", b"a", "text/plain"))], "a reply needs text or a macro_id"),
        ({"text": "x", "status": "lost"}, [], "status"),
    ],
)
async def test_a_malformed_multipart_reply_is_refused(
    desk: Desk, data: dict[str, str], files: list[Any], detail: str
) -> None:
    ticket_id = await _claimed_ticket(desk)
    response = await desk.agent.post(f"/tickets/{ticket_id}/reply", data=data, files=files)
    assert response.status_code == 422, response.text
    assert detail in response.text
    assert await _replies(desk) == 0


@sqlite_only
async def test_a_reply_upload_needs_a_token(desk: Desk) -> None:
    ticket_id = await _claimed_ticket(desk)
    response = await desk.client().post(
        f"/tickets/{ticket_id}/reply", data={"text": "x"}, files=[("files", ("a.txt", b"a", "text/plain"))]
    )
    assert response.status_code == 401
    assert await _replies(desk) == 0
