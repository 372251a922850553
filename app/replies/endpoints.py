from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.auth import CurrentAdmin
from app.db import MAX_ID, SessionDep
from app.replies import service as replies
from app.replies.models import OutboxStatus
from app.replies.schemas import OutboxRead, OutboxRetried

router = APIRouter(prefix="/admin", tags=["admin: outbox"])

Id = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/outbox")
async def list_outbox(
    admin: CurrentAdmin,
    session: SessionDep,
    status: OutboxStatus | None = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[OutboxRead]:
    """Outgoing mail (replies, acknowledgements), oldest first; `?status=failed` for what was not sent."""
    rows = await replies.outbox(session, status=status, limit=limit, offset=offset)
    return [OutboxRead.model_validate(row) for row in rows]


@router.post("/outbox/retry")
async def retry_failed(admin: CurrentAdmin, session: SessionDep) -> OutboxRetried:
    """Every failed message back in the queue, due now, attempts and error reset."""
    return OutboxRetried(retried=await replies.retry_failed(session))


@router.post("/outbox/{outbox_id}/retry")
async def retry(outbox_id: Id, admin: CurrentAdmin, session: SessionDep) -> OutboxRead:
    """A failed message back in the queue, due now (409 when it is not failed)."""
    return OutboxRead.model_validate(await replies.retry(session, outbox_id))
