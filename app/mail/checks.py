"""Whether a mailbox's servers can be used: IMAP (connect, log in, select the folder) and SMTP (in
app/mail/smtp.py:check), each failure with its exact reason, for `mailbox add` and `mailbox test`."""

from __future__ import annotations

from app.config import ImapSettings
from app.mail.imap import (
    ImapAuthError,
    ImapClient,
    ImapConnectionError,
    ImapEndpoint,
    ImapError,
    ImapFolderError,
    ImapTimeoutError,
    ImapTlsError,
)


class CheckFailure(Exception):
    """Why a mail server cannot be used: `reason` is one of refused, timed out, TLS failure, login
    refused, no such folder or error; `detail` the server's or the system's words. Never the password."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


async def check_imap(endpoint: ImapEndpoint, *, step_seconds: float) -> None:
    """Connect (with TLS as the endpoint asks), log in and select the folder, then log out."""
    settings = ImapSettings(connect_timeout=step_seconds, command_timeout=step_seconds)
    try:
        async with ImapClient(endpoint, settings):
            pass
    except ImapTimeoutError as exc:
        raise CheckFailure("timed out", str(exc)) from None
    except ImapTlsError as exc:
        raise CheckFailure("TLS failure", str(exc)) from None
    except ImapAuthError as exc:
        raise CheckFailure("login refused", str(exc)) from None
    except ImapFolderError as exc:
        raise CheckFailure("no such folder", str(exc)) from None
    except ImapConnectionError as exc:  # refused, or dropped before the conversation could finish
        raise CheckFailure("refused", str(exc)) from None
    except ImapError as exc:
        raise CheckFailure("error", str(exc)) from None
