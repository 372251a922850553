"""The IMAP client the poller uses: one connection, one folder selected.

It holds no database state. Every network step runs under `asyncio.timeout`; a timeout, a lost
connection or a protocol desync leaves the client unusable (`ImapConnectionError`) so that the caller
reconnects instead of reusing a connection whose state is unknown.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aioimaplib import aioimaplib as _aioimap

from app.config import ImapSettings
from app.mail.imap.arguments import chunks, mailbox_arg, quoted, uid_set
from app.mail.imap.errors import (
    ImapAuthError,
    ImapConnectionError,
    ImapError,
    ImapFolderError,
    ImapTimeoutError,
    ImapTlsError,
)
from app.mail.imap.reader import FetchCommand, FetchItem, Imap4, completion_text, fetch_items
from app.mail.imap.url import ImapEndpoint

__all__ = ["FetchedMessage", "ImapClient"]

_T = TypeVar("_T")

_LOGOUT_TIMEOUT = 5.0
_EXISTS = re.compile(rb"(?:\* )?(\d+) (EXISTS|EXPUNGE)\s*$")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]")


@dataclass(slots=True)
class FetchedMessage:
    uid: int
    raw: bytes
    size: int


class ImapClient:
    """One IMAP connection with one folder selected. Not for concurrent use by several tasks (a lock
    serialises callers anyway, since an IMAP connection runs one conversation)."""

    def __init__(
        self,
        endpoint: ImapEndpoint,
        settings: ImapSettings,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._settings = settings
        self._ssl_context = ssl_context
        self._imap: Imap4 | None = None
        self._lost: asyncio.Future[Exception | None] | None = None
        self._broken = False
        self._lock = asyncio.Lock()
        self._known_folders: set[str] = set()
        self.selected: str | None = None
        self.uidvalidity = 0
        self.uidnext: int | None = None
        self.exists = 0
        self.read_only = False
        self.capabilities: set[str] = set()

    # -- capabilities and state -------------------------------------------------------------------

    @property
    def has_idle(self) -> bool:
        return "IDLE" in self.capabilities

    @property
    def has_move(self) -> bool:
        return "MOVE" in self.capabilities

    @property
    def has_uidplus(self) -> bool:
        return "UIDPLUS" in self.capabilities

    @property
    def connected(self) -> bool:
        return self._imap is not None and not self._broken and not self._lost_done()

    @property
    def encrypted(self) -> bool:
        transport = self._imap.protocol.transport if self._imap is not None else None
        return transport is not None and transport.get_extra_info("ssl_object") is not None

    def __repr__(self) -> str:
        return f"<ImapClient {self.endpoint} connected={self.connected}>"

    # -- connection lifecycle ---------------------------------------------------------------------

    async def connect(self) -> None:
        if self._imap is not None:
            await self.close()
        endpoint, settings = self.endpoint, self._settings
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()
        self._broken = False
        self._known_folders = set()
        lost = self._lost

        def on_connection_lost(exc: Exception | None) -> None:
            if not lost.done():
                lost.set_result(exc)

        tls_context = self._tls_context() if endpoint.security == "tls" else None
        try:
            async with asyncio.timeout(settings.connect_timeout):
                self._imap = Imap4(
                    host=endpoint.host,
                    port=endpoint.port,
                    timeout=settings.connect_timeout,
                    conn_lost_cb=on_connection_lost,
                    ssl_context=tls_context,
                )
                await self._race(self._imap.wait_hello_from_server(), "connect")
                if endpoint.security == "starttls":
                    await self._starttls()
            await self._login()
            await self._select(endpoint.folder)
        except BaseException as exc:
            await self._discard()
            if isinstance(exc, ImapError):
                raise
            if isinstance(exc, TimeoutError):
                raise ImapTimeoutError(
                    f"connecting to {self._where} timed out after {settings.connect_timeout:g}s"
                ) from None
            if isinstance(exc, ssl.SSLError):
                raise ImapTlsError(f"TLS handshake with {self._where} failed: {exc.reason or exc}") from None
            if isinstance(exc, OSError):
                raise ImapConnectionError(
                    f"cannot connect to {self._where}: {exc.strerror or type(exc).__name__}"
                ) from None
            raise

    async def close(self) -> None:
        """LOGOUT when the connection is healthy, then drop it. Never raises an error."""
        imap = self._imap
        if imap is None:
            return
        try:
            if not self._broken and not self._lost_done() and imap.protocol.state != _aioimap.LOGOUT:
                async with asyncio.timeout(min(_LOGOUT_TIMEOUT, self._settings.command_timeout)):
                    await self._race(imap.protocol.logout(), "LOGOUT")
        except Exception:  # noqa: S110 - best effort: the connection is dropped right below
            pass
        finally:
            await self._discard()

    async def __aenter__(self) -> ImapClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- mailbox operations -----------------------------------------------------------------------

    async def select(self, folder: str | None = None) -> None:
        """(Re)select a folder: refreshes uidvalidity, uidnext and exists."""
        async with self._lock:
            await self._select(folder or self.endpoint.folder)

    async def uids_after(self, last_uid: int) -> list[int]:
        async with self._lock:
            protocol = self._protocol(selected=True)
            # Dovecot searches the session's view of the mailbox, which only learns of new messages
            # when a command syncs it: without this NOOP a SEARCH misses mail delivered since the
            # last command.
            await self._noop()
            response = await self._command(
                protocol.search(f"UID {last_uid + 1}:*", charset=None, by_uid=True), "UID SEARCH"
            )
            uids: set[int] = set()
            for line in response.lines[:-1]:
                uids.update(int(token) for token in bytes(line).split() if token.isdigit())
            # "n:*" always matches the highest UID, even when it is below n.
            return sorted(uid for uid in uids if uid > last_uid)

    async def fetch(self, uids: Sequence[int]) -> list[FetchedMessage]:
        """Full raw messages (BODY.PEEK[]: \\Seen is left alone), sorted by UID. UIDs that no longer
        exist are missing from the result."""
        found: dict[int, FetchedMessage] = {}
        async with self._lock:
            for chunk in chunks(uids):
                for item in await self._fetch(uid_set(chunk), "(UID BODY.PEEK[])"):
                    uid, body = item.uid(), item.body()
                    if uid is not None and body is not None:
                        found[uid] = FetchedMessage(uid=uid, raw=body, size=len(body))
        return [found[uid] for uid in sorted(found)]

    async def fetch_partial(self, uid: int, limit: int) -> FetchedMessage:
        """The first `limit` bytes of a message; `size` is its full RFC822.SIZE."""
        if limit < 1:
            raise ValueError("limit must be positive")
        async with self._lock:
            items = await self._fetch(uid_set([uid]), f"(UID RFC822.SIZE BODY.PEEK[]<0.{limit}>)")
        for item in items:
            body = item.body()
            if item.uid() == uid and body is not None:
                size = item.size()
                return FetchedMessage(uid=uid, raw=body, size=size if size is not None else len(body))
        raise ImapError(f"message UID {uid} not found in {self.selected!r} on {self._where}")

    async def sizes(self, uids: Iterable[int]) -> dict[int, int]:
        result: dict[int, int] = {}
        async with self._lock:
            for chunk in chunks(uids):
                for item in await self._fetch(uid_set(chunk), "(UID RFC822.SIZE)"):
                    uid, size = item.uid(), item.size()
                    if uid is not None and size is not None:
                        result[uid] = size
        return result

    async def flags(self, uids: Iterable[int]) -> dict[int, frozenset[str]]:
        result: dict[int, frozenset[str]] = {}
        async with self._lock:
            for chunk in chunks(uids):
                for item in await self._fetch(uid_set(chunk), "(UID FLAGS)"):
                    uid, flags = item.uid(), item.flags()
                    if uid is not None and flags is not None:
                        result[uid] = flags
        return result

    async def mark_seen(self, uids: Iterable[int]) -> None:
        async with self._lock:
            for chunk in chunks(uids):
                await self._store(uid_set(chunk), "\\Seen")

    async def move(self, uids: Iterable[int], folder: str) -> None:
        """MOVE when the server has it; else COPY, flag \\Deleted and UID EXPUNGE those UIDs only.
        Without UIDPLUS the copies stay flagged \\Deleted: a plain EXPUNGE would also purge messages
        that someone else flagged, so it is left to the mail client."""
        async with self._lock:
            protocol = self._protocol(selected=True)
            if folder == self.selected:
                raise ValueError("cannot move messages into the folder they are in")
            batches = chunks(uids)
            if not batches:
                return
            await self._ensure_folder(folder)
            target = mailbox_arg(folder)
            for chunk in batches:
                uids_arg = uid_set(chunk)
                if self.has_move:
                    response = await self._command(protocol.move(uids_arg, target, by_uid=True), "UID MOVE")
                    self._absorb(response.lines)
                else:
                    await self._command(protocol.copy(uids_arg, target, by_uid=True), "UID COPY")
                    await self._store(uids_arg, "\\Deleted")
                    if self.has_uidplus:
                        response = await self._command(protocol.expunge(uids_arg, by_uid=True), "UID EXPUNGE")
                        self._absorb(response.lines)

    async def wait_for_new(self, timeout: float) -> bool:  # noqa: ASYNC109 - the wait is the operation
        """Wait up to `timeout` seconds for the server to report new mail (EXISTS growing).

        IDLE when the server has it (a single IDLE, ended before `timeout`: re-issuing it is the
        caller's loop), else NOOP every `poll_interval`. A False return is no proof that nothing
        arrived: callers should run `uids_after` after every wait.
        """
        async with self._lock:
            self._protocol(selected=True)
            if self._absorb_unsolicited():
                return True
            if self.has_idle:
                return await self._idle(timeout)
            return await self._poll(timeout)

    async def append(self, raw: bytes, folder: str | None = None) -> None:
        async with self._lock:
            protocol = self._protocol()
            response = await self._command(
                protocol.append(raw, mailbox=mailbox_arg(folder or self.endpoint.folder)), "APPEND"
            )
            self._absorb(response.lines)

    async def create_folder(self, folder: str) -> None:
        """CREATE; a folder that already exists is fine."""
        async with self._lock:
            await self._ensure_folder(folder, force=True)

    async def delete_folder(self, folder: str, *, missing_ok: bool = False) -> None:
        """DELETE (unselecting it first if this connection has it selected)."""
        async with self._lock:
            protocol = self._protocol()
            if folder == self.selected:
                await self._command(protocol.close(), "CLOSE")
                self.selected = None
            response = await self._command(
                protocol.simple_command("DELETE", mailbox_arg(folder)), "DELETE", check=False
            )
            self._known_folders.discard(folder)
            if response.result != "OK":
                text = completion_text(response.lines)
                if missing_ok and "NONEXISTENT" in text.upper():
                    return
                raise ImapError(f"cannot delete folder {folder!r} on {self._where}: {text}")

    # -- internals: connection --------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return f"{self.endpoint.host}:{self.endpoint.port}"

    def _tls_context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def _lost_done(self) -> bool:
        return self._lost is not None and self._lost.done()

    def _protocol(self, *, selected: bool = False) -> Any:
        if self._imap is None or self._broken or self._lost_done():
            raise ImapConnectionError(f"not connected to {self._where}")
        if selected and self.selected is None:
            raise ImapError("no folder selected")
        return self._imap.protocol

    def _scrub(self, text: str) -> str:
        password = self.endpoint.password
        return text.replace(password, "***") if password else text

    async def _discard(self) -> None:
        """Drop the connection and every task aioimaplib started for it."""
        imap, self._imap = self._imap, None
        self._broken = True
        self.selected = None
        if imap is None:
            return
        for task in (*imap.tasks, *imap.protocol.tasks):
            if task.done():
                if not task.cancelled():
                    task.exception()  # retrieved, so that asyncio does not log it as lost
            else:
                task.cancel()
        client_task = getattr(imap, "_client_task", None)
        if client_task is not None and not client_task.done():
            client_task.cancel()
        transport = imap.protocol.transport
        if transport is not None:
            transport.abort()
            # connection_lost runs on the next loop turns; waiting for it means the socket is closed
            # when close() returns (no ResourceWarning when the loop ends right after).
            if self._lost is not None and not self._lost.done():
                try:
                    async with asyncio.timeout(1.0):
                        await asyncio.shield(self._lost)
                except TimeoutError:
                    pass
        elif client_task is not None:
            await asyncio.gather(client_task, return_exceptions=True)

    async def _race(self, awaitable: Awaitable[_T], what: str) -> _T:
        """Await an aioimaplib call, failing at once if the connection drops meanwhile."""
        task = asyncio.ensure_future(awaitable)
        lost = self._lost
        try:
            if lost is None:
                return await task
            await asyncio.wait((task, lost), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            self._broken = True
            task.cancel()
            raise
        if not task.done():
            task.cancel()
            self._broken = True
            reason = lost.result()
            detail = f": {reason.strerror or type(reason).__name__}" if isinstance(reason, OSError) else ""
            raise ImapConnectionError(f"connection to {self._where} lost during {what}{detail}")
        try:
            return task.result()
        except _aioimap.CommandTimeout:
            self._broken = True
            raise ImapTimeoutError(f"{what} timed out on {self._where}") from None
        except (_aioimap.Abort, _aioimap.Error) as exc:
            self._broken = True
            message = self._scrub(str(exc.args[0]) if exc.args else type(exc).__name__)
            raise ImapConnectionError(f"{what} failed on {self._where}: {message}") from None
        except TimeoutError:
            self._broken = True
            raise ImapTimeoutError(f"{what} timed out on {self._where}") from None
        except ssl.SSLError as exc:  # imaps:// to a plain port, a certificate not trusted, ...
            self._broken = True
            raise ImapTlsError(f"TLS handshake with {self._where} failed: {exc.reason or exc}") from None
        except OSError as exc:
            self._broken = True
            raise ImapConnectionError(f"{what} failed on {self._where}: {exc.strerror or type(exc).__name__}") from None

    async def _command(self, awaitable: Awaitable[Any], what: str, *, check: bool = True) -> Any:
        """Run one command under command_timeout (pushed back while data keeps arriving)."""
        assert self._imap is not None
        protocol = self._imap.protocol
        seconds = self._settings.command_timeout
        try:
            async with asyncio.timeout(seconds) as deadline:
                protocol.watchdog = (deadline, seconds)
                try:
                    response = await self._race(awaitable, what)
                finally:
                    protocol.watchdog = None
        except TimeoutError as exc:
            if isinstance(exc, ImapError):
                raise
            self._broken = True
            raise ImapTimeoutError(f"{what} timed out after {seconds:g}s on {self._where}") from None
        if check and response.result != "OK":
            raise ImapError(f"{what} failed on {self._where}: {self._scrub(completion_text(response.lines))}")
        return response

    async def _starttls(self) -> None:
        assert self._imap is not None
        protocol = self._imap.protocol
        if "STARTTLS" not in {c.upper() for c in protocol.capabilities}:
            raise ImapTlsError(f"{self._where} does not offer STARTTLS")
        command = _aioimap.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        response = await self._race(protocol.execute(command), "STARTTLS")
        if response.result != "OK":
            raise ImapTlsError(f"STARTTLS refused by {self._where}: {completion_text(response.lines)}")
        if protocol.incomplete_line:
            # Plain-text bytes after the OK would be read as if they had come over TLS (an injection).
            raise ImapConnectionError(f"{self._where} sent unexpected data after STARTTLS")
        loop = asyncio.get_running_loop()
        try:
            protocol.transport = await loop.start_tls(
                protocol.transport, protocol, self._tls_context(), server_hostname=self.endpoint.host
            )
        except (OSError, ConnectionError) as exc:
            raise ImapTlsError(f"TLS handshake with {self._where} failed: {exc}") from None
        # Capabilities learnt before TLS must be forgotten (RFC 3501 6.2.1).
        await self._race(protocol.capability(), "CAPABILITY")

    async def _login(self) -> None:
        assert self._imap is not None
        protocol = self._imap.protocol
        if "LOGINDISABLED" in {c.upper() for c in protocol.capabilities}:
            raise ImapAuthError(f"{self._where} refuses to log in without TLS; use imaps:// or ?tls=starttls")
        try:
            response = await self._command(
                protocol.login(quoted(self.endpoint.username), self.endpoint.password),
                "LOGIN",
                check=False,
            )
        except ImapError as exc:
            # Built from scratch: an aioimaplib error may embed the LOGIN command and its password.
            raise type(exc)(self._scrub(str(exc))) from None
        except ValueError:
            raise ImapAuthError("user name or password contains CR, LF or NUL") from None
        if response.result != "OK":
            refusal = self._scrub(completion_text(response.lines))
            raise ImapAuthError(f"login as {self.endpoint.username!r} refused by {self._where}: {refusal}")
        # Asked for explicitly: the list in LOGIN's response code is misparsed by aioimaplib.
        await self._command(protocol.capability(), "CAPABILITY", check=False)
        self.capabilities = {c.upper() for c in protocol.capabilities}

    async def _select(self, folder: str) -> None:
        protocol = self._protocol()
        response = await self._command(protocol.select(mailbox_arg(folder)), "SELECT", check=False)
        if response.result != "OK":
            self.selected = None
            raise ImapFolderError(
                f"cannot select folder {folder!r} on {self._where}: {completion_text(response.lines)}"
            )
        uidvalidity = uidnext = exists = None
        for line in response.lines:
            line = bytes(line)
            if match := _UIDVALIDITY.search(line):
                uidvalidity = int(match.group(1))
            elif match := _UIDNEXT.search(line):
                uidnext = int(match.group(1))
            elif (match := _EXISTS.match(line)) and match.group(2) == b"EXISTS":
                exists = int(match.group(1))
        if uidvalidity is None:
            raise ImapError(f"{self._where} did not report UIDVALIDITY for {folder!r}")
        self.selected = folder
        self.uidvalidity = uidvalidity
        self.uidnext = uidnext
        self.exists = exists or 0
        self.read_only = b"[READ-ONLY]" in bytes(response.lines[-1]).upper()
        self._known_folders.add(folder)
        protocol.unsolicited.clear()

    # -- internals: commands ----------------------------------------------------------------------

    async def _fetch(self, uid_set: str, items: str) -> list[FetchItem]:
        protocol = self._protocol(selected=True)
        command = FetchCommand(protocol.new_tag(), uid_set, items, prefix="UID", loop=protocol.loop)
        response = await self._command(protocol.execute(command), "UID FETCH")
        return fetch_items(response.lines)

    async def _store(self, uid_set: str, flag: str) -> None:
        protocol = self._protocol(selected=True)
        await self._command(protocol.store(uid_set, "+FLAGS.SILENT", f"({flag})", by_uid=True), "UID STORE")

    async def _noop(self) -> bool:
        protocol = self._protocol()
        # Not checked: a server that answers NOOP with NO or BAD still has a working connection, and
        # the caller's next command (UID SEARCH on every poll) sees new mail all the same. Failing
        # here made the poller log in again after every sync on such a server.
        response = await self._command(protocol.simple_command("NOOP"), "NOOP", check=False)
        return self._absorb_unsolicited() | self._absorb(response.lines)

    async def _ensure_folder(self, folder: str, *, force: bool = False) -> None:
        if folder in self._known_folders and not force:
            return
        protocol = self._protocol()
        name = mailbox_arg(folder)
        response = await self._command(protocol.simple_command("CREATE", name), "CREATE", check=False)
        if response.result != "OK":
            listed = await self._command(protocol.simple_command("LIST", '""', name), "LIST")
            if len(listed.lines) < 2:  # only the completion line: no such folder
                raise ImapError(f"cannot create folder {folder!r} on {self._where}: {completion_text(response.lines)}")
        self._known_folders.add(folder)

    def _absorb(self, lines: Iterable[bytes | bytearray]) -> bool:
        """Track EXISTS/EXPUNGE; True when the mailbox grew."""
        grew = False
        for line in lines:
            if type(line) is not bytes:
                continue
            match = _EXISTS.match(line)
            if match is None:
                continue
            if match.group(2) == b"EXISTS":
                count = int(match.group(1))
                grew = grew or count > self.exists
                self.exists = count
            else:
                self.exists = max(0, self.exists - 1)
        return grew

    def _absorb_unsolicited(self) -> bool:
        assert self._imap is not None
        pending = self._imap.protocol.unsolicited
        lines = list(pending)
        pending.clear()
        return self._absorb(lines)

    async def _poll(self, seconds: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            if await self._noop():
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await self._sleep(min(self._settings.poll_interval, remaining))

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake with ImapConnectionError as soon as the connection drops."""
        assert self._lost is not None
        try:
            async with asyncio.timeout(seconds):
                await asyncio.shield(self._lost)
        except TimeoutError:
            return
        self._broken = True
        raise ImapConnectionError(f"connection to {self._where} lost while waiting")

    async def _idle(self, seconds: float) -> bool:
        protocol = self._protocol(selected=True)
        while not protocol.idle_queue.empty():  # left over from an earlier IDLE
            self._absorb(protocol.idle_queue.get_nowait())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        idle_task = asyncio.ensure_future(protocol.idle())
        grew = False
        try:
            await self._command(self._idle_started(protocol, idle_task), "IDLE", check=False)
            idle_command = protocol.pending_sync_command
            while not grew:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                lines = await self._next_push(protocol, remaining)
                if lines is None:
                    break
                grew = self._absorb(lines)
            protocol.idle_done()
            response = await self._command(idle_task, "IDLE", check=False)
            # Lines that arrived together with the completion are never queued: read them here.
            leftover = list(getattr(idle_command, "buffer", ()))
            grew = self._absorb([*leftover, *response.lines]) or grew
            return grew or self._absorb_unsolicited()
        except BaseException:
            self._broken = True
            idle_task.cancel()
            raise

    async def _idle_started(self, protocol: Any, idle_task: asyncio.Future[Any]) -> None:
        acked = asyncio.ensure_future(protocol.wait_for_idle_response())
        try:
            await asyncio.wait((idle_task, acked), return_when=asyncio.FIRST_COMPLETED)
        finally:
            acked.cancel()
        if idle_task.done():
            response = idle_task.result()
            raise ImapError(f"IDLE refused by {self._where}: {completion_text(response.lines)}")

    async def _next_push(self, protocol: Any, seconds: float) -> list[bytes] | None:
        """The next batch of untagged lines received while idling, or None after `seconds`."""
        assert self._lost is not None
        getter = asyncio.ensure_future(protocol.idle_queue.get())
        try:
            await asyncio.wait((getter, self._lost), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            lines: list[bytes] = getter.result()
            return lines
        if self._lost.done():
            self._broken = True
            raise ImapConnectionError(f"connection to {self._where} lost while idling")
        return None
