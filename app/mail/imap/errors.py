"""The IMAP client's errors. Messages never contain the password."""

from __future__ import annotations

__all__ = ["ImapAuthError", "ImapConnectionError", "ImapError", "ImapFolderError", "ImapTimeoutError", "ImapTlsError"]


class ImapError(Exception):
    """A command failed (NO/BAD) or the server misbehaved. Messages never contain the password."""


class ImapAuthError(ImapError):
    """The server refused the credentials: retrying will not help until they change."""


class ImapConnectionError(ImapError):
    """The connection failed, dropped or desynchronised: reconnect with backoff."""


class ImapTimeoutError(ImapConnectionError, TimeoutError):
    """A network step took longer than its configured timeout."""


class ImapTlsError(ImapConnectionError):
    """TLS could not be set up: no STARTTLS offered, or the handshake failed (a plain port, a bad certificate)."""


class ImapFolderError(ImapError):
    """The folder cannot be selected: it does not exist, or the user may not read it."""
