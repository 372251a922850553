"""Every ORM model, imported once so that metadata and Alembic see the whole schema."""

from app.inbox.models import Attachment, Mailbox, MailboxState, Message
from app.routing.models import Area
from app.tickets.models import Customer, Participant, Ticket, TicketEvent

__all__ = [
    "Area",
    "Attachment",
    "Customer",
    "Mailbox",
    "MailboxState",
    "Message",
    "Participant",
    "Ticket",
    "TicketEvent",
]
