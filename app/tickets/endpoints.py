from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth import CurrentUser
from app.db import MAX_ID, SessionDep
from app.errors import InvalidInput, NotFound
from app.macros.schemas import SuggestionRead
from app.mail.compose import OutgoingFile
from app.replies import service as replies
from app.routing import service as routing
from app.runtime import RuntimeDep, SuggestionCacheDep
from app.sla import service as sla
from app.sla.schemas import PriorityWrite, TicketSlaRead
from app.tickets import attachments, lifecycle
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
    StatusResult,
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
async def list_queues(user: CurrentUser, session: SessionDep, runtime: RuntimeDep) -> list[QueueRead]:
    return await tickets.queues(session, now=runtime.clock())


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
    runtime: RuntimeDep,
    area: Annotated[str | None, Query(max_length=64), LINE] = None,
    status: TicketStatus | None = None,
    assignee: Annotated[str | None, Query(max_length=100, description="a user name, or 'me'"), LINE] = None,
    unassigned: bool = False,
    breached: Annotated[bool, Query(description="only tickets past an SLA due time now")] = False,
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
        breached_at=runtime.clock() if breached else None,
    )


async def _user_id(session: SessionDep, name: str) -> int:
    from app.users import service as users

    return (await users.get(session, name)).id


@router.get("/tickets/{ticket_id}")
async def get_ticket(ticket_id: TicketId, user: CurrentUser, session: SessionDep) -> TicketRead:
    delivery = await replies.delivery_by_message(session, ticket_id)
    return await tickets.detail(session, ticket_id, delivery=delivery)


_REPLY_FIELDS = frozenset(ReplyCreate.model_fields)


async def reply_input(request: Request, user: CurrentUser) -> tuple[ReplyCreate, list[OutgoingFile]]:
    """A reply as JSON, or as a form (multipart/form-data, which may carry files under `files`)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return _validated(await request.body()), []
    limits = request.app.state.settings.attachments
    try:
        async with request.form(max_files=limits.max_reply_files + 1, max_fields=len(_REPLY_FIELDS)) as form:
            fields: dict[str, str] = {}
            uploads: list[tuple[str | None, str | None, bytes]] = []
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if name != "files":
                        raise InvalidInput(f"files go in the form field 'files', not {name[:64]!r}")
                    uploads.append((value.filename, value.content_type, await value.read()))
                elif name in fields:
                    raise InvalidInput(f"the form field {name[:64]!r} is given twice")
                else:
                    fields[name] = value
    except StarletteHTTPException as exc:  # the form could not be read: malformed, or too many parts
        raise InvalidInput(f"the multipart body cannot be read: {exc.detail}") from exc
    files = attachments.reply_files(uploads, limits)
    return _validated(fields), files


def _validated(data: bytes | dict[str, str]) -> ReplyCreate:
    # Parsed as FastAPI parses a JSON body (json.loads: a lone surrogate escape decodes, and the text
    # rule then names it), then validated as FastAPI validates one.
    if isinstance(data, bytes):
        try:
            value: Any = json.loads(data) if data else None
        except ValueError as exc:
            error = {"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error", "input": {}}
            raise RequestValidationError([{**error, "ctx": {"error": str(exc)[:200]}}]) from None
    else:
        value = data
    try:
        return ReplyCreate.model_validate(value)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


ReplyInput = Annotated[tuple[ReplyCreate, list[OutgoingFile]], Depends(reply_input)]

_REPLY_SCHEMA = ReplyCreate.model_json_schema(ref_template="#/components/schemas/{model}")
_REPLY_SCHEMA.pop("$defs", None)
_REPLY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _REPLY_SCHEMA},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        **_REPLY_SCHEMA["properties"],
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                    "additionalProperties": False,
                }
            },
        },
    }
}


@router.post("/tickets/{ticket_id}/reply", openapi_extra=_REPLY_BODY)
async def reply(ticket: ValidTicket, body: ReplyInput, user: CurrentUser, session: SessionDep) -> ReplyResult:
    """Text, a macro or both; as multipart/form-data it may carry files (field `files`, repeated), within
    the limits of ROUTEDESK_ATTACHMENTS__* (413 over a byte limit, 422 over the count)."""
    data, files = body
    return await replying.reply(session, ticket, data, user=user, files=files)


@router.get("/tickets/{ticket_id}/attachments/{attachment_id}", response_class=Response)
async def download_attachment(
    ticket_id: TicketId, attachment_id: Annotated[int, Path(ge=1, le=MAX_ID)], user: CurrentUser, session: SessionDep
) -> Response:
    """The stored bytes of one of the ticket's attachments, always as a download (see README)."""
    file = await attachments.download(session, ticket_id, attachment_id)
    headers = {
        # Set as is: Starlette would add "; charset=utf-8" to a text/* media type, which the file's bytes
        # may not be.
        "Content-Type": file.media_type,
        "Content-Disposition": attachments.content_disposition(file.filename),
        "X-Content-Type-Options": "nosniff",
        # Should a browser show it anyway, it runs nothing and loads nothing.
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
    }
    if file.truncated:
        headers["X-Routedesk-Truncated"] = "true"
    return Response(content=file.content, headers=headers)


@router.post("/tickets/{ticket_id}/notes", status_code=201)
async def add_note(ticket: ValidTicket, body: NoteCreate, user: CurrentUser, session: SessionDep) -> EventRead:
    return tickets.event_read(await lifecycle.add_note(session, ticket, body=body.text, user=user))


@router.post("/tickets/{ticket_id}/status")
async def set_status(ticket: ValidTicket, body: StatusUpdate, user: CurrentUser, session: SessionDep) -> StatusResult:
    """The ticket's new status; `warnings` says what the agent should know about its sender (issue 14)."""
    await lifecycle.set_status(session, ticket, status=body.status, user=user)
    return StatusResult(**tickets.summary(ticket).model_dump(), warnings=await tickets.sender_warnings(session, ticket))


@router.post("/tickets/{ticket_id}/reroute")
async def reroute(ticket: ValidTicket, body: Reroute, user: CurrentUser, session: SessionDep) -> RerouteResult:
    area = await routing.routable_area(session, body.area)  # an archived area takes no new tickets
    event = await lifecycle.reroute(session, ticket, area=area, user=user, keep_assignee=body.keep_assignee)
    return tickets.rerouted_summary(ticket, event)


@router.post("/tickets/{ticket_id}/priority")
async def set_priority(
    ticket: ValidTicket, body: PriorityWrite, user: CurrentUser, session: SessionDep
) -> TicketSummary:
    """Low, normal, high or urgent: the ticket's SLA clocks take that priority's targets at once."""
    await lifecycle.set_priority(session, ticket, priority=body.priority, user=user)
    return tickets.summary(ticket)


@router.get("/tickets/{ticket_id}/sla")
async def ticket_sla(ticket: ValidTicket, user: CurrentUser, session: SessionDep) -> TicketSlaRead:
    """The ticket's SLA clocks (one per metric and cycle) and its sla_event log."""
    return await sla.ticket_sla(session, ticket.id, priority=ticket.priority)


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
    # Imported here: ranking brings scikit-learn and SciPy (~100 MB), which a process serving the API
    # pays only once someone asks for suggestions (the demo trains and polls without them).
    from app.macros import ranking

    ticket = await tickets.get_ticket(session, ticket_id)
    return await ranking.suggest(
        session,
        cache=cache,
        text=await tickets.ticket_text(session, ticket),
        area_id=ticket.area_id,
        values=await tickets.placeholders(session, ticket, agent=user),
        limit=limit,
    )
