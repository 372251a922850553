from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import re
import ssl
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
from aioimaplib import aioimaplib as _aioimap
from packaging.requirements import Requirement

from app.config import ImapSettings
from app.demo.imap_server import LocalImapServer
from app.mail.imap import (
    ImapAuthError,
    ImapClient,
    ImapConnectionError,
    ImapEndpoint,
    ImapError,
    ImapTimeoutError,
    parse_imap_url,
)
from app.ports import free_port
from tests.fixtures.imap import ImapProxy, ImapTestServer, TlsContexts

pytest_plugins = ["tests.fixtures.imap"]


def message(n: int, *, body: bytes = b"Hello, my card was charged twice.\r\n") -> bytes:
    return (
        b"From: Customer %d <customer%d@merchant.example>\r\n"
        b"To: support@example.com\r\n"
        b"Subject: Question %d\r\n"
        b"Message-ID: <q%d@merchant.example>\r\n"
        b"\r\n" % (n, n, n, n)
    ) + body


# Bytes a naive IMAP response parser trips over: 8-bit text, lines that look like IMAP responses,
# unbalanced parentheses and a line ending in a literal marker.
TRICKY = (
    b"From: =?utf-8?q?Ren=C3=A9e?= <renee@merchant.example>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: refund (order #42 :)\r\n"
    b"Message-ID: <tricky@merchant.example>\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Caf\xe9 cr\xe8me \xff\xfe bytes that are not UTF-8, and UTF-8 too: \xe2\x9c\x93\r\n"
    b"* 1 FETCH (UID 99 BODY[] {12}\r\n"
    b"A001 OK this line looks like a tagged response\r\n"
    b")))((( unbalanced\r\n"
    b"this line ends with a literal marker {5}\r\n"
    b"\r\n"
    b"\ttrailing whitespace   \r\n"
)


def seconds_since(start: float) -> float:
    return time.monotonic() - start


def never_mentions(exc: BaseException, secret: str) -> bool:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return all(secret not in str(e) and secret not in repr(e) for e in seen)


@pytest.fixture(name="free_port")
def free_port_fixture() -> int:
    return free_port()  # nothing listens there now


# -- URLs ------------------------------------------------------------------------------------------


def test_parse_imap_url_reads_percent_encoded_user_password_and_folder() -> None:
    endpoint = parse_imap_url("imaps://support%40example.com:p%40ss%3Aw%2Fd@mail.example.com:1993/Support%20Inbox")
    assert endpoint == ImapEndpoint(
        host="mail.example.com",
        port=1993,
        security="tls",
        username="support@example.com",
        password="p@ss:w/d",
        folder="Support Inbox",
    )


def test_parse_imap_url_defaults_to_standard_ports_and_inbox() -> None:
    plain = parse_imap_url("imap://u:p@mail.example.com")
    tls = parse_imap_url("imaps://u:p@mail.example.com/")
    assert (plain.port, plain.security, plain.folder) == (143, "none", "INBOX")
    assert (tls.port, tls.security, tls.folder) == (993, "tls", "INBOX")


def test_parse_imap_url_uses_starttls_only_when_asked() -> None:
    assert parse_imap_url("imap://u:p@h/INBOX?tls=starttls").security == "starttls"
    assert parse_imap_url("imap://u:p@h/INBOX?tls=none").security == "none"


def test_parse_imap_url_accepts_an_unencoded_at_sign_in_the_user() -> None:
    endpoint = parse_imap_url("imap://support@example.com:secret@127.0.0.1:11143/INBOX")
    assert (endpoint.username, endpoint.password, endpoint.host) == (
        "support@example.com",
        "secret",
        "127.0.0.1",
    )


def test_parse_imap_url_keeps_nested_folder_paths() -> None:
    assert parse_imap_url("imap://u:p@h/Support/Inbound").folder == "Support/Inbound"


