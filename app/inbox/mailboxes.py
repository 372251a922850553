"""Mailbox administration: add, change and remove mailboxes; the messages an admin looks into."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from app.inbox import repository
from app.inbox.models import Mailbox, MailboxState, Message
from app.inbox.schemas import MailboxCheck, MailboxCreate, MailboxRead, MailboxUpdate
from app.mail.checks import CheckFailure, check_imap
from app.mail.imap import ImapEndpoint
from app.mail.smtp import SmtpEndpoint
from app.mail.smtp import check as check_smtp
from app.secrets import SecretBox

if TYPE_CHECKING:
    from app.config import Settings


def mailbox_from_urls(
    *,
    name: str,
    endpoint: ImapEndpoint,
    address: str | None = None,
    smtp: SmtpEndpoint | None = None,
    from_name: str | None = None,
) -> MailboxCreate:
    """A mailbox from an IMAP URL and an SMTP URL (the CLI's form), checked as the API checks its body."""
    try:
        data = MailboxCreate(
            name=name,
            imap_host=endpoint.host,
            imap_port=endpoint.port,
            imap_security=endpoint.security,
            imap_username=endpoint.username,
            imap_password=endpoint.password,
            folder=endpoint.folder,
            address=address or (endpoint.username if "@" in endpoint.username else None),
            from_name=from_name,
            smtp_host=smtp.host if smtp else None,
            smtp_port=smtp.port if smtp else None,
            smtp_security=smtp.security if smtp else None,
            smtp_username=smtp.username if smtp else None,
            smtp_password=smtp.password if smtp else None,
        )
    except ValidationError as exc:
        # Never echo the input: it holds the password.
        fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors())
        raise InvalidInput(f"invalid mailbox settings: {fields}") from None
    return data


async def add_mailbox(
    session: AsyncSession,
    *,
    name: str,
    endpoint: ImapEndpoint,
    secrets: SecretBox,
    address: str | None = None,
    smtp: SmtpEndpoint | None = None,
    from_name: str | None = None,
) -> Mailbox:
    """A mailbox from an IMAP URL and an SMTP URL: the same checks and storage as the API's."""
    data = mailbox_from_urls(name=name, endpoint=endpoint, address=address, smtp=smtp, from_name=from_name)
    return await create_mailbox(session, data, secrets=secrets)


async def ensure_name_free(session: AsyncSession, name: str) -> None:
    if await repository.mailbox_by_name(session, name) is not None:
        raise Conflict(f"a mailbox named {name!r} exists already")


def imap_endpoint(mailbox: Mailbox, secrets: SecretBox) -> ImapEndpoint:
    return ImapEndpoint(
        host=mailbox.imap_host,
        port=mailbox.imap_port,
        security=mailbox.imap_security,  # type: ignore[arg-type]
        username=mailbox.imap_username,
        password=secrets.decrypt(mailbox.imap_password_encrypted),
        folder=mailbox.folder,
    )


def smtp_endpoint(mailbox: Mailbox, secrets: SecretBox) -> SmtpEndpoint | None:
    """Where the mailbox's replies and acknowledgements are sent; None when it has no SMTP settings."""
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


async def check_servers(imap: ImapEndpoint, smtp: SmtpEndpoint | None, *, settings: Settings) -> list[MailboxCheck]:
    """Both servers checked at once, each with its outcome; an SMTP server not configured is a failed check
    (nothing can be sent), shown as such. Talks to the network only: run it outside a transaction."""

    async def run(name: str, target: str, check: Awaitable[None]) -> MailboxCheck:
        try:
            await check
        except CheckFailure as exc:
            return MailboxCheck(check=name, ok=False, target=target, reason=exc.reason, detail=exc.detail)
        return MailboxCheck(check=name, ok=True, target=target)

    checks = [run("imap", str(imap), check_imap(imap, step_seconds=settings.imap.check_timeout))]
    if smtp is not None:
        checks.append(run("smtp", str(smtp), check_smtp(smtp, step_seconds=settings.smtp.check_timeout)))
    results = list(await asyncio.gather(*checks))
    if smtp is None:
        results.append(
            MailboxCheck(
                check="smtp",
                ok=False,
                target=None,
                reason="not configured",
                detail="the mailbox has no SMTP settings: acknowledgements and replies cannot be sent",
            )
        )
    return results


