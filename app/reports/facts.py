"""The reports' fact rows (`ticket_fact`, one per ticket), kept current in the transaction that
changes what they are made of: the lifecycle after each transition's event and clocks (a batch's
tickets at once on the ingest path), the breach recorder after a breach, `sla recompute` after it
rebuilt the clocks. The reports domain owns the table because it is made of three domains' rows (the
ticket and its events, the SLA clocks) for the reports alone; those domains call this, and it imports
neither of them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from app.reports import repository

# Ids bound per statement: far below every engine's limit on bound parameters.
CHUNK = 500


async def refresh(session: AsyncSession, ticket_ids: Iterable[int]) -> None:
    """The tickets' fact rows derived again from their rows as this transaction has them."""
    ids = sorted(set(ticket_ids))
    if not ids:
        return
    # Sessions do not autoflush: the ticket's own changes must reach the database before they are read.
    await session.flush()
    for at in range(0, len(ids), CHUNK):
        await repository.store_facts(session, ids[at : at + CHUNK])
