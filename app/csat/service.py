"""CSAT surveys: when a ticket's resolution cycle is due one, who is not asked (and why), the survey
mail with its signed links, and the customer's rating.

A resolution cycle is a solve of a ticket: `ticket.solved_at`. Its survey is due once the area's
`survey_delay_minutes` have passed, if the ticket is still solved at that time (a ticket reopened
meanwhile and solved again is a new cycle with a new delay). Each cycle that reaches its survey time
gets one `csat_survey` row, sent or skipped with its reason, written in the transaction that queues
the mail in the outbox: the row's unique (ticket, cycle) and (ticket, solved_at) are what lets two
schedulers run at once, or one run again after a kill, without a second survey for a cycle.

The links carry a token signed for (ticket, cycle) by `Runtime.links`: GET shows a page, POST records.
A rating can be given and changed for `csat.rating_days` after the survey was sent, while the cycle is
the ticket's current one (not reopened since)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.csat import repository
from app.csat.models import CsatSurvey, Rating, SurveyStatus
from app.inbox.models import Mailbox
from app.links import LinkError, LinkSigner
from app.mail.addresses import address_problem, first_name
from app.replies import service as replies
from app.routing import service as routing
from app.tickets import lifecycle
from app.tickets import service as tickets
from app.tickets.models import Customer, Ticket, TicketStatus

log = structlog.get_logger()

SURVEY = "csat-survey"
OPT_OUT = "csat-opt-out"
# An opt-out link works for a year: long after the survey it came in, the customer may still want out.
OPT_OUT_DAYS = 365
# A comment's longest, in characters: percent-encoded by the browser, 1,000 characters of 4-byte UTF-8 are
# 12 KB, inside the 16 KiB that a request body outside /api may have (http.max_other_body_bytes).
COMMENT_MAX = 1000

SURVEY_BODY = (
    "Hello{name},\n\n"
    "Your request {reference} ({subject}) was solved. How did we do?\n\n"
    "Good: {good}\n"
    "Bad:  {bad}\n\n"
    "Each link opens a page where you can add a comment and send your answer. You can change it for "
    "{days} days.\n\n"
    "{team}\n\n"
    "To get no more of these surveys: {opt_out}\n"
)


@dataclass
class SurveyPass:
    """What one pass of the scheduler wrote: surveys queued, and cycles skipped by reason."""

    sent: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    # Cycles another scheduler wrote first: counted, nothing written.
    taken: int = 0

    @property
    def written(self) -> int:
        return self.sent + sum(self.skipped.values())


def _automatic(thread: list[tuple[str, str | None]]) -> bool:
    """Whether the customer's side of the thread is automatic mail (its last inbound message is bulk,
    an auto-reply or a bounce): a survey must never answer automatic mail."""
    inbound = [auto for direction, auto in thread if direction == "inbound"]
    return bool(inbound) and inbound[-1] is not None


async def send_due(
    session: AsyncSession, *, settings: Settings, links: LinkSigner, now: datetime, limit: int | None = None
) -> SurveyPass:
    """Queue the survey of every resolution cycle due by `now` (at most `limit`, the batch), or record
    why it does not go. Flushes only: the caller's unit of work commits the rows and the mail together."""
    found = SurveyPass()
    csat = settings.csat
    limit = limit or csat.batch
    asked_since = now - timedelta(days=csat.survey_per_customer_days)
    asked_now: set[int] = set()
    for area in await routing.list_areas(session):
        until = now - timedelta(minutes=area.survey_delay_minutes)
        due = await repository.due_tickets(
            session,
            area_id=area.id,
            solved_from=until - timedelta(days=csat.survey_late_days),
            solved_until=until,
            limit=limit - found.written - found.taken,
        )
        if not due:
            continue
        for ticket_id, solved_at in due:
            ticket = await tickets.get_ticket(session, ticket_id)
            if ticket.status != TicketStatus.SOLVED or ticket.solved_at != solved_at:
                continue
            customer = await session.get(Customer, ticket.customer_id) if ticket.customer_id is not None else None
            mailbox = await session.get(Mailbox, ticket.mailbox_id) if ticket.mailbox_id is not None else None
            messages = await tickets.thread(session, ticket.id)
            reason = (
                # Opened by mail whose sender failed authentication: whoever wrote it is not to be asked.
                "possible_spoof"
                if ticket.possible_spoof
                else "no_public_url"
                if settings.public_url is None
                else await _skip_reason(
                    session,
                    customer,
                    mailbox,
                    thread=[(m.direction, m.auto) for m in messages],
                    since=asked_since,
                    asked_now=asked_now,
                )
            )
            cycle = await repository.next_cycle(session, ticket.id)
            survey_id = await repository.insert_survey(
                session,
                {
                    "ticket_id": ticket.id,
                    "cycle": cycle,
                    "solved_at": solved_at,
                    "customer_id": ticket.customer_id,
                    "status": SurveyStatus.SKIPPED if reason else SurveyStatus.SENT,
                    "skip_reason": reason,
                    "sent_at": None if reason else now,
                    "sent_area_id": ticket.area_id,
                    "sent_assignee_id": ticket.assignee_id,
                    "created_at": now,
                },
            )
            if survey_id is None:
                found.taken += 1
                continue
            if reason is not None:
                found.skipped[reason] = found.skipped.get(reason, 0) + 1
                continue
            assert customer is not None and mailbox is not None
            asked_now.add(customer.id)
            await replies.enqueue(
                session,
                ticket,
                kind="survey",
                body=survey_body(
                    ticket,
                    customer,
                    cycle=cycle,
                    links=links,
                    settings=settings,
                ),
                mailbox=mailbox,
                to=[customer.email],
                now=now,
                thread=messages,
            )
            found.sent += 1
        if found.written + found.taken >= limit:
            break
    await session.flush()
    return found


