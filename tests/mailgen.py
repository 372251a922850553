"""Test mail written for these tests: small, explicit, one behaviour each."""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

_counter = itertools.count(1)


def mail(
    *,
    subject: str = "Payout missing",
    body: str = "Hello, my payout from Monday has not arrived. Regards, Ana",
    sender: str = "ana@merchant.example",
    to: str = "support@routedesk.example",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
    cc: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 2, 9, next(_counter) % 60, tzinfo=UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="merchant.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def bounce(original_message_id: str, *, to: str = "support@routedesk.example") -> bytes:
    """A delivery status notification (RFC 3464) about one of our messages."""
    boundary = "dsn-boundary-42"
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.merchant.example>\r\n"
        f"To: {to}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{make_msgid(domain='mx.merchant.example')[1:-1]}>\r\n"
        f"Auto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        f"\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: text/plain\r\n\r\n"
        f"The mail system could not deliver your message.\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.merchant.example\r\n\r\n"
        f"Final-Recipient: rfc822; gone@merchant.example\r\n"
        f"Action: failed\r\n"
        f"Status: 5.1.1\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: text/rfc822-headers\r\n\r\n"
        f"From: support@routedesk.example\r\n"
        f"To: gone@merchant.example\r\n"
        f"Subject: Re: Payout missing\r\n"
        f"Message-ID: {original_message_id}\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def with_files(
    *files: tuple[str, bytes],
    subject: str = "Files attached",
    body: str = "Please see the attached files.",
    sender: str = "Ana Silva <ana@merchant.example>",
    to: str = "support@routedesk.example",
    message_id: str | None = None,
) -> bytes:
    """A multipart/mixed mail: the text, then each file as (its MIME headers as written, its bytes),
    base64-encoded. The headers are taken as given, so a test can write hostile ones."""
    boundary = "files-boundary-7"
    parts = [f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n".encode()]
    for headers, content in files:
        encoded = base64.encodebytes(content).replace(b"\n", b"\r\n")
        parts.append(f"{headers}\r\nContent-Transfer-Encoding: base64\r\n\r\n".encode() + encoded)
    head = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: {format_datetime(datetime(2026, 11, 2, 10, next(_counter) % 60, tzinfo=UTC))}\r\n"
        f"Message-ID: {message_id or make_msgid(domain='merchant.example')}\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
    ).encode()
    delimiter = f"--{boundary}\r\n".encode()
    return head + b"".join(delimiter + part + b"\r\n" for part in parts) + f"--{boundary}--\r\n".encode()
