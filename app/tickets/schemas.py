from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from app.sla.models import Priority
from app.tickets.models import TicketStatus
from app.validation import Line, OptionalText, Text

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class QueueRead(BaseModel):
    area: str
    title: str
    open: int
    unassigned: int
    breaching: int  # a running SLA clock is past its due time
    at_risk: int  # due within the area's warning window (sla_warning_minutes)
    oldest_waiting_at: datetime | None
    oldest_waiting_ticket_id: int | None
    next_due_at: datetime | None = None  # the nearest SLA due time of a waiting ticket: claimed first
    archived: bool = False  # listed while it still holds unsolved tickets; nothing new arrives


class TicketSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    reference: str
    subject: str
    status: TicketStatus
    area: str
    customer_email: str | None
    assignee: str | None
    routed_by: str
    route_probability: float | None
    priority: Priority
    created_at: datetime
    updated_at: datetime
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    sla_due_at: datetime | None  # the nearest due time of its running SLA clocks, any metric


class AttachmentRead(BaseModel):
    id: int
    filename: str | None
    content_type: str  # as the mail said; the download may be served as application/octet-stream
    size: int
    # False: over the attachment size limit when it arrived, only its metadata kept (the download is a 410).
    stored: bool
    # The message was over the message size limit and kept truncated: the file may end early.
    truncated: bool
    url: str


class TrustRead(BaseModel):
    """Who sent an inbound message, as far as the mail system can tell (issue 14): `verified`,
    `unverified` or `failed`, why, and the results it rests on."""

    verdict: str
    reason: str | None
    spf: str | None
    dkim: str | None
    dkim_domain: str | None
    dmarc: str | None
    aligned: bool | None


class MessageRead(BaseModel):
    id: int
    direction: str
    message_id: str | None
    from_address: str | None
    from_name: str | None
    to: str
    cc: str
    subject: str
    sent_at: datetime | None
    created_at: datetime
    text: str
    # Sanitised at ingest (nh3): scripts, handlers and remote loads removed. Safe to show.
    html: str | None
    auto: str | None
    parse_status: str
    attachments: list[AttachmentRead]
    delivery: str | None = None  # outbound: queued | sending | sent | failed
    # Inbound mail's sender trust; None for outbound mail and mail stored before it was assessed.
    trust: TrustRead | None = None


class EventRead(BaseModel):
    id: int
    kind: str
    actor: str
    data: dict[str, Any]
    note: str | None
    created_at: datetime


class RoutingRead(BaseModel):
    area: str
    routed_by: str
    probability: float | None
    model_version: str | None


class TicketRead(TicketSummary):
    routing: RoutingRead
    previous_ticket_id: int | None
    # Opened by a message whose sender failed authentication, claiming `spoof_of_ticket_id` (issue 14).
    possible_spoof: bool = False
    spoof_of_ticket_id: int | None = None
    messages: list[MessageRead]
    events: list[EventRead]


class ReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: OptionalText = Field(None, max_length=50_000)
    macro_id: int | None = Field(None, ge=1, le=2**31 - 1)
    status: TicketStatus = TicketStatus.PENDING
    # The newest message of the thread the replier had seen (GET /tickets/{id}'s last message id): when
    # someone replied after it, the reply is refused with 409 and nothing is sent (the collision guard).
    seen_message_id: int | None = Field(None, ge=1, le=2**31 - 1)


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text = Field(min_length=1, max_length=20_000)


class StatusUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: TicketStatus


class Reroute(BaseModel):
    model_config = ConfigDict(extra="forbid")

    area: Line = Field(min_length=1, max_length=64)
    # By default a re-routed ticket leaves its assignee for the new area's queue; its assignee or an
    # admin may keep it assigned.
    keep_assignee: bool = False


class RerouteResult(TicketSummary):
    # True when this re-route took the ticket from its assignee (`assignee` is then None).
    unassigned: bool


class ReplyResult(BaseModel):
    ticket: TicketSummary
    outbox_id: int
    message_id: str
    # What the agent should know about whom they answer: the ticket is a possible spoof, or the latest
    # customer message's sender is unverified (issue 14).
    warnings: list[str] = []


class StatusResult(TicketSummary):
    warnings: list[str] = []  # as ReplyResult's
