"""Outbound mail: headers fixed at enqueue time so that a resend is the very same message."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid


def new_message_id(from_address: str) -> str:
    domain = from_address.rpartition("@")[2] or "routedesk.invalid"
    return make_msgid(domain=domain)[1:-1]


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
    msg = EmailMessage(policy=SMTP)
    msg["From"] = formataddr((from_name or "", from_address))
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        # RFC 5322 3.6.4: the parent's References followed by the parent; keep the header bounded.
        refs = list(dict.fromkeys(references))
        if len(refs) > 20:
            refs = [refs[0], *refs[-19:]]
        msg["References"] = " ".join(f"<{r}>" for r in refs)
    if automatic:
        # RFC 3834: tell auto-responders not to answer, and Exchange not to send OOF replies.
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(body)
    return msg.as_bytes()
