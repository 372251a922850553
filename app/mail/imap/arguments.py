"""How the client writes command arguments: UID sets, quoted strings, mailbox names.

aioimaplib sends arguments as it is given them; these make them safe to send.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

__all__ = ["chunks", "mailbox_arg", "quoted", "uid_set"]

# UIDs per FETCH/STORE/MOVE command: bounds the command line and one response, whatever batch the
# caller asks for (fetch_batch may be up to 5,000).
_MAX_UIDS_PER_COMMAND = 500


def uid_set(uids: Iterable[int]) -> str:
    """1,2,3,5,7,8 -> "1:3,5,7:8" (uids must be sorted and unique)."""
    ranges: list[str] = []
    start = prev = -1
    for uid in uids:
        if uid == prev + 1:
            prev = uid
            continue
        if start >= 0:
            ranges.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    if start >= 0:
        ranges.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(ranges)


def chunks(uids: Iterable[int], size: int = _MAX_UIDS_PER_COMMAND) -> list[list[int]]:
    ordered = sorted({int(uid) for uid in uids})
    for uid in ordered:
        if uid < 1:
            raise ValueError(f"invalid UID {uid}")
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mailbox_arg(name: str) -> str:
    """A folder name as a quoted IMAP mailbox name in modified UTF-7 (RFC 3501 5.1.3)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return quoted("".join(out))
