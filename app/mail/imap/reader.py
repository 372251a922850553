"""aioimaplib with a linear-time response reader, and the reading of FETCH responses.

The only module that reaches into aioimaplib's private reader: `Protocol` and `FetchCommand` replace
`IMAP4ClientProtocol.data_received`/`_handle_responses` and `FetchCommand.append_to_resp`/`wait_data`,
and `Imap4` replaces `IMAP4.create_client` to build that protocol. The aioimaplib releases whose
internals these match are pinned in pyproject.toml; tests/mail/test_imap.py fails when the installed
release lacks one of them.

aioimaplib 2.0.3 quirks worked around here and in the client:
- its response reader recurses once per line of a received chunk, so a chunk with more than ~1,000
  short lines (RFC822.SIZE of many messages, many tiny messages) raises RecursionError inside
  `data_received`, asyncio closes the transport and the pending command hangs forever;
- `FetchCommand.wait_data` rescans every line received so far for each new line, which makes a UID
  FETCH of n messages cost O(n^2) (60% of the CPU time of a 500-message batch);
- pending commands are never failed when the connection drops; they wait for their timeout (the
  client races every command against the connection's loss);
- untagged EXISTS/EXPUNGE that arrive while no NOOP/IDLE/sync command is pending are dropped
  (`Protocol.unsolicited` keeps them);
- the capability list parsed from a LOGIN response code keeps its closing bracket (`MOVE]`), so
  the client asks for capabilities explicitly after login;
- its `data_received` formats every received chunk for a debug log even when debug logging is off
  (a third of the CPU time of a large FETCH, and message bodies in the log when it is on);
- arguments (mailbox names, user names) are sent as is: `arguments` quotes and encodes them.
Its "Sending" debug log shows commands; keep the `aioimaplib` logger above DEBUG in production.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aioimaplib
from aioimaplib import aioimaplib as _aioimap

__all__ = ["FetchCommand", "FetchItem", "Imap4", "Protocol", "completion_text", "fetch_items"]

_FETCH_START = re.compile(rb"(?:\* )?\d+ FETCH \(")
_CRLF = b"\r\n"


class FetchCommand(_aioimap.FetchCommand):  # type: ignore[misc]
    """FETCH whose "response still open?" check is O(1) per line instead of O(lines so far).

    Same rule as upstream: count parentheses on the text lines since the last `n FETCH (` line;
    literals (bytearray) are not counted.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._depth = 0
        super().__init__(*args, **kwargs)

    def append_to_resp(self, line: bytes, result: str = "Pending") -> None:
        super().append_to_resp(line, result)
        if type(line) is bytes:
            balance = line.count(b"(") - line.count(b")")
            self._depth = balance if _FETCH_START.match(line) else self._depth + balance

    def wait_data(self) -> bool:
        return self._depth != 0


class Protocol(_aioimap.IMAP4ClientProtocol):  # type: ignore[misc]
    incomplete_line: bytes
    current_command: Any

    def __init__(self, loop: asyncio.AbstractEventLoop, conn_lost_cb: Any) -> None:
        super().__init__(loop, conn_lost_cb)
        # Untagged lines aioimaplib would drop (no command to hand them to): EXISTS, EXPUNGE, BYE...
        self.unsolicited: deque[bytes] = deque(maxlen=1024)
        # While a command runs, arriving data pushes its deadline back (an inactivity timeout).
        self.watchdog: tuple[asyncio.Timeout, float] | None = None

    def data_received(self, d: bytes) -> None:
        # Upstream's, minus its debug log: that formats every received chunk (message bodies
        # included) even when debug logging is off, a third of the CPU time of a large FETCH.
        if self.watchdog is not None:
            deadline, seconds = self.watchdog
            if not deadline.expired():
                deadline.reschedule(self.loop.time() + seconds)
        data = self.incomplete_line + d if self.incomplete_line else d
        try:
            self._handle_responses(data, self._handle_line, self.current_command)
            self.incomplete_line = b""
            self.current_command = None
        except _aioimap.IncompleteRead as incomplete_read:
            self.current_command = incomplete_read.cmd
            self.incomplete_line = incomplete_read.data

    def _untagged_response(self, line: bytes) -> Any:
        command = super()._untagged_response(line)
        if command is None:
            self.unsolicited.append(line)
        return command

    def _handle_responses(self, data: bytes, line_handler: Any, current_cmd: Any = None) -> None:
        # Upstream's logic, as a loop over offsets instead of one recursion (and one copy of the
        # rest of the chunk) per line.
        pos, end = 0, len(data)
        while True:
            if pos >= end:
                if self.pending_sync_command is not None:
                    self.pending_sync_command.flush()
                if current_cmd is not None and current_cmd.wait_data():
                    raise _aioimap.IncompleteRead(current_cmd)
                return
            if current_cmd is not None and current_cmd.wait_literal_data():
                rest = current_cmd.append_literal_data(memoryview(data)[pos:])
                pos = end - len(rest)
                if current_cmd.wait_literal_data():
                    raise _aioimap.IncompleteRead(current_cmd)
            eol = data.find(_CRLF, pos)
            if eol < 0:
                raise _aioimap.IncompleteRead(current_cmd, data[pos:])
            line = data[pos:eol]
            pos = eol + 2
            cmd = line_handler(line, current_cmd)
            begin_literal = _aioimap.literal_data_re.match(line)
            if begin_literal:
                if cmd is None:
                    cmd = _aioimap.Command("NIL", "unused", loop=self.loop)
                cmd.begin_literal_data(int(begin_literal.group("size")))
                current_cmd = cmd
            elif cmd is not None and cmd.wait_data():
                current_cmd = cmd
            else:
                current_cmd = None


