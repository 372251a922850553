from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.auth import CurrentAdmin
from app.db import MAX_ID, SessionDep
from app.inbox import mailboxes
from app.inbox.schemas import MailboxCheck, MailboxCreate, MailboxRead, MailboxUpdate, ProblemMessageRead
from app.runtime import RuntimeDep
from app.validation import LINE

router = APIRouter(prefix="/admin", tags=["admin: mailboxes"])

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Name = Annotated[str, Path(min_length=1, max_length=100), LINE]


@router.get("/mailboxes")
async def list_mailboxes(admin: CurrentAdmin, session: SessionDep) -> list[MailboxRead]:
    return await mailboxes.list_mailboxes(session)


@router.post("/mailboxes", status_code=201)
async def create_mailbox(
    body: MailboxCreate, admin: CurrentAdmin, session: SessionDep, runtime: RuntimeDep
) -> MailboxRead:
    mailbox = await mailboxes.create_mailbox(session, body, secrets=runtime.secrets)
    return await mailboxes.mailbox_read(session, mailbox)


@router.patch("/mailboxes/{mailbox_id}")
async def update_mailbox(
    mailbox_id: Id, body: MailboxUpdate, admin: CurrentAdmin, session: SessionDep, runtime: RuntimeDep
) -> MailboxRead:
    mailbox = await mailboxes.get_mailbox(session, mailbox_id)
    mailbox = await mailboxes.update_mailbox(session, mailbox, body, secrets=runtime.secrets)
    return await mailboxes.mailbox_read(session, mailbox)


@router.post("/mailboxes/{name}/test")
async def test_mailbox(name: Name, admin: CurrentAdmin, session: SessionDep, runtime: RuntimeDep) -> list[MailboxCheck]:
    """Log in to the mailbox's IMAP server and select its folder; connect to its SMTP server (STARTTLS and
    AUTH as configured). Each check's outcome, with the reason when it failed."""
    imap, smtp = await mailboxes.stored_servers(session, name, secrets=runtime.secrets)
    return await mailboxes.check_servers(imap, smtp, settings=runtime.settings)


@router.delete("/mailboxes/{mailbox_id}", status_code=204)
async def delete_mailbox(mailbox_id: Id, admin: CurrentAdmin, session: SessionDep) -> Response:
    mailbox = await mailboxes.get_mailbox(session, mailbox_id)
    await mailboxes.remove_mailbox(session, mailbox.name)
    return Response(status_code=204)


@router.get("/messages/problems")
async def problem_messages(
    admin: CurrentAdmin,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ProblemMessageRead]:
    """Messages that could not be parsed (kept raw) or were over the size limit (kept truncated)."""
    return [
        ProblemMessageRead.model_validate(m)
        for m in await mailboxes.problem_messages(session, offset=offset, limit=limit)
    ]


@router.get("/messages/{message_id}/raw", response_class=Response)
async def raw_message(message_id: Id, admin: CurrentAdmin, session: SessionDep) -> Response:
    message = await mailboxes.raw_message(session, message_id)
    # Served as a download, never rendered: the bytes are whatever the sender chose to send.
    return Response(
        content=message.raw,
        media_type="message/rfc822",
        headers={
            "Content-Disposition": f'attachment; filename="message-{message.id}.eml"',
            "X-Content-Type-Options": "nosniff",
        },
    )
