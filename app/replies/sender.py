"""The outbox sender: claims due rows, sends them over SMTP, marks them. Supervised, restartable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import unit_of_work, utcnow
from app.inbox.mailboxes import smtp_endpoint
from app.inbox.models import Mailbox
from app.loops import jittered_delay, sleep_or_stop
from app.mail.smtp import SmtpEndpoint, SmtpError, SmtpPermanentError, SmtpTemporaryError, send
from app.metrics import WorkerMetrics
from app.replies import repository
from app.replies.models import OutboxStatus
from app.secrets import SecretBox
from app.tickets import lifecycle

log = structlog.get_logger()


def retry_delay(attempts: int, settings: Settings) -> float:
    return jittered_delay(
        max(0, attempts - 1), initial=settings.smtp.retry_initial, maximum=settings.smtp.retry_max, jitter=(0.8, 1.2)
    )


Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    mailbox_id: int | None
    mail_from: str
    rcpt_to: list[str]
    raw: bytes = field(repr=False)
    attempts: int


async def send_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    secrets: SecretBox,
    *,
    owner: str,
    clock: Clock = utcnow,
    metrics: WorkerMetrics | None = None,
) -> int:
    """Send what is due now. Returns how many rows it handled (sent, retried or failed).

    Each row's outcome is its own: whatever one send raises is recorded for that row, and the rest of
    the batch goes on. While the batch is being sent, a heartbeat renews the lease of the rows not yet
    recorded, so a slow batch keeps them and a dead sender's rows are free after one short lease."""
    now = clock()
    async with unit_of_work(sessionmaker) as session:
        claim = await repository.claim_due(
            session,
            owner=owner,
            now=now,
            lease_until=now + timedelta(seconds=settings.smtp.send_lease_seconds),
            limit=settings.smtp.batch,
            max_attempts=settings.smtp.max_attempts,
        )
        if metrics is not None and claim.exhausted:  # attempts used up by senders that died mid-send
            metrics.send_failures.labels("permanent").inc(len(claim.exhausted))
        for gone in claim.exhausted:
            log.warning("outbox_failed", outbox=gone.id, ticket=gone.ticket_id, error=gone.error)
            lifecycle.delivery_failed(session, gone.ticket_id, outbox_id=gone.id, error=gone.error, now=now)
        claimed = [
            _Claimed(
                id=row.id,
                mailbox_id=row.mailbox_id,
                mail_from=row.mail_from,
                rcpt_to=[r.strip() for r in row.rcpt_to.split(",") if r.strip()],
                raw=row.raw,
                attempts=row.attempts,
            )
            for row in claim.rows
        ]
        endpoints: dict[int | None, SmtpEndpoint | SmtpError] = {}
        for mailbox_id in {item.mailbox_id for item in claimed}:
            mailbox = await session.get(Mailbox, mailbox_id) if mailbox_id is not None else None
            endpoints[mailbox_id] = _endpoint(mailbox, secrets)
    if not claimed:
        return len(claim.exhausted)
    pending = {item.id for item in claimed}
    heartbeat = asyncio.create_task(_heartbeat(sessionmaker, settings, pending, owner=owner, clock=clock))
    try:
        for item in claimed:
            error = await _attempt(item, endpoints[item.mailbox_id], settings)
            if metrics is not None:
                _count(metrics, error, item.attempts, settings)
            try:
                await _record(sessionmaker, settings, item.id, item.attempts, error, owner=owner, now=clock())
            except Exception as exc:  # the database, most likely: the row's lease runs out and it is retried
                log.warning("outbox_record_failed", outbox=item.id, error=_kind(exc))
            finally:
                pending.discard(item.id)
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
    return len(claimed) + len(claim.exhausted)


def _count(metrics: WorkerMetrics, error: SmtpError | None, attempts: int, settings: Settings) -> None:
    if error is None:
        metrics.sent.inc()
    else:
        metrics.send_failures.labels("permanent" if _permanent(error, attempts, settings) else "temporary").inc()


def _permanent(error: SmtpError, attempts: int, settings: Settings) -> bool:
    """Whether a failed send is the row's last: refused for good, or attempts used up."""
    return isinstance(error, SmtpPermanentError) or attempts >= settings.smtp.max_attempts