class Imap4(aioimaplib.IMAP4):  # type: ignore[misc]
    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Any = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        local_loop = loop or asyncio.get_running_loop()
        self.protocol = Protocol(local_loop, conn_lost_cb)
        self._client_task = local_loop.create_task(
            local_loop.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
        )


_UID_ITEM = re.compile(rb"[ (]UID (\d+)")
_SIZE_ITEM = re.compile(rb"[ (]RFC822\.SIZE (\d+)")
_FLAGS_ITEM = re.compile(rb"[ (]FLAGS \(([^)]*)\)")
_BODY_LITERAL = re.compile(rb"[ (]BODY\[\](?:<\d+>)? \{\d+\}$")
_BODY_QUOTED = re.compile(rb'[ (]BODY\[\](?:<\d+>)? "((?:[^"\\]|\\.)*)"')


@dataclass(slots=True)
class FetchItem:
    """One `n FETCH (...)` response: its text lines and the literal that followed `BODY[] {n}`."""

    text: list[bytes]
    literal: bytes | None = None
    expect_body: bool = False

    def uid(self) -> int | None:
        return self._int(_UID_ITEM)

    def size(self) -> int | None:
        return self._int(_SIZE_ITEM)

    def flags(self) -> frozenset[str] | None:
        match = next(filter(None, map(_FLAGS_ITEM.search, self.text)), None)
        return None if match is None else frozenset(match.group(1).decode("ascii", "replace").split())

    def body(self) -> bytes | None:
        if self.literal is not None:
            return self.literal
        for text in self.text:
            match = _BODY_QUOTED.search(text)
            if match:
                return re.sub(rb"\\(.)", rb"\1", match.group(1))
        return None

    def _int(self, pattern: re.Pattern[bytes]) -> int | None:
        for text in self.text:
            match = pattern.search(text)
            if match:
                return int(match.group(1))
        return None


def fetch_items(lines: Sequence[bytes | bytearray]) -> list[FetchItem]:
    """Group a FETCH response into one item per `n FETCH (...)`, literals attached to their item.

    Servers may interleave unsolicited FETCH responses (flag changes) and put items in any order, so
    nothing here assumes a layout beyond "a literal that follows `BODY[] {n}` is the body".
    """
    items: list[FetchItem] = []
    current: FetchItem | None = None
    for line in lines[:-1]:  # the last line is the tagged completion text
        if type(line) is bytes:
            if _FETCH_START.match(line):
                current = FetchItem([line])
                items.append(current)
            elif current is not None:
                current.text.append(line)
            else:
                continue
            current.expect_body = bool(_BODY_LITERAL.search(line))
        elif current is not None and current.expect_body:
            current.literal = bytes(line)
            current.expect_body = False
    return items


def completion_text(lines: Sequence[bytes | bytearray]) -> str:
    """The tagged completion line of a response (`OK ...`, `NO [REASON] ...`) as text."""
    last = lines[-1] if lines else b""
    return bytes(last).decode("utf-8", "replace").strip()
