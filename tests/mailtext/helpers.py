from __future__ import annotations

import base64
import textwrap
from datetime import timedelta

from mailtext.message import ParsedMessage


def eml(text: str, *, encoding: str = "utf-8") -> bytes:
    """A message written as an indented text block, sent with CRLF line ends as on the wire."""
    return textwrap.dedent(text).lstrip("\n").replace("\n", "\r\n").encode(encoding)


def b64(data: bytes) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


REPLY = eml(
    """\
    From: "Jane Doe" <Jane.Doe@Merchant.example>
    To: Support <support@payhub.example>
    Subject: Re: Payout missing
    Date: Tue, 3 Mar 2026 10:15:00 +0100
    Message-ID: <reply-1@merchant.example>
    In-Reply-To: <out-7@payhub.example>
    References: <first-1@merchant.example> <out-7@payhub.example>
    MIME-Version: 1.0
    Content-Type: text/plain; charset=utf-8

    Hi, the payout has still not arrived. Could you check again?

    Jane

    On Mon, 2 Mar 2026 at 09:00, PayHub Support <support@payhub.example> wrote:
    > Thank you, we are looking into the payout.
    > Best regards, Lena
    """
)


def assert_well_formed(parsed: ParsedMessage) -> None:
    """What every consumer may rely on, whatever the input was."""
    strings = [
        parsed.subject,
        parsed.text,
        parsed.new_text,
        parsed.headers_text,
        *parsed.to,
        *parsed.cc,
        *parsed.in_reply_to,
        *parsed.references,
        *parsed.bounced_message_ids,
        *parsed.defects,
        parsed.content_type,
        *[a.content_type for a in parsed.attachments],
    ]
    optional = [parsed.message_id, parsed.from_address, parsed.from_name, parsed.reply_to, parsed.html]
    optional += [a.filename for a in parsed.attachments] + [a.content_id for a in parsed.attachments]
    for value in strings + [v for v in optional if v is not None]:
        assert isinstance(value, str)
        assert "\x00" not in value
        value.encode("utf-8")  # no lone surrogates: storable in any database
    assert parsed.date is None or parsed.date.utcoffset() == timedelta(0)
    assert parsed.auto in (None, "auto_reply", "bounce", "bulk")
    assert parsed.bounced_message_ids == [] or parsed.auto == "bounce"
    for attachment in parsed.attachments:
        assert attachment.content is None or len(attachment.content) == attachment.size
        assert attachment.content_type == attachment.content_type.lower()
    # what the message and attachment tables' sized columns take
    assert all(len(i) <= 998 for i in [parsed.message_id or "", *parsed.in_reply_to, *parsed.references])
    addresses = [parsed.from_address or "", parsed.reply_to or "", *parsed.to, *parsed.cc]
    assert all(len(address) <= 320 for address in addresses)
    for attachment in parsed.attachments:
        assert len(attachment.filename or "") <= 255
        assert len(attachment.content_type) <= 255
        assert len(attachment.content_id or "") <= 255
    # the safety net in parse_message must never be what produced the record
    assert not any(defect.startswith("parser error") for defect in parsed.defects), parsed.defects