async def _skip_reason(
    session: AsyncSession,
    customer: Customer | None,
    mailbox: Mailbox | None,
    *,
    thread: list[tuple[str, str | None]],
    since: datetime,
    asked_now: set[int],
) -> str | None:
    """Why a due survey does not go, or None. The order is the order of the rules' weight: automatic
    mail and unattended addresses before the customer's own wish, that before the rate limit."""
    if customer is None or mailbox is None or not mailbox.address:
        return "no_address"
    if _automatic(thread):
        return "automatic_mail"
    if address_problem(customer.email) is not None:
        return "invalid_address"
    own = frozenset(a.lower() for a in (mailbox.address, mailbox.imap_username) if a and "@" in a)
    if replies.is_unattended_address(customer.email.lower(), own):
        return "unattended_address"
    if customer.survey_opt_out:
        return "opted_out"
    if customer.id in asked_now or customer.id in await repository.surveyed_since(session, [customer.id], since=since):
        return "rate_limited"
    return None


def survey_url(settings: Settings, token: str, rating: str | None = None) -> str:
    assert settings.public_url is not None  # a survey is skipped without it
    base = settings.public_url
    return f"{base}/survey/{token}" + (f"?rating={rating}" if rating else "")


def survey_body(ticket: Ticket, customer: Customer, *, cycle: int, links: LinkSigner, settings: Settings) -> str:
    token = links.sign(SURVEY, {"t": ticket.id, "c": cycle})
    opt_out = links.sign(OPT_OUT, {"c": customer.id})
    first = first_name(customer.name) or ""
    subject = " ".join(ticket.subject.split())[:120] or "your request"
    days = settings.csat.rating_days
    return SURVEY_BODY.format(
        name=f" {first}" if first else "",
        reference=ticket.reference,
        subject=subject,
        good=survey_url(settings, token, "good"),
        bad=survey_url(settings, token, "bad"),
        days=f"{days:g}",
        team=settings.tickets.team_name,
        opt_out=f"{settings.public_url}/survey/opt-out/{opt_out}",
    )


# --- The customer's side: the link's page and its form ------------------------------------------------


class SurveyProblem(Exception):
    """A survey link that cannot be honoured, with the page's status and words."""

    def __init__(self, status: int, heading: str, message: str) -> None:
        super().__init__(heading)
        self.status = status
        self.heading = heading
        self.message = message


INVALID = SurveyProblem(
    400, "This link is not valid", "The address is not a survey link we sent. Open the link from the email again."
)
FORGED = SurveyProblem(
    403, "This link is not valid", "The link was changed or was not sent by us. Open the link from the email again."
)
CLOSED = SurveyProblem(
    410,
    "This survey has closed",
    "Answers to this survey are no longer taken: its time is over, or the request was reopened since. "
    "If you still need help, reply to our last email.",
)


