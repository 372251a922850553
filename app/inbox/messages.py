"""The inbox's messages as rows: mail fetched from a mailbox (with its attachments), stored by
ingest's batch, and mail sent from one, stored with the outbox row that sends it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import RowWriter, utcnow
from app.inbox.models import Attachment, AttachmentRow, Message, MessageRow
from app.inbox.parsing import Incoming
from app.mail.compose import OutgoingFile
from app.tickets.models import CustomerRow, Ticket, TicketRow
from mailtext.message import ParsedMessage
from mailtext.trust import SenderTrust

MESSAGE = Message.__table__
ATTACHMENT = Attachment.__table__


def add_failed(
    writer: RowWriter, item: Incoming, *, mailbox_id: int | None, uidvalidity: int | None, error: str
) -> None:
    """A message that could not be parsed or stored: kept raw, for an admin to look into."""
    row = MessageRow(
        direction="inbound",
        mailbox_id=mailbox_id,
        uidvalidity=uidvalidity,
        uid=item.uid,
        raw_sha256=item.sha256,
        raw=item.raw,
        size=item.size,
        parse_status="failed",
        parse_error=error[:4000],
        created_at=utcnow(),
    )
    if item.parsed is not None:  # parsed, but the database refused it: the verdict is kept with the raw mail
        set_trust(row, item.parsed.trust)
    writer.add(MESSAGE, row)


def set_trust(row: MessageRow, trust: SenderTrust) -> None:
    """A message's sender-trust columns, from its verdict (values fitted to their columns by the writer);
    none for a verdict not assessed (nothing configured to assess with)."""
    if not trust.assessed:
        return
    row["trust_verdict"] = str(trust.verdict)
    row["trust_reason"] = trust.reason
    row["trust_spf"] = trust.spf
    row["trust_dkim"] = trust.dkim
    row["trust_dkim_domain"] = trust.dkim_domain
    row["trust_dmarc"] = trust.dmarc
    row["trust_aligned"] = trust.aligned


def add_inbound(
    writer: RowWriter,
    item: Incoming,
    parsed: ParsedMessage,
    *,
    mailbox_id: int | None,
    uidvalidity: int | None,
    customer: CustomerRow | None,
    ticket: TicketRow | None,
    now: datetime,
) -> None:
    """A parsed message with its attachments, on its ticket (None: automatic mail that opened none)."""
    defects = list(parsed.defects)
    if item.truncated:
        defects.insert(0, f"message of {item.size} bytes truncated to the size limit")
    row = MessageRow(
        direction="inbound",
        mailbox_id=mailbox_id,
        uidvalidity=uidvalidity,
        uid=item.uid,
        message_id=parsed.message_id,
        raw_sha256=item.sha256,
        raw=item.raw,
        size=item.size,
        parse_status="too_large" if item.truncated else "empty" if parsed.empty else "ok",
        defects="\n".join(defects) or None,
        subject=parsed.subject,
        from_address=parsed.from_address,
        from_name=parsed.from_name,
        to_addresses=", ".join(parsed.to),
        cc_addresses=", ".join(parsed.cc),
        sent_at=parsed.date,
        in_reply_to=" ".join(parsed.in_reply_to) or None,
        references=" ".join(parsed.references) or None,
        body_text=parsed.text,
        body_html=parsed.html,
        new_text=parsed.new_text,
        headers_text=parsed.headers_text,
        auto=parsed.auto,
        created_at=now,
        customer_id=customer,
        ticket_id=ticket,
    )
    set_trust(row, parsed.trust)
    message = writer.add(MESSAGE, row)
    for attachment in parsed.attachments:
        writer.add(
            ATTACHMENT,
            AttachmentRow(
                message_id=message,
                filename=attachment.filename,
                content_type=attachment.content_type,
                size=attachment.size,
                content_id=attachment.content_id,
                inline=attachment.inline,
                content=attachment.content,
            ),
        )


def add_outbound_row(writer: RowWriter, values: MessageRow, *, ticket: TicketRow) -> MessageRow:
    """An outbound message of a ticket the batch opened (an acknowledgement), with the batch's rows."""
    values["ticket_id"] = ticket
    return writer.add(MESSAGE, values)


def add_outbound(
    session: AsyncSession, values: MessageRow, *, ticket: Ticket, files: Sequence[OutgoingFile] = ()
) -> Message:
    """An outbound message of a ticket, with the files it carries as its attachment rows (as an inbound
    message's are), in the session's transaction."""
    attachments = [
        Attachment(
            filename=file.filename,
            content_type=file.content_type,
            size=len(file.content),
            content_id=None,
            inline=False,
            content=file.content,
        )
        for file in files
    ]
    message = Message(**values, ticket=ticket, attachments=attachments)
    session.add(message)
    return message
