"""The outbox sender: claims due rows, sends them over SMTP, marks them. Supervised, restartable."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import unit_of_work, utcnow
from app.inbox.models import Mailbox
from app.mail.smtp import SmtpEndpoint, SmtpError, SmtpPermanentError, send
from app.replies import repository
from app.secrets import SecretBox
from app.tickets.models import TicketEvent

log = structlog.get_logger()


def smtp_endpoint(mailbox: Mailbox, secrets: SecretBox) -> SmtpEndpoint | None:
    if not mailbox.smtp_host or not mailbox.smtp_port:
        return None
    password = secrets.decrypt(mailbox.smtp_password_encrypted) if mailbox.smtp_password_encrypted else None
    return SmtpEndpoint(
        host=mailbox.smtp_host,
        port=mailbox.smtp_port,
        security=mailbox.smtp_security,  # type: ignore[arg-type]
        username=mailbox.smtp_username,
        password=password,
    )


def retry_delay(attempts: int, settings: Settings) -> float:
    base = settings.smtp.retry_initial * 2 ** max(0, attempts - 1)
    return min(settings.smtp.retry_max, base) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter


async def send_due(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, secrets: SecretBox, *, owner: str
) -> int:
    """Send what is due now. Returns how many rows it handled (sent, retried or failed)."""
    now = utcnow()
    async with unit_of_work(sessionmaker) as session:
        rows = await repository.claim_due(
            session,
            owner=owner,
            now=now,
            lease_until=now + timedelta(seconds=settings.smtp.send_lease_seconds),
            limit=settings.smtp.batch,
        )
        claimed = [(row.id, row.mailbox_id, row.mail_from, row.rcpt_to, row.raw, row.attempts) for row in rows]
        endpoints = {}
        for mailbox_id in {row[1] for row in claimed}:
            mailbox = await session.get(Mailbox, mailbox_id) if mailbox_id is not None else None
            endpoints[mailbox_id] = smtp_endpoint(mailbox, secrets) if mailbox else None
    for outbox_id, mailbox_id, mail_from, rcpt_to, raw, attempts in claimed:
        endpoint = endpoints.get(mailbox_id)
        error: SmtpError | None = None
        if endpoint is None:
            error = SmtpPermanentError("the mailbox has no SMTP settings")
        else:
            try:
                async with asyncio.timeout(settings.smtp.timeout * 3):
                    await send(
                        endpoint,
                        mail_from=mail_from,
                        rcpt_to=[r.strip() for r in rcpt_to.split(",")],
                        raw=raw,
                        settings=settings.smtp,
                    )
            except SmtpError as exc:
                error = exc
            except TimeoutError as exc:
                error = SmtpError(f"timed out: {exc}")
        await _record(sessionmaker, settings, outbox_id, attempts, error, owner=owner)
    return len(claimed)


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    outbox_id: int,
    attempts: int,
    error: SmtpError | None,
    *,
    owner: str,
) -> None:
    now = utcnow()
    async with unit_of_work(sessionmaker) as session:
        row = await repository.outbox_row(session, outbox_id)
        # A sender that overran its lease lost the row to another one: that one's outcome stands.
        if row is None or row.owner != owner or row.status != "sending":
            return
        if error is None:
            row.status, row.sent_at, row.last_error = "sent", now, None
            log.info("outbox_sent", outbox=outbox_id, ticket=row.ticket_id)
            return
        row.last_error = str(error)[:2000]
        permanent = isinstance(error, SmtpPermanentError) or attempts >= settings.smtp.max_attempts
        if permanent:
            row.status = "failed"
            log.warning("outbox_failed", outbox=outbox_id, ticket=row.ticket_id, error=row.last_error)
            if row.ticket_id is not None:
                # Shown on the ticket, so the agent knows the customer never got the answer.
                session.add(
                    TicketEvent(
                        ticket_id=row.ticket_id,
                        kind="delivery_failed",
                        actor="system",
                        data={"outbox": outbox_id, "error": row.last_error},
                    )
                )
        else:
            row.status = "queued"
            row.next_attempt_at = now + timedelta(seconds=retry_delay(attempts, settings))
            log.info("outbox_retry", outbox=outbox_id, attempts=attempts, error=row.last_error)


async def run_sender(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    secrets: SecretBox,
    stop: asyncio.Event,
    *,
    owner: str,
) -> None:
    while not stop.is_set():
        try:
            handled = await send_due(sessionmaker, settings, secrets, owner=owner)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("outbox_sender_failed")
            handled = 0
        if handled:
            continue
        try:
            async with asyncio.timeout(settings.smtp.poll_interval):
                await stop.wait()
        except TimeoutError:
            pass