async def stored_servers(
    session: AsyncSession, name: str, *, secrets: SecretBox
) -> tuple[ImapEndpoint, SmtpEndpoint | None]:
    mailbox = await repository.mailbox_by_name(session, name)
    if mailbox is None:
        raise NotFound(f"no mailbox named {name!r}")
    return imap_endpoint(mailbox, secrets), smtp_endpoint(mailbox, secrets)


async def remove_mailbox(session: AsyncSession, name: str) -> None:
    mailbox = await repository.mailbox_by_name(session, name)
    if mailbox is None:
        raise NotFound(f"no mailbox named {name!r}")
    await session.delete(mailbox)
    await session.flush()


async def create_mailbox(session: AsyncSession, data: MailboxCreate, *, secrets: SecretBox) -> Mailbox:
    await ensure_name_free(session, data.name)
    fields = data.model_dump(exclude={"imap_password", "smtp_password", "smtp_security"}, exclude_none=True)
    mailbox = Mailbox(
        **fields,
        imap_password_encrypted=secrets.encrypt(data.imap_password.get_secret_value()),
        smtp_security=data.smtp_security or "starttls",
        smtp_password_encrypted=(
            secrets.encrypt(data.smtp_password.get_secret_value()) if data.smtp_password else None
        ),
    )
    session.add(mailbox)
    await session.flush()
    session.add(MailboxState(mailbox_id=mailbox.id))
    await session.flush()
    return mailbox


async def update_mailbox(
    session: AsyncSession, mailbox: Mailbox, data: MailboxUpdate, *, secrets: SecretBox
) -> Mailbox:
    changes = data.model_dump(exclude_unset=True, exclude={"imap_password", "smtp_password"})
    for key, value in changes.items():
        if value is None and key in (
            "imap_host",
            "imap_port",
            "imap_security",
            "imap_username",
            "folder",
            "smtp_security",
            "enabled",
        ):
            raise InvalidInput(f"{key} cannot be null")
        setattr(mailbox, key, value)
    if data.imap_password is not None:
        mailbox.imap_password_encrypted = secrets.encrypt(data.imap_password.get_secret_value())
    if "smtp_password" in data.model_fields_set:
        mailbox.smtp_password_encrypted = (
            secrets.encrypt(data.smtp_password.get_secret_value()) if data.smtp_password else None
        )
    await session.flush()
    return mailbox


async def get_mailbox(session: AsyncSession, mailbox_id: int) -> Mailbox:
    mailbox = await session.get(Mailbox, mailbox_id)
    if mailbox is None:
        raise NotFound(f"no mailbox {mailbox_id}")
    return mailbox


async def mailbox_read(session: AsyncSession, mailbox: Mailbox) -> MailboxRead:
    state = await repository.state(session, mailbox.id)
    return MailboxRead(
        id=mailbox.id,
        name=mailbox.name,
        imap_host=mailbox.imap_host,
        imap_port=mailbox.imap_port,
        imap_security=mailbox.imap_security,
        imap_username=mailbox.imap_username,
        folder=mailbox.folder,
        address=mailbox.address,
        from_name=mailbox.from_name,
        smtp_host=mailbox.smtp_host,
        smtp_port=mailbox.smtp_port,
        smtp_security=mailbox.smtp_security,
        smtp_username=mailbox.smtp_username,
        smtp_password_set=mailbox.smtp_password_encrypted is not None,
        enabled=mailbox.enabled,
        uidvalidity=state.uidvalidity if state else None,
        last_uid=state.last_uid if state else 0,
        last_poll_at=state.last_poll_at if state else None,
        last_error=state.last_error if state else None,
        lease_owner=state.lease_owner if state else None,
        lease_expires_at=state.lease_expires_at if state else None,
    )


async def list_mailboxes(session: AsyncSession) -> list[MailboxRead]:
    return [await mailbox_read(session, m) for m in await repository.mailboxes(session)]


async def problem_messages(session: AsyncSession, *, offset: int, limit: int) -> list[Message]:
    return list(await repository.messages(session, problems_only=True, limit=limit, offset=offset))


async def raw_message(session: AsyncSession, message_id: int) -> Message:
    message = await repository.message(session, message_id)
    if message is None:
        raise NotFound(f"no message {message_id}")
    return message