def test_endpoint_round_trips_through_its_url_and_hides_the_password() -> None:
    endpoint = ImapEndpoint("::1", 1143, "starttls", "a@b.example", "s3cr:t/@", "Caf\u00e9 ✓")
    assert parse_imap_url(endpoint.to_url()) == endpoint
    assert "s3cr" not in repr(endpoint)
    assert "s3cr" not in str(endpoint)


@pytest.mark.parametrize(
    "url",
    [
        "imap://user:hunter2-secret@/INBOX",
        "imap://user:hunter2-secret@host:99999/INBOX",
        "imap://user:hunter2-secret@host:notaport/INBOX",
        "imap://user:hunter2-secret@host:/INBOX",
        "pop3://user:hunter2-secret@host/INBOX",
        "user:hunter2-secret@host/INBOX",
        "imap://:hunter2-secret@host/INBOX",
        "imap://user:hunter2-secret@host/INBOX?starttls=1",
        "imap://user:hunter2-secret@host/INBOX?tls=maybe",
        "imaps://user:hunter2-secret@host/INBOX?tls=starttls",
    ],
)
def test_parse_imap_url_rejects_bad_urls_without_revealing_the_password(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_imap_url(url)
    assert never_mentions(caught.value, "hunter2")


# -- Against real servers ----------------------------------------------------------------------------


async def test_connect_selects_the_folder_and_reads_uidvalidity(
    imap_server: ImapTestServer, imap_settings: ImapSettings
) -> None:
    async with ImapClient(imap_server.endpoint, imap_settings) as client:
        assert client.connected
        assert client.selected == imap_server.folder
        assert client.uidvalidity > 0
        assert client.exists == 0
        assert client.uidnext is not None and client.uidnext >= 1
        assert client.has_idle and client.has_uidplus
        assert not client.encrypted
    assert not client.connected


async def test_uids_after_lists_new_uids_and_ignores_the_star_quirk(
    imap_server: ImapTestServer, imap_settings: ImapSettings
) -> None:
    async with ImapClient(imap_server.endpoint, imap_settings) as client:
        assert await client.uids_after(0) == []
        for n in range(3):
            await imap_server.append(message(n))
        uids = await client.uids_after(0)
        assert len(uids) == 3 and uids == sorted(uids)
        assert await client.uids_after(uids[0]) == uids[1:]
        # "UID n:*" matches the highest message even when its UID is below n.
        assert await client.uids_after(uids[-1]) == []
        assert await client.uids_after(uids[-1] + 1000) == []


async def test_fetch_returns_the_exact_bytes_sorted_by_uid(
    imap_server: ImapTestServer, imap_settings: ImapSettings
) -> None:
    big = message(3, body=b"".join(b"line %06d of a long quoted thread (with parens)\r\n" % i for i in range(6000)))
    raws = [TRICKY, message(1), big, message(2, body=b"")]
    for raw in raws:
        await imap_server.append(raw)
    async with ImapClient(imap_server.endpoint, imap_settings) as client:
        uids = await client.uids_after(0)
        fetched = await client.fetch(list(reversed(uids)))
    assert [m.uid for m in fetched] == uids
    assert [m.raw for m in fetched] == raws
    assert [m.size for m in fetched] == [len(raw) for raw in raws]


async def test_fetch_leaves_out_uids_that_do_not_exist(
    imap_server: ImapTestServer, imap_settings: ImapSettings
) -> None:
    await imap_server.append(message(1))
    async with ImapClient(imap_server.endpoint, imap_settings) as client:
        [uid] = await client.uids_after(0)
        assert [m.uid for m in await client.fetch([uid, uid + 5, uid + 6])] == [uid]
        assert await client.fetch([]) == []


async def test_fetch_handles_hundreds_of_tiny_messages_in_one_response(
    imap_server: ImapTestServer, imap_settings: ImapSettings
) -> None:
    # A few thousand short response lines arrive in one read: aioimaplib's own reader recursed once
    # per line (RecursionError) and rescanned the response for each line.
    for n in range(1200):
        await imap_server.append(b"Subject: %d\r\n\r\nhi\r\n" % n)
    async with ImapClient(imap_server.endpoint, imap_settings) as client:
        uids = await client.uids_after(0)
        async with asyncio.timeout(20):
            fetched = await client.fetch(uids)
            sizes = await client.sizes(uids)
    assert [m.raw for m in fetched] == [b"Subject: %d\r\n\r\nhi\r\n" % n for n in range(1200)]
    assert sizes == {m.uid: m.size for m in fetched}


async def test_fetch_does_not_set_seen_and_mark_seen_does(
    imap_server: ImapTestServer, imap_settings: ImapSettings
) -> None:
    await imap_server.append(message(1))
    await imap_server.append(message(2))
    async with ImapClient(imap_server.endpoint, imap_settings) as client:
        first, second = await client.uids_after(0)
        await client.fetch([first, second])
        await client.fetch_partial(first, 10)
        assert not any("\\Seen" in flags for flags in (await client.flags([first, second])).values())
        await client.mark_seen([first])
        flags = await client.flags([first, second])
    assert "\\Seen" in flags[first]
    assert "\\Seen" not in flags[second]


async def test_sizes_and_fetch_partial_report_the_full_size(
    imap_server: ImapTestServer, imap_settings: ImapSettings
) -> None:
    raw = message(1, body=b"x" * 5000 + b"\r\n")
    await imap_server.append(raw)
    async with ImapClient(imap_server.endpoint, imap_settings) as client:
        [uid] = await client.uids_after(0)
        assert await client.sizes([uid]) == {uid: len(raw)}
        partial = await client.fetch_partial(uid, 100)
    assert (partial.uid, partial.raw, partial.size) == (uid, raw[:100], len(raw))


@pytest.mark.parametrize("with_move", [True, False], ids=["MOVE", "COPY+EXPUNGE"])
async def test_move_moves_messages_into_a_folder_it_creates(
    imap_server: ImapTestServer, imap_settings: ImapSettings, with_move: bool
) -> None:
    target = f"{imap_server.folder} Done \u2713 & co"
    for n in range(3):
        await imap_server.append(message(n))
    async with ImapClient(imap_server.endpoint, imap_settings) as client:
        try:
            if not with_move:
                client.capabilities.discard("MOVE")
            first, second, third = await client.uids_after(0)
            await client.move([first, third], target)
            assert await client.uids_after(0) == [second]
            async with ImapClient(replace(imap_server.endpoint, folder=target), imap_settings) as archive:
                moved = await archive.fetch(await archive.uids_after(0))
            assert [m.raw for m in moved] == [message(0), message(2)]
        finally:
            await client.delete_folder(target, missing_ok=True)


async def test_reset_uidvalidity_empties_the_folder_under_a_new_uidvalidity(
    imap_server: ImapTestServer, imap_settings: ImapSettings
) -> None:
    await imap_server.append(message(1))
    async with ImapClient(imap_server.endpoint, imap_settings) as client:
        before = client.uidvalidity
    after = await imap_server.reset_uidvalidity()
    async with ImapClient(imap_server.endpoint, imap_settings) as client:
        assert client.uidvalidity == after != before
        assert await client.uids_after(0) == []


async def test_wrong_password_raises_auth_error_that_never_shows_the_password(
    imap_server: ImapTestServer, imap_settings: ImapSettings
) -> None:
    wrong = replace(imap_server.endpoint, password="Wr0ng-pa$$word")
    with pytest.raises(ImapAuthError) as caught:
        await ImapClient(wrong, imap_settings).connect()
    assert imap_server.endpoint.username in str(caught.value)
    assert never_mentions(caught.value, "Wr0ng-pa$$word")


async def test_missing_folder_raises_imap_error(imap_server: ImapTestServer, imap_settings: ImapSettings) -> None:
    with pytest.raises(ImapError, match="cannot select folder"):
        await ImapClient(replace(imap_server.endpoint, folder="no-such-folder-here"), imap_settings).connect()


async def test_connection_refused_raises_connection_error(free_port: int, imap_settings: ImapSettings) -> None:
    endpoint = ImapEndpoint("127.0.0.1", free_port, "none", "support@example.com", "Secret-123")
    with pytest.raises(ImapConnectionError) as caught:
        await ImapClient(endpoint, imap_settings).connect()
    assert never_mentions(caught.value, "Secret-123")


async def test_connection_refused_fails_at_once_not_after_the_connect_timeout(
    free_port: int, imap_settings: ImapSettings
) -> None:
    endpoint = ImapEndpoint("127.0.0.1", free_port, "none", "support@example.com", "Secret-123")
    start = time.monotonic()
    with pytest.raises(ImapConnectionError) as caught:
        await ImapClient(endpoint, imap_settings).connect()
    assert not isinstance(caught.value, ImapTimeoutError)
    assert seconds_since(start) < imap_settings.connect_timeout / 2


async def test_a_line_break_in_the_password_is_refused_before_it_is_sent(
    imap_server: ImapTestServer, imap_settings: ImapSettings
) -> None:
    # Sent as is, the line after the break would run as a command of its own.
    injected = replace(imap_server.endpoint, password="pw\r\nA999 DELETE INBOX")
    with pytest.raises(ImapAuthError, match="contains CR, LF or NUL"):
        await ImapClient(injected, imap_settings).connect()


async def test_server_closing_at_once_raises_connection_error_without_waiting(
    imap_server: ImapTestServer, imap_proxy: ImapProxy, imap_settings: ImapSettings
) -> None:
    imap_proxy.refuse(True)
    start = time.monotonic()
    with pytest.raises(ImapConnectionError):
        await ImapClient(imap_proxy.endpoint_for(imap_server), imap_settings).connect()
    assert seconds_since(start) < imap_settings.connect_timeout


async def test_silent_server_times_out_at_connect_within_connect_timeout(
    imap_server: ImapTestServer, imap_proxy: ImapProxy, imap_settings: ImapSettings
) -> None:
    settings = imap_settings.model_copy(update={"connect_timeout": 0.5})
    imap_proxy.stall(True)
    start = time.monotonic()
    with pytest.raises(ImapTimeoutError):
        await ImapClient(imap_proxy.endpoint_for(imap_server), settings).connect()
    assert 0.4 < seconds_since(start) < 1.5


async def test_stalled_connection_times_out_within_command_timeout(
    imap_server: ImapTestServer, imap_proxy: ImapProxy, imap_settings: ImapSettings
) -> None:
    settings = imap_settings.model_copy(update={"command_timeout": 0.5})
    async with ImapClient(imap_proxy.endpoint_for(imap_server), settings) as client:
        imap_proxy.stall(True)
        start = time.monotonic()
        with pytest.raises(ImapTimeoutError):
            await client.uids_after(0)
        assert 0.4 < seconds_since(start) < 1.5
        assert not client.connected
        with pytest.raises(ImapConnectionError):
            await client.uids_after(0)


async def test_dropped_connection_fails_a_waiting_client_at_once(
    imap_server: ImapTestServer, imap_proxy: ImapProxy, imap_settings: ImapSettings
) -> None:
    async with ImapClient(imap_proxy.endpoint_for(imap_server), imap_settings) as client:
        waiting = asyncio.create_task(client.wait_for_new(30))
        await asyncio.sleep(0.3)
        start = time.monotonic()
        await imap_proxy.drop_all()
        with pytest.raises(ImapConnectionError):
            await asyncio.wait_for(waiting, 5)
        assert seconds_since(start) < 1
    await client.close()  # closing twice, after a failure, is fine


async def test_client_reconnects_after_a_drop(
    imap_server: ImapTestServer, imap_proxy: ImapProxy, imap_settings: ImapSettings
) -> None:
    await imap_server.append(message(1))
    client = ImapClient(imap_proxy.endpoint_for(imap_server), imap_settings)
    await client.connect()
    await imap_proxy.drop_all()
    with pytest.raises(ImapConnectionError):
        await client.uids_after(0)
    await client.connect()
    try:
        assert len(await client.uids_after(0)) == 1
    finally:
        await client.close()


async def test_wait_for_new_returns_true_soon_after_mail_arrives_by_idle(
    imap_server: ImapTestServer, imap_settings: ImapSettings
) -> None:
    async with ImapClient(imap_server.endpoint, imap_settings) as client:
        assert client.has_idle
        waiting = asyncio.create_task(client.wait_for_new(10))
        await asyncio.sleep(0.3)
        await imap_server.append(message(1))
        start = time.monotonic()
        assert await asyncio.wait_for(waiting, 5) is True
        assert seconds_since(start) < 2
        # The IDLE ended cleanly: the connection goes on.
        assert len(await client.uids_after(0)) == 1
        assert await client.wait_for_new(0.2) is False


async def test_wait_for_new_returns_false_when_nothing_arrives(
    imap_server: ImapTestServer, imap_settings: ImapSettings
) -> None:
    async with ImapClient(imap_server.endpoint, imap_settings) as client:
        start = time.monotonic()
        assert await client.wait_for_new(0.5) is False
        assert 0.4 < seconds_since(start) < 2
        assert await client.uids_after(0) == []


async def test_wait_for_new_polls_with_noop_when_the_server_has_no_idle(
    imap_server: ImapTestServer, imap_settings: ImapSettings
) -> None:
    async with ImapClient(imap_server.endpoint, imap_settings) as client:
        client.capabilities.discard("IDLE")
        assert await client.wait_for_new(0.3) is False
        waiting = asyncio.create_task(client.wait_for_new(10))
        await asyncio.sleep(0.1)
        await imap_server.append(message(1))
        assert await asyncio.wait_for(waiting, 5) is True
        assert len(await client.uids_after(0)) == 1


# -- TLS (pymap with a self-signed certificate) ------------------------------------------------------


async def test_starttls_encrypts_before_login(tls_contexts: TlsContexts, imap_settings: ImapSettings) -> None:
    async with LocalImapServer(ssl_context=tls_contexts.server) as server:
        assert server.endpoint.security == "starttls"
        async with ImapClient(server.endpoint, imap_settings, ssl_context=tls_contexts.client) as client:
            assert client.encrypted
            await server.append(message(1))
            assert len(await client.fetch(await client.uids_after(0))) == 1


async def test_implicit_tls_connects(tls_contexts: TlsContexts, imap_settings: ImapSettings) -> None:
    async with (
        LocalImapServer(ssl_context=tls_contexts.server, implicit_tls=True) as server,
        ImapClient(server.endpoint, imap_settings, ssl_context=tls_contexts.client) as client,
    ):
        assert client.encrypted


async def test_untrusted_certificate_is_refused(tls_contexts: TlsContexts, imap_settings: ImapSettings) -> None:
    async with LocalImapServer(ssl_context=tls_contexts.server, implicit_tls=True) as server:
        with pytest.raises(ImapConnectionError):
            await ImapClient(server.endpoint, imap_settings, ssl_context=ssl.create_default_context()).connect()


async def test_starttls_is_never_skipped_when_the_server_does_not_offer_it(
    imap_settings: ImapSettings,
) -> None:
    async with LocalImapServer() as server:
        endpoint = replace(server.endpoint, security="starttls")
        with pytest.raises(ImapConnectionError, match="STARTTLS"):
            await ImapClient(endpoint, imap_settings).connect()


# -- The in-process server ---------------------------------------------------------------------------


async def test_local_server_url_logs_in_to_its_folder(imap_settings: ImapSettings) -> None:
    async with LocalImapServer(username="agent@example.com", password="pw d", folder="Support") as server:
        assert server.port > 0
        uid = await server.append(message(1))
        async with ImapClient(parse_imap_url(server.url), imap_settings) as client:
            assert client.selected == "Support"
            assert await client.uids_after(0) == [uid]


async def test_local_server_stops_cleanly_under_an_idling_client(imap_settings: ImapSettings) -> None:
    async with LocalImapServer() as server:
        client = ImapClient(server.endpoint, imap_settings)
        await client.connect()
        waiting = asyncio.create_task(client.wait_for_new(30))
        await asyncio.sleep(0.2)
    with pytest.raises(ImapConnectionError):
        await asyncio.wait_for(waiting, 5)
    await client.close()


# What app/mail/imap/reader.py overrides or calls inside aioimaplib, with the parameters it relies on.
# A release that renames one breaks IMAP in ways the tests above only see as hangs or timeouts.
AIOIMAPLIB_INTERNALS = {
    "IMAP4ClientProtocol.__init__": ("loop", "conn_lost_cb"),
    "IMAP4ClientProtocol.data_received": ("d",),
    "IMAP4ClientProtocol._handle_responses": ("data", "line_handler", "current_cmd"),
    "IMAP4ClientProtocol._handle_line": ("line", "current_cmd"),
    "IMAP4ClientProtocol._untagged_response": ("line",),
    "Command.begin_literal_data": ("expected_size", "literal_data"),
    "Command.wait_literal_data": (),
    "Command.append_literal_data": ("data",),
    "Command.flush": (),
    "FetchCommand.append_to_resp": ("line", "result"),
    "FetchCommand.wait_data": (),
    "IncompleteRead.__init__": ("cmd", "data"),
    "IMAP4.create_client": ("host", "port", "loop", "conn_lost_cb", "ssl_context"),
}
PROTOCOL_STATE = ("incomplete_line", "current_command", "pending_sync_command", "idle_queue", "tasks")


def test_installed_aioimaplib_is_a_release_the_imap_reader_was_verified_against() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    pinned = next(
        Requirement(spec) for spec in pyproject["project"]["dependencies"] if Requirement(spec).name == "aioimaplib"
    )
    installed = importlib.metadata.version("aioimaplib")
    assert pinned.specifier.contains(installed), (
        f"aioimaplib {installed} is installed, but app/mail/imap/reader.py replaces its private response reader "
        f"and was verified only against aioimaplib{pinned.specifier}: diff the new release's IMAP4ClientProtocol "
        "and FetchCommand against the adapter, run these tests, then widen the pin in pyproject.toml"
    )


async def test_installed_aioimaplib_has_the_internals_the_imap_reader_replaces() -> None:
    problems: list[str] = []
    for name, expected in AIOIMAPLIB_INTERNALS.items():
        owner, _, attribute = name.partition(".")
        function = getattr(getattr(_aioimap, owner, None), attribute, None)
        if function is None:
            problems.append(f"{name} is missing")
            continue
        parameters = tuple(inspect.signature(function).parameters)[1:]
        if parameters != expected:
            problems.append(f"{name}{parameters} no longer takes {expected}")
    literal = getattr(_aioimap, "literal_data_re", None)
    if not isinstance(literal, re.Pattern) or "size" not in literal.groupindex:
        problems.append("literal_data_re with a (?P<size>...) group is missing")
    protocol = _aioimap.IMAP4ClientProtocol(asyncio.get_running_loop(), None)
    problems += [f"IMAP4ClientProtocol().{name} is missing" for name in PROTOCOL_STATE if not hasattr(protocol, name)]
    assert not problems, (
        f"aioimaplib {importlib.metadata.version('aioimaplib')} lacks what app/mail/imap/reader.py overrides: "
        + "; ".join(problems)
    )
