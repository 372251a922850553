"""Mailbox administration: add, change and remove mailboxes; the messages an admin looks into."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from app.inbox import repository
from app.inbox.models import Mailbox, MailboxState, Message
from app.inbox.schemas import MailboxCreate, MailboxRead, MailboxUpdate
from app.secrets import SecretBox

if TYPE_CHECKING:
    from app.mail.imap import ImapEndpoint


async def add_mailbox(
    session: AsyncSession,
    *,
    name: str,
    endpoint: ImapEndpoint,
    secrets: SecretBox,
    address: str | None = None,
) -> Mailbox:
    """A mailbox from an IMAP URL (the CLI's form): the same checks and storage as the API's."""
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
        )
    except ValidationError as exc:
        # Never echo the input: it holds the password.
        fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors())
        raise InvalidInput(f"invalid mailbox settings: {fields}") from None
    return await create_mailbox(session, data, secrets=secrets)


async def remove_mailbox(session: AsyncSession, name: str) -> None:
    mailbox = await repository.mailbox_by_name(session, name)
    if mailbox is None:
        raise NotFound(f"no mailbox named {name!r}")
    await session.delete(mailbox)
    await session.flush()


async def create_mailbox(session: AsyncSession, data: MailboxCreate, *, secrets: SecretBox) -> Mailbox:
    if await repository.mailbox_by_name(session, data.name) is not None:
        raise Conflict(f"a mailbox named {data.name!r} exists already")
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
