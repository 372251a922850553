"""The IMAP adapter: the only place that speaks IMAP (through aioimaplib), for the poller.

`url` says where a mailbox is, `client` runs the conversation, `reader` is the aioimaplib adapter
that reads responses, `arguments` writes command arguments, `errors` are what callers catch.
"""

from app.mail.imap.client import FetchedMessage, ImapClient
from app.mail.imap.errors import (
    ImapAuthError,
    ImapConnectionError,
    ImapError,
    ImapFolderError,
    ImapTimeoutError,
    ImapTlsError,
)
from app.mail.imap.url import ImapEndpoint, parse_imap_url

__all__ = [
    "FetchedMessage",
    "ImapAuthError",
    "ImapClient",
    "ImapConnectionError",
    "ImapEndpoint",
    "ImapError",
    "ImapFolderError",
    "ImapTimeoutError",
    "ImapTlsError",
    "parse_imap_url",
]
