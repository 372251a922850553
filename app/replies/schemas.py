from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from app.replies.models import OutboxStatus


class OutboxRead(BaseModel):
    """An outbox row without its bytes: what was sent, or why it was not."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    status: OutboxStatus
    ticket_id: int | None
    mailbox_id: int | None
    mail_from: str
    rcpt_to: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None


class OutboxRetried(BaseModel):
    """The rows put back in the queue, due now."""

    retried: list[int]
