"""Automatic mail: auto-replies, bounces (with the ids of the messages they bounce) and bulk mail."""

from __future__ import annotations

import re

from mailtext.headers import id_list
from mailtext.mime import Walk

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


def classify(first: dict[str, str], walk: Walk, subject: str, sender: str | None) -> str | None:
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


def bounced_ids(first: dict[str, str], walk: Walk, text: str) -> list[str]:
    found = list(walk.bounce_ids)
    for header in ("original-message-id", "x-original-message-id"):
        found.extend(id_list(first.get(header)))
    for status in walk.status_text:
        for match in _ORIGINAL_ID.finditer(status):
            found.extend(id_list(match.group(1)))
    if not found:
        # Bounces that quote the original's headers in plain text (Gmail, qmail) name it only there.
        found = _BODY_MESSAGE_ID.findall(text)
    unique: list[str] = []
    for item in found:
        if item not in unique:
            unique.append(item)
    return unique
