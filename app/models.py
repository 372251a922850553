"""Every ORM model, imported once so that metadata and Alembic see the whole schema."""

from app.inbox.models import Attachment, Mailbox, MailboxState, Message
from app.routing.models import Area, Job, Label, ModelVersion, RoutingRule
from app.tickets.models import Customer, Participant, Ticket, TicketEvent

__all__ = [
    "Area",
    "Attachment",
    "Customer",
    "Job",
    "Label",
    "Mailbox",
    "MailboxState",
    "Message",
    "ModelVersion",
    "Participant",
    "RoutingRule",
    "Ticket",
    "TicketEvent",
]