@dataclass(frozen=True, slots=True)
class SurveyView:
    reference: str
    subject: str
    rating: str | None
    comment: str
    closes_at: datetime


def _problem(exc: LinkError) -> SurveyProblem:
    return {"malformed": INVALID, "forged": FORGED, "expired": CLOSED}[exc.reason]


def _ids(payload: dict[str, int | str]) -> tuple[int, int]:
    ticket_id, cycle = payload.get("t"), payload.get("c")
    if not isinstance(ticket_id, int) or not isinstance(cycle, int) or set(payload) != {"t", "c"}:
        raise FORGED
    return ticket_id, cycle


async def _open(
    session: AsyncSession, token: str, *, links: LinkSigner, settings: Settings, now: datetime, for_update: bool
) -> tuple[CsatSurvey, Ticket, datetime]:
    days = timedelta(days=settings.csat.rating_days)
    try:
        payload = links.verify(SURVEY, token, max_age=days)
    except LinkError as exc:
        raise _problem(exc) from None
    ticket_id, cycle = _ids(payload)
    survey = await repository.survey(session, ticket_id, cycle, for_update=for_update)
    if survey is None or survey.status != SurveyStatus.SENT or survey.sent_at is None:
        raise CLOSED
    closes_at = survey.sent_at + days
    ticket = await tickets.get_ticket(session, ticket_id, for_update=for_update)
    current = ticket.status == TicketStatus.SOLVED and ticket.solved_at == survey.solved_at
    if now >= closes_at or not current:
        raise CLOSED
    return survey, ticket, closes_at


def _view(survey: CsatSurvey, ticket: Ticket, closes_at: datetime, *, choice: str | None = None) -> SurveyView:
    return SurveyView(
        reference=ticket.reference,
        subject=ticket.subject,
        rating=choice if choice in (Rating.GOOD, Rating.BAD) else (str(survey.rating) if survey.rating else None),
        comment=survey.comment or "",
        closes_at=closes_at,
    )


async def show(
    session: AsyncSession, token: str, *, choice: str | None, links: LinkSigner, settings: Settings, now: datetime
) -> SurveyView:
    """What the survey page shows: the choice the link asked for pre-selected (or the rating given).
    Reads only: a mail scanner that follows the link rates nothing."""
    survey, ticket, closes_at = await _open(session, token, links=links, settings=settings, now=now, for_update=False)
    return _view(survey, ticket, closes_at, choice=choice)


async def rate(
    session: AsyncSession,
    token: str,
    *,
    rating: Literal["good", "bad"],
    comment: str,
    links: LinkSigner,
    settings: Settings,
    now: datetime,
) -> SurveyView:
    """Record (or change) the customer's rating of the cycle, with the ticket's area and assignee now;
    the ticket gets a `csat` event (a bad one with a note for the assignee)."""
    survey, ticket, closes_at = await _open(session, token, links=links, settings=settings, now=now, for_update=True)
    survey.rating = Rating(rating)
    survey.comment = comment or None
    survey.rated_at = now
    survey.area_id = ticket.area_id
    survey.assignee_id = ticket.assignee_id
    await lifecycle.csat_received(session, ticket, cycle=survey.cycle, rating=rating, comment=comment or None, now=now)
    log.info("csat_rated", ticket=ticket.id, cycle=survey.cycle, rating=rating)
    return _view(survey, ticket, closes_at)


async def check_opt_out(session: AsyncSession, token: str, *, links: LinkSigner) -> int:
    try:
        payload = links.verify(OPT_OUT, token, max_age=timedelta(days=OPT_OUT_DAYS))
    except LinkError as exc:
        raise _problem(exc) from None
    customer_id = payload.get("c")
    if not isinstance(customer_id, int) or set(payload) != {"c"}:
        raise FORGED
    return customer_id


async def opt_out(session: AsyncSession, token: str, *, links: LinkSigner) -> None:
    customer_id = await check_opt_out(session, token, links=links)
    if not await tickets.opt_out_of_surveys(session, customer_id):
        raise CLOSED
    log.info("csat_opted_out", customer=customer_id)


async def ratings_of(session: AsyncSession, ticket_ids: Collection[int]) -> dict[int, Rating]:
    """The customer's latest rating of each of these tickets that has one (good or bad)."""
    return await repository.ratings_of(session, ticket_ids)
