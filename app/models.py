"""Every ORM model, imported once so that metadata and Alembic see the whole schema."""

from app.console.models import ConsoleSession, TicketView
from app.csat.models import CsatSurvey, Denominator
from app.health.models import WorkerHeartbeat
from app.inbox.models import Attachment, Mailbox, MailboxState, Message
from app.kb.models import Article, ArticleDay, ArticleSuggestion, KbVersion
from app.macros.models import Macro, MacroUse
from app.replies.models import Outbox
from app.reports.models import TicketFact
from app.routing.models import Area, Job, Label, ModelActivation, ModelVersion, RoutingRule
from app.sla.models import Holiday, Schedule, SlaClock, SlaEvent, SlaPolicy
from app.tickets.models import Customer, Participant, Ticket, TicketEvent
from app.users.models import User

__all__ = [
    "Area",
    "Article",
    "ArticleDay",
    "ArticleSuggestion",
    "Attachment",
    "ConsoleSession",
    "CsatSurvey",
    "Customer",
    "Denominator",
    "Holiday",
    "Job",
    "KbVersion",
    "Label",
    "Macro",
    "MacroUse",
    "Mailbox",
    "MailboxState",
    "Message",
    "ModelActivation",
    "ModelVersion",
    "Outbox",
    "Participant",
    "RoutingRule",
    "Schedule",
    "SlaClock",
    "SlaEvent",
    "SlaPolicy",
    "Ticket",
    "TicketEvent",
    "TicketFact",
    "TicketView",
    "User",
    "WorkerHeartbeat",
]
