from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from app.mail.addresses import address_problem
from app.validation import Line, OptionalLine, OptionalSecretLine, SecretLine

Security = Literal["tls", "starttls", "none"]


def _sendable(address: str | None) -> str | None:
    # The mailbox's address is the sender of its acknowledgements and replies: one the outbox's address
    # rule refuses would make every one of them fail, so it is refused here, by the same rule.
    if address is not None and address_problem(address) is not None:
        raise PydanticCustomError("address_invalid", "not an address mail can be sent from")
    return address


SenderAddress = Annotated[OptionalLine, AfterValidator(_sendable)]


class SmtpFields(BaseModel):
    smtp_host: OptionalLine = Field(None, max_length=255)
    smtp_port: int | None = Field(None, ge=1, le=65535)
    smtp_security: Security | None = None
    smtp_username: OptionalLine = Field(None, max_length=255)
    # Write-only: stored encrypted, never returned.
    smtp_password: OptionalSecretLine = Field(None, max_length=1024)


class MailboxCreate(SmtpFields):
    model_config = ConfigDict(extra="forbid")

    name: Line = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    imap_host: Line = Field(min_length=1, max_length=255)
    imap_port: int = Field(993, ge=1, le=65535)
    imap_security: Security = "tls"
    imap_username: Line = Field(min_length=1, max_length=255)
    imap_password: SecretLine = Field(min_length=1, max_length=1024)
    folder: Line = Field("INBOX", min_length=1, max_length=255)
    address: SenderAddress = Field(None, max_length=320)
    from_name: OptionalLine = Field(None, max_length=200)


class MailboxUpdate(SmtpFields):
    model_config = ConfigDict(extra="forbid")

    imap_host: OptionalLine = Field(None, min_length=1, max_length=255)
    imap_port: int | None = Field(None, ge=1, le=65535)
    imap_security: Security | None = None
    imap_username: OptionalLine = Field(None, min_length=1, max_length=255)
    imap_password: OptionalSecretLine = Field(None, min_length=1, max_length=1024)
    folder: OptionalLine = Field(None, min_length=1, max_length=255)
    address: SenderAddress = Field(None, max_length=320)
    from_name: OptionalLine = Field(None, max_length=200)
    enabled: bool | None = None


class MailboxRead(BaseModel):
    id: int
    name: str
    imap_host: str
    imap_port: int
    imap_security: str
    imap_username: str
    folder: str
    address: str | None
    from_name: str | None
    smtp_host: str | None
    smtp_port: int | None
    smtp_security: str
    smtp_username: str | None
    smtp_password_set: bool
    enabled: bool
    uidvalidity: int | None
    last_uid: int
    last_poll_at: datetime | None
    last_error: str | None
    # The worker polling it now (its lease) and until when the lease holds unless renewed.
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None


class MailboxCheck(BaseModel):
    """One server check of a mailbox: `reason` is refused, timed out, TLS failure, login refused, no such
    folder, not configured or error; `target` the server's URL without its password."""

    check: Literal["imap", "smtp"]
    ok: bool
    target: str | None
    reason: str | None = None
    detail: str | None = None


class ProblemMessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    mailbox_id: int | None
    uid: int | None
    parse_status: str
    parse_error: str | None
    defects: str | None
    size: int
    from_address: str | None
    subject: str
    created_at: datetime
    # the sender-trust verdict (issue 14) of a message parsed but refused by the database; null when
    # it could not be parsed or was not assessed
    trust_verdict: str | None = None
    trust_reason: str | None = None
