"""A throwaway IMAP server in this process: pymap's in-memory dict backend on loopback.

`routedesk demo` and the tests use it so that the poller talks real IMAP (IDLE, UIDPLUS, MOVE)
without root or an installed mail server. Mail lives in memory and is gone when the server stops.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from argparse import Namespace
from datetime import UTC, datetime
from typing import Any

from proxyprotocol.result import ProxyResultLocal
from proxyprotocol.sock import SocketInfo
from pymap.backend.dict import Config, DictBackend, Login
from pymap.concurrent import Subsystem
from pymap.imap import IMAPServer
from pymap.parsing.message import AppendMessage
from pymap.user import Passwords, UserMetadata
from pysasl.hashing import Cleartext

from app.mail.imap import ImapEndpoint

__all__ = ["LocalImapServer"]


class _Config(Config):
    @property
    def greeting(self) -> bytes:
        # pymap's default greeting calls socket.getfqdn(), which can stall on a reverse DNS lookup.
        return b"Routedesk local IMAP ready"


class LocalImapServer:
    """`async with LocalImapServer() as server:` serves one user on `server.url` until the block ends.

    With `ssl_context` (a server-side context holding a certificate) it offers STARTTLS, or speaks TLS
    from the first byte when `implicit_tls` is set.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "support@example.com",
        password: str = "demo-password",  # noqa: S107 - a throwaway server on loopback
        folder: str = "INBOX",
        ssl_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
    ) -> None:
        if implicit_tls and ssl_context is None:
            raise ValueError("implicit_tls needs an ssl_context")
        self.host = host
        self.username = username
        self.password = password
        self.folder = folder
        self._requested_port = port
        self._ssl_context = ssl_context
        self._implicit_tls = implicit_tls
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._mailboxes: Any = None
        self.port = 0

    @property
    def endpoint(self) -> ImapEndpoint:
        if self._implicit_tls:
            security: Any = "tls"
        elif self._ssl_context is not None:
            security = "starttls"
        else:
            security = "none"
        return ImapEndpoint(
            host=self.host,
            port=self.port,
            security=security,
            username=self.username,
            password=self.password,
            folder=self.folder,
        )

    @property
    def url(self) -> str:
        return self.endpoint.to_url()

    async def __aenter__(self) -> LocalImapServer:
        args = Namespace(
            host=self.host,
            port=self._requested_port,
            debug=False,
            cert=None,
            key=None,
            tls=self._ssl_context is not None and not self._implicit_tls,
            passlib_cfg=None,
            proxy_protocol=None,
            inherited_sockets=None,
            demo_data=False,
            demo_user=self.username,
            demo_password=self.password,
        )
        config = _Config.from_args(
            args,
            # Plain-text passwords and no thread pool: this server lives as long as a demo or a test.
            hash_context=Cleartext(),
            cpu_subsystem=Subsystem.for_asyncio(),
            invalid_user_sleep=0.0,
            ssl_context=self._ssl_context,
        )
        login = Login(config)
        user = UserMetadata(config, self.username, password=await Passwords(config).hash_password(self.password))
        identity = login.demo_user_identity
        await identity.set(user)
        async with identity.new_session() as session:
            self._mailboxes = session.mailbox_set
        if self.folder.upper() != "INBOX":
            await self._mailbox(self.folder)

        imap_server = IMAPServer(DictBackend(login, config).login, config)

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._connections.add(task)
            try:
                sock_info = SocketInfo.get(writer, ProxyResultLocal(), unique_id=uuid.uuid4().bytes)
                await imap_server(reader, writer, sock_info)
            except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
                pass  # the client went away; nothing to clean up beyond the writer
            finally:
                writer.close()
                self._connections.discard(task)

        self._server = await asyncio.start_server(
            on_client,
            host=self.host,
            port=self._requested_port,
            ssl=self._ssl_context if self._implicit_tls else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        # asyncio.Server.close() leaves accepted connections running (before 3.13): end them here,
        # so that no connection task outlives the server.
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()
        # pymap ends an IDLE by cancelling a helper task that finishes on the next loop turns.
        for _ in range(3):
            await asyncio.sleep(0)

    async def append(self, raw: bytes, folder: str | None = None) -> int:
        """Deliver a message straight into the backend (as an MTA would); returns its UID."""
        mailbox = await self._mailbox(folder or self.folder)
        message = await mailbox.append(AppendMessage(raw, datetime.now(UTC), frozenset()), recent=True)
        return int(message.uid)

    async def _mailbox(self, folder: str) -> Any:
        if self._mailboxes is None:
            raise RuntimeError("LocalImapServer is not running")
        try:
            return await self._mailboxes.get_mailbox(folder)
        except KeyError:
            await self._mailboxes.add_mailbox(folder)
            return await self._mailboxes.get_mailbox(folder)
