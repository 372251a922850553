from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from app.auth import CurrentUser
from app.db import MAX_ID, SessionDep
from app.errors import NotFound
from app.macros import ranking
from app.macros.schemas import SuggestionRead
from app.replies import service as replies
from app.routing import service as routing
from app.runtime import SuggestionCacheDep
from app.tickets import lifecycle
from app.tickets import reply as replying
from app.tickets import service as tickets
from app.tickets.models import Ticket, TicketStatus
from app.tickets.schemas import (
    EventRead,
    NoteCreate,
    Page,
    QueueRead,
    ReplyCreate,
    ReplyResult,
    Reroute,
    RerouteResult,
    StatusUpdate,
    TicketRead,
    TicketSummary,
)
from app.validation import LINE

router = APIRouter(tags=["agents"])

TicketId = Annotated[int, Path(ge=1, le=MAX_ID)]


# Checks the token first: an unauthenticated caller must not learn which tickets exist.
async def valid_ticket(user: CurrentUser, session: SessionDep, ticket_id: TicketId) -> Ticket:
    return await tickets.get_ticket(session, ticket_id, for_update=True)


ValidTicket = Annotated[Ticket, Depends(valid_ticket)]


@router.get("/queues")
async def list_queues(user: CurrentUser, session: SessionDep) -> list[QueueRead]:
    return await tickets.queues(session)


@router.post("/queues/{area}/claim")
async def claim(
    user: CurrentUser, session: SessionDep, area: Annotated[str, Path(min_length=1, max_length=64), LINE]
) -> TicketSummary:
    claimed = await lifecycle.claim(session, area, agent=user)
    if claimed is None:
        await routing.get_area(session, area)  # an unknown area is a 404 of its own
        raise NotFound(f"no unassigned open ticket waits in {area!r}")
    return tickets.claimed_summary(claimed.ticket, area=area, agent=user)


@router.get("/tickets")
async def list_tickets(
    user: CurrentUser,
    session: SessionDep,
    area: Annotated[str | None, Query(max_length=64), LINE] = None,
    status: TicketStatus | None = None,
    assignee: Annotated[str | None, Query(max_length=100, description="a user name, or 'me'"), LINE] = None,
    unassigned: bool = False,
    customer: Annotated[str | None, Query(max_length=320), LINE] = None,
    q: Annotated[str | None, Query(max_length=200, description="text in subject or messages"), LINE] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[TicketSummary]:
    area_id = (await routing.get_area(session, area)).id if area else None
    assignee_id = None
    if assignee:
        assignee_id = user.id if assignee == "me" else await _user_id(session, assignee)
    return await tickets.search(
        session,
        offset=offset,
        limit=limit,
        area_id=area_id,
        status=status,
        assignee_id=assignee_id,
        unassigned=unassigned,
        customer=customer,
        text=q,
    )


async def _user_id(session: SessionDep, name: str) -> int:
    from app.users import service as users

    return (await users.get(session, name)).id


@router.get("/tickets/{ticket_id}")
async def get_ticket(ticket_id: TicketId, user: CurrentUser, session: SessionDep) -> TicketRead:
    delivery = await replies.delivery_by_message(session, ticket_id)
    return await tickets.detail(session, ticket_id, delivery=delivery)


@router.post("/tickets/{ticket_id}/reply")
async def reply(ticket: ValidTicket, body: ReplyCreate, user: CurrentUser, session: SessionDep) -> ReplyResult:
    return await replying.reply(session, ticket, body, user=user)


@router.post("/tickets/{ticket_id}/notes", status_code=201)
async def add_note(ticket: ValidTicket, body: NoteCreate, user: CurrentUser, session: SessionDep) -> EventRead:
    return tickets.event_read(await lifecycle.add_note(session, ticket, body=body.text, user=user))


@router.post("/tickets/{ticket_id}/status")
async def set_status(ticket: ValidTicket, body: StatusUpdate, user: CurrentUser, session: SessionDep) -> TicketSummary:
    await lifecycle.set_status(session, ticket, status=body.status, user=user)
    return tickets.summary(ticket)


@router.post("/tickets/{ticket_id}/reroute")
async def reroute(ticket: ValidTicket, body: Reroute, user: CurrentUser, session: SessionDep) -> RerouteResult:
    area = await routing.get_area(session, body.area)
    event = await lifecycle.reroute(session, ticket, area=area, user=user, keep_assignee=body.keep_assignee)
    return tickets.rerouted_summary(ticket, event)


@router.post("/tickets/{ticket_id}/release")
async def release(ticket: ValidTicket, user: CurrentUser, session: SessionDep) -> TicketSummary:
    await lifecycle.release(session, ticket, user=user)
    return tickets.summary(ticket)


@router.get("/tickets/{ticket_id}/suggestions")
async def suggestions(
    ticket_id: TicketId,
    user: CurrentUser,
    session: SessionDep,
    cache: SuggestionCacheDep,
    limit: Annotated[int, Query(ge=1, le=10)] = 3,
) -> list[SuggestionRead]:
    ticket = await tickets.get_ticket(session, ticket_id)
    return await ranking.suggest(
        session,
        cache=cache,
        text=await tickets.ticket_text(session, ticket),
        area_id=ticket.area_id,
        values=await tickets.placeholders(session, ticket, agent=user),
        limit=limit,
    )