def _endpoint(mailbox: Mailbox | None, secrets: SecretBox) -> SmtpEndpoint | SmtpError:
    """Where a mailbox's mail goes, or why it cannot go: the outcome of each of its rows, not of the batch."""
    try:
        endpoint = smtp_endpoint(mailbox, secrets) if mailbox is not None else None
    except Exception as exc:  # e.g. a password saved under another secret key: retried, capped, shown
        return SmtpTemporaryError(f"the mailbox's SMTP settings cannot be used: {type(exc).__name__}: {exc}"[:2000])
    return endpoint if endpoint is not None else SmtpPermanentError("the mailbox has no SMTP settings")


async def _attempt(item: _Claimed, endpoint: SmtpEndpoint | SmtpError, settings: Settings) -> SmtpError | None:
    """Send one row; its outcome as an error (None when sent). Never raises but for cancellation."""
    if isinstance(endpoint, SmtpError):
        return endpoint
    try:
        async with asyncio.timeout(settings.smtp.timeout * 3):
            await send(endpoint, mail_from=item.mail_from, rcpt_to=item.rcpt_to, raw=item.raw, settings=settings.smtp)
    except SmtpError as exc:
        return exc
    except TimeoutError as exc:
        return SmtpTemporaryError(f"timed out: {exc}")
    except Exception as exc:  # a bug, or a library surprise: this row's outcome, retried up to max_attempts
        detail = f"unexpected {type(exc).__name__}: {exc}"[:2000]
        log.warning("outbox_send_error", outbox=item.id, error=detail)
        return SmtpTemporaryError(detail)
    return None


async def _heartbeat(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    pending: set[int],
    *,
    owner: str,
    clock: Clock,
) -> None:
    """Renew the lease of the rows this sender holds and has not recorded yet, until it has none."""
    lease = timedelta(seconds=settings.smtp.send_lease_seconds)
    while pending:
        await asyncio.sleep(settings.smtp.send_heartbeat_seconds)
        if not pending:
            return
        try:
            async with unit_of_work(sessionmaker) as session:
                await repository.renew_leases(session, set(pending), owner=owner, lease_until=clock() + lease)
        except Exception as exc:  # the next beat tries again; past the lease another sender takes over
            log.warning("outbox_lease_renewal_failed", owner=owner, error=_kind(exc))


def _kind(exc: BaseException) -> str:
    # A database error's text may quote the statement's parameters: only its class goes to the log.
    orig = getattr(exc, "orig", None)
    return f"{type(exc).__name__}({type(orig).__name__})" if orig is not None else type(exc).__name__


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    outbox_id: int,
    attempts: int,
    error: SmtpError | None,
    *,
    owner: str,
    now: datetime | None = None,
) -> None:
    now = now or utcnow()
    async with unit_of_work(sessionmaker) as session:
        row = await repository.outbox_row(session, outbox_id)
        # A sender that overran its lease lost the row to another one: that one's outcome stands.
        if row is None or row.owner != owner or row.status != OutboxStatus.SENDING:
            return
        if error is None:
            row.status, row.sent_at, row.last_error = OutboxStatus.SENT, now, None
            log.info("outbox_sent", outbox=outbox_id, ticket=row.ticket_id)
            return
        row.last_error = str(error)[:2000]
        if _permanent(error, attempts, settings):
            row.status = OutboxStatus.FAILED
            log.warning("outbox_failed", outbox=outbox_id, ticket=row.ticket_id, error=row.last_error)
            lifecycle.delivery_failed(session, row.ticket_id, outbox_id=outbox_id, error=row.last_error, now=now)
        else:
            row.status = OutboxStatus.QUEUED
            row.next_attempt_at = now + timedelta(seconds=retry_delay(attempts, settings))
            log.info("outbox_retry", outbox=outbox_id, attempts=attempts, error=row.last_error)


async def run_sender(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    secrets: SecretBox,
    stop: asyncio.Event,
    *,
    owner: str,
    metrics: WorkerMetrics | None = None,
) -> None:
    while not stop.is_set():
        try:
            handled = await send_due(sessionmaker, settings, secrets, owner=owner, metrics=metrics)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("outbox_sender_failed")
            handled = 0
        if handled:
            continue
        await sleep_or_stop(settings.smtp.poll_interval, stop)
