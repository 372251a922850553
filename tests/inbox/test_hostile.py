"""Mail built to break ingestion, through a real IMAP server into SQLite and PostgreSQL: no field of a
message may stop a mailbox, and no message is lost (each is a message on a ticket, a ticketless
automatic message, or a problem message kept raw)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app.db import fit_row, storable_text, unit_of_work
from app.inbox import ingest, mailboxes, repository
from app.inbox.models import Attachment, Message
from app.inbox.parsing import prepare
from app.inbox.poller import MailboxPoller, MailboxRef
from app.mail.imap import ImapClient
from app.main import create_app
from app.runtime import Runtime
from app.tickets.models import Customer, Ticket
from app.users import service as users
from tests.cli import invoke_routedesk
from tests.mailgen import mail

CRLF = b"\r\n"


def raw_mail(*headers: bytes | str, body: bytes | str = b"Hello, my payout has not arrived.\r\n") -> bytes:
    """A message exactly as written: no library folds, encodes or checks these headers."""
    lines = [h.encode("utf-8", "surrogateescape") if isinstance(h, str) else h for h in headers]
    data = body.encode() if isinstance(body, str) else body
    return CRLF.join(lines) + CRLF + CRLF + data


def b64_word(text: str, charset: str = "utf-8") -> str:
    return f"=?{charset}?b?{base64.b64encode(text.encode(charset)).decode()}?="


LONG_NAME = "A" * 400
LONG_SUBJECT = "Payout " + "missing " * 250  # 2,007 characters on one unfolded line


def field_mails() -> dict[str, bytes]:
    """Each value that overflowed a column or that a database refuses, one per message."""
    boundary = "b0undary"
    long_attachment = raw_mail(
        "From: Bea <bea@merchant.example>",
        "To: support@routedesk.example",
        "Subject: Statement attached",
        "Message-ID: <attachment-names@merchant.example>",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        body=(
            f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nSee the statement.\r\n"
            f"--{boundary}\r\n"
            f'Content-Type: application/{"x" * 400}; name="{"s" * 600}.pdf"\r\n'
            f'Content-Disposition: attachment; filename="{"s" * 600}.pdf"\r\n'
            f"Content-ID: <{'c' * 400}@merchant.example>\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n"
            f"{base64.b64encode(b'%PDF-1.4 statement').decode()}\r\n"
            f"--{boundary}--\r\n"
        ),
    )
    return {
        "good-1": mail(message_id="<good-1@merchant.example>", subject="First good"),
        "long display name": raw_mail(
            f'From: "{LONG_NAME}" <long-name@merchant.example>',
            "To: support@routedesk.example",
            "Subject: Long name",
            "Message-ID: <long-name@merchant.example>",
        ),
        "long encoded display name": raw_mail(
            f"From: {b64_word('Ä' * 400)} <long-encoded-name@merchant.example>",
            "To: support@routedesk.example",
            "Subject: Long encoded name",
            "Message-ID: <long-encoded-name@merchant.example>",
        ),
        "long subject": raw_mail(
            "From: Cleo <cleo@merchant.example>",
            "To: support@routedesk.example",
            f"Subject: {LONG_SUBJECT}",
            "Message-ID: <long-subject@merchant.example>",
        ),
        "huge message-id": raw_mail(
            "From: Dan <dan@merchant.example>",
            "To: support@routedesk.example",
            "Subject: Huge id",
            f"Message-ID: <{'m' * 5000}@merchant.example>",
            f"In-Reply-To: <{'r' * 3000}@merchant.example>",
            "References: " + " ".join(f"<{i:04d}{'f' * 200}@merchant.example>" for i in range(300)),
        ),
        "NULs in headers": raw_mail(
            b'From: "Eve\x00 Nul" <eve@merchant.example>',
            b"To: support@routedesk.example",
            b"Subject: Pay\x00out =?utf-8?q?mis=00sing?=",
            b"Message-ID: <nul\x00s@merchant.example>",
            b"X-Note: \x00\x00\x00",
            body=b"Body with a NUL \x00 in it.\r\n",
        ),
        "long attachment names": long_attachment,
        "good-2": mail(message_id="<good-2@merchant.example>", subject="Second good"),
    }


async def add_mailbox(runtime: Runtime, imap_server: Any, name: str = "hostile") -> MailboxRef:
    async with unit_of_work(runtime.sessionmaker) as session:
        row = await mailboxes.add_mailbox(session, name=name, endpoint=imap_server.endpoint, secrets=runtime.secrets)
        return MailboxRef.from_row(row, runtime.secrets)


def poller(runtime: Runtime, mailbox: MailboxRef) -> MailboxPoller:
    return MailboxPoller(
        mailbox,
        sessionmaker=runtime.sessionmaker,
        settings=runtime.settings,
        router=runtime.router,
        owner="hostile-test",
    )


async def server_uids(runtime: Runtime, imap_server: Any) -> list[int]:
    async with ImapClient(imap_server.endpoint, runtime.settings.imap) as client:
        return await client.uids_after(0)


async def served(runtime: Runtime, imap_server: Any) -> dict[int, str]:
    """UID to the SHA-256 of the message as the server holds it: servers may rewrite what they were
    given (Dovecot turns bare LF into CRLF and NUL into 0x80), and ingestion sees their copy."""
    async with ImapClient(imap_server.endpoint, runtime.settings.imap) as client:
        return {m.uid: hashlib.sha256(m.raw).hexdigest() for m in await client.fetch(await client.uids_after(0))}


async def inbound(runtime: Runtime) -> list[Message]:
    async with unit_of_work(runtime.sessionmaker) as session:
        query = select(Message).where(Message.direction == "inbound").order_by(Message.id)
        return list((await session.scalars(query)).all())


async def assert_checkpoint_at_the_last_uid(runtime: Runtime, imap_server: Any, mailbox: MailboxRef) -> None:
    uids = await server_uids(runtime, imap_server)
    async with unit_of_work(runtime.sessionmaker) as session:
        state = await repository.state(session, mailbox.id)
    assert state is not None and state.last_uid == max(uids) and state.last_error is None


async def test_no_header_value_stops_the_mailbox(runtime: Runtime, imap_server: Any) -> None:
    mails = field_mails()
    for raw in mails.values():
        await imap_server.append(raw)
    mailbox = await add_mailbox(runtime, imap_server)

    counts = await poller(runtime, mailbox).poll_once()

    assert (counts.fetched, counts.ingested, counts.duplicates) == (len(mails), len(mails), 0)
    await assert_checkpoint_at_the_last_uid(runtime, imap_server, mailbox)
    again = await poller(runtime, mailbox).poll_once()
    assert again.fetched == 0
    await imap_server.append(mail(message_id="<good-3@merchant.example>", subject="Third good"))
    after = await poller(runtime, mailbox).poll_once()
    assert (after.fetched, after.ingested) == (1, 1)
    stored = await inbound(runtime)
    assert {m.raw_sha256 for m in stored} == set((await served(runtime, imap_server)).values())
    # Every one of them parsed and went on a ticket: nothing was parked for its header values.
    assert [m.parse_status for m in stored] == ["ok"] * len(stored)
    assert all(m.ticket_id is not None for m in stored)


async def test_long_values_are_cut_to_their_columns_and_the_raw_bytes_kept(runtime: Runtime, imap_server: Any) -> None:
    mails = field_mails()
    for raw in mails.values():
        await imap_server.append(raw)
    mailbox = await add_mailbox(runtime, imap_server)
    await poller(runtime, mailbox).poll_once()
    copies = await served(runtime, imap_server)
    stored = {m.uid: m for m in await inbound(runtime)}
    assert {uid: m.raw_sha256 for uid, m in stored.items()} == copies  # byte for byte as the server has them
    # UIDs rise in the order the messages were delivered.
    by_kind = dict(zip(mails, (stored[uid] for uid in sorted(copies)), strict=True))

    long_name = by_kind["long display name"]
    assert long_name.from_name is not None and len(long_name.from_name) == 320
    assert long_name.from_name == "A" * 319 + "\u2026"
    encoded = by_kind["long encoded display name"]
    assert encoded.from_name is not None and encoded.from_name.startswith("Ä" * 300) and len(encoded.from_name) == 320
    async with unit_of_work(runtime.sessionmaker) as session:
        names = dict((await session.execute(select(Customer.email, Customer.name))).all())
        subjects = set((await session.scalars(select(Ticket.subject))).all())
        attachment = await session.scalar(
            select(Attachment).where(Attachment.message_id == by_kind["long attachment names"].id)
        )
    assert names["long-name@merchant.example"] == long_name.from_name
    assert names["long-encoded-name@merchant.example"] == encoded.from_name
    assert by_kind["long subject"].subject == LONG_SUBJECT.strip()

    nuls = by_kind["NULs in headers"]
    assert "\x00" not in (nuls.subject + (nuls.from_name or "") + nuls.headers_text + nuls.body_text)
    if imap_server.kind == "pymap":  # Dovecot stores each NUL as 0x80 (which reads as "€")
        assert nuls.subject == "Payout missing" and nuls.from_name == "Eve Nul"
        assert "Payout missing" in subjects

    huge = by_kind["huge message-id"]
    assert huge.message_id is None or len(huge.message_id) <= 998
    assert attachment is not None and attachment.filename is not None and len(attachment.filename) <= 255
    assert len(attachment.content_type) <= 255
    assert attachment.content_id is not None and attachment.content_id == "c" * 254 + "\u2026"
    assert attachment.content == b"%PDF-1.4 statement"


def test_stored_text_has_no_nul_no_lone_surrogate_and_is_cut_between_characters() -> None:
    assert storable_text("a\x00b") == "ab"
    # a surrogate pair is the character it encodes; a lone surrogate cannot be stored at all
    assert storable_text("x\ud83d\ude00y\ud800") == "x\U0001f600y\ufffd"
    assert storable_text("ab\U0001f600cd", 4) == "ab\U0001f600\u2026"
    assert storable_text("abc", 3) == "abc"


def test_a_row_is_held_to_the_sizes_its_model_declares() -> None:
    row: dict[str, Any] = {"email": "e" * 400, "name": "n\x00" * 400, "created_at": None}
    fit_row(Customer.__table__, row)
    assert (len(row["email"]), len(row["name"])) == (320, 320)  # both String(320) in app/tickets/models.py
    message: dict[str, Any] = {"size": 2**40, "uid": 2**70, "subject": "s" * 100_000}
    fit_row(Message.__table__, message)
    assert (message["size"], message["uid"]) == (2**31 - 1, 2**63 - 1)  # Integer, BigInteger
    assert len(message["subject"]) == 100_000  # Text: no length


async def test_a_size_beyond_the_integer_column_does_not_fail_the_batch(runtime: Runtime) -> None:
    raw = mail(message_id="<enormous@merchant.example>")
    # As the poller reports a message over the size limit: kept truncated, with the size the server gave.
    huge = prepare(raw, 7, size=5 * 2**30, truncated=True, max_attachment_bytes=1024)
    good = prepare(mail(message_id="<normal@merchant.example>"), 8, max_attachment_bytes=1024)
    source = ingest.Source(mailbox_id=None, uidvalidity=1)
    async with unit_of_work(runtime.sessionmaker) as session:
        counts = await ingest.ingest_batch(
            session, [huge, good], source=source, settings=runtime.settings, router=runtime.router
        )
    assert (counts.ingested, counts.failed) == (2, 0)
    stored = {m.uid: m for m in await inbound(runtime)}
    assert stored[7].parse_status == "too_large" and stored[7].size == 2**31 - 1
    assert stored[7].defects is not None and str(5 * 2**30) in stored[7].defects  # the real size, for admins


# -- a message the database refuses for a reason bounding cannot foresee --------------------------------

REFUSED_SUBJECT = "Refused by the database"


async def refuse_one_subject(runtime: Runtime, sqlstate: str = "22000") -> None:
    """A trigger that fails the insert of one message with an error that is not a constraint
    violation (by default a data exception, as a value the database cannot take would raise)."""
    async with unit_of_work(runtime.sessionmaker) as session:
        if runtime.settings.database_url.startswith("sqlite"):
            # json() of malformed JSON is an ordinary SQL error (OperationalError), raised only for this row.
            await session.execute(
                text(
                    "CREATE TRIGGER refuse_one BEFORE INSERT ON message "
                    f"WHEN NEW.subject = '{REFUSED_SUBJECT}' BEGIN SELECT json('{{'); END"
                )
            )
        else:
            await session.execute(
                text(
                    "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF NEW.subject = '{REFUSED_SUBJECT}' THEN "
                    f"RAISE EXCEPTION 'this value cannot be stored' USING ERRCODE = '{sqlstate}'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            await session.execute(
                text("CREATE TRIGGER refuse_one BEFORE INSERT ON message FOR EACH ROW EXECUTE FUNCTION refuse_one()")
            )


@pytest.fixture
async def api_app(runtime: Runtime) -> AsyncIterator[FastAPI]:
    app = create_app(runtime=runtime)
    async with app.router.lifespan_context(app):
        yield app


async def test_a_message_the_database_refuses_is_parked_and_the_rest_of_the_batch_commits(
    runtime: Runtime, imap_server: Any, api_app: FastAPI
) -> None:
    await refuse_one_subject(runtime)
    refused = mail(message_id="<refused@merchant.example>", subject=REFUSED_SUBJECT)
    for raw in [mail(message_id="<before@merchant.example>"), refused, mail(message_id="<after@merchant.example>")]:
        await imap_server.append(raw)
    mailbox = await add_mailbox(runtime, imap_server)

    counts = await poller(runtime, mailbox).poll_once()

    copies = await served(runtime, imap_server)
    assert (counts.fetched, counts.ingested, counts.failed) == (3, 3, 1)
    await assert_checkpoint_at_the_last_uid(runtime, imap_server, mailbox)
    assert (await poller(runtime, mailbox).poll_once()).fetched == 0
    stored = {m.message_id: m for m in await inbound(runtime)}
    assert stored["before@merchant.example"].ticket_id is not None
    assert stored["after@merchant.example"].ticket_id is not None
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await session.scalar(select(func.count(Ticket.id))) == 2

    async with unit_of_work(runtime.sessionmaker) as session:
        _admin, token = await users.create_user(session, name="root", email="root@routedesk.example", role="admin")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_app),
        base_url="http://test/api/v1",
        headers={"Authorization": f"Bearer {token}"},
    ) as admin:
        problems = (await admin.get("/admin/messages/problems")).json()
        [problem] = problems
        assert problem["parse_status"] == "failed" and "could not be stored" in problem["parse_error"]
        kept = (await admin.get(f"/admin/messages/{problem['id']}/raw")).content
    assert REFUSED_SUBJECT.encode() in kept and hashlib.sha256(kept).hexdigest() in copies.values()

    listed = await asyncio.to_thread(invoke_routedesk, runtime.settings, "messages", "list", "--failed")
    assert listed.exit_code == 0, listed.output
    assert f'"id": {problem["id"]}' in listed.output and '"status": "failed"' in listed.output


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_deadlock_fails_the_batch_instead_of_parking_the_message(runtime: Runtime, imap_server: Any) -> None:
    # A deadlock (or a lock wait, a lost connection) is no fault of the message: parked, it would never
    # become a ticket; failed, the batch is fetched again on the next poll.
    await refuse_one_subject(runtime, sqlstate="40P01")
    await imap_server.append(mail(message_id="<first@merchant.example>"))
    await imap_server.append(mail(message_id="<unlucky@merchant.example>", subject=REFUSED_SUBJECT))
    mailbox = await add_mailbox(runtime, imap_server)

    with pytest.raises(DBAPIError, match="cannot be stored"):
        await poller(runtime, mailbox).poll_once()

    assert await inbound(runtime) == []
    async with unit_of_work(runtime.sessionmaker) as session:
        await session.execute(text("DROP TRIGGER refuse_one ON message"))
    counts = await poller(runtime, mailbox).poll_once()
    assert (counts.fetched, counts.ingested, counts.failed) == (2, 2, 0)


# -- a corpus of hostile mail ---------------------------------------------------------------------------


def hostile_corpus(server_kind: str) -> dict[str, bytes]:
    """Mail that is broken, enormous or made to trip parsers and databases, one kind per message."""
    recipients = ", ".join(f'"Person {i}" <p{i}@merchant.example>' for i in range(10_000))

    def headers(name: str, *extra: str) -> list[str]:
        return [
            f"From: Hostile <{name}@attacker.example>",
            "To: support@routedesk.example",
            f"Subject: {name}",
            f"Message-ID: <{name}@attacker.example>",
            *extra,
        ]

    def nested(depth: int) -> str:
        if depth == 0:
            return "Content-Type: text/plain\r\n\r\ninnermost\r\n"
        inner = nested(depth - 1)
        return f'Content-Type: multipart/mixed; boundary="n{depth}"\r\n\r\n--n{depth}\r\n{inner}--n{depth}--\r\n'

    many_parts = (
        "".join(f"--many\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(1_000)) + "--many--\r\n"
    )
    return {
        **field_mails(),
        "multipart without boundary": raw_mail(*headers("no-boundary", "Content-Type: multipart/mixed"), body="x"),
        "boundary never found": raw_mail(
            *headers("lost-boundary", 'Content-Type: multipart/mixed; boundary="nowhere"'), body="--elsewhere\r\nx\r\n"
        ),
        "unclosed multipart": raw_mail(
            *headers("unclosed", 'Content-Type: multipart/alternative; boundary="b"'),
            body="--b\r\nContent-Type: text/html\r\n\r\n<p>open <img src=http://t.example/p.gif>",
        ),
        "nested 200 deep": raw_mail(*headers("deep"), nested(200)).replace(CRLF + CRLF, CRLF, 1),
        "1000 parts": raw_mail(
            *headers("many-parts", 'Content-Type: multipart/mixed; boundary="many"'), body=many_parts
        ),
        "broken base64": raw_mail(
            *headers("bad-base64", "Content-Type: text/plain", "Content-Transfer-Encoding: base64"),
            body="!!!not base64 at all===\r\nAAA\r\n",
        ),
        "unknown transfer encoding": raw_mail(*headers("bad-cte", "Content-Transfer-Encoding: x-rot13"), body="uryyb"),
        "unknown charset": raw_mail(
            *headers("bad-charset", 'Content-Type: text/plain; charset="x-no-such-charset"'), body=b"caf\xe9\r\n"
        ),
        "invalid utf-8": raw_mail(
            *headers("bad-utf8", "Content-Type: text/plain; charset=utf-8"), body=b"\xff\xfe\xc3\x28 \xed\xa0\x80\r\n"
        ),
        "8-bit headers": raw_mail(
            b"From: J\xfcrgen \xff <juergen@attacker.example>",
            b"To: support@routedesk.example",
            b"Subject: Geb\xfchr \x80\x81",
            b"Message-ID: <eight-bit@attacker.example>",
        ),
        "unknown charset in header words": raw_mail(
            "From: =?x-bogus?q?Mallory?= <bogus-words@attacker.example>",
            "To: support@routedesk.example",
            "Subject: =?x-bogus?b?!!!?= =?utf-8?q?broken=ZZ?=",
            "Message-ID: <bogus-words@attacker.example>",
        ),
        "lone surrogates after decoding": raw_mail(
            "From: Ana <surrogates@attacker.example>",
            "To: support@routedesk.example",
            "Subject: Lone surrogates",
            "Message-ID: <surrogates@attacker.example>",
            "X-Note: =?utf-7?q?+2AA-x?= =?utf-16-le?b?ANg=?=",
            'Content-Type: multipart/mixed; boundary="s"',
            body=(
                "--s\r\nContent-Type: text/plain; charset=utf-7\r\n\r\nbody +2AA- +3AA-\r\n"
                "--s\r\nContent-Type: application/pdf\r\n"
                "Content-Disposition: attachment; filename*=utf-7''%2B2AA-statement.pdf\r\n\r\n%PDF\r\n--s--\r\n"
            ),
        ),
        **(
            {
                # pymap's own header parsing fails on these as it stores them; Dovecot takes them, as an MTA would
                "lone surrogates in the sender and subject": raw_mail(
                    "From: =?utf-7?q?+2AA-Ana?= <surrogate-name@attacker.example>",
                    "To: support@routedesk.example",
                    "Subject: =?utf-7?q?+2AA-x?= =?utf-16-le?b?ANg=?=",
                    "Message-ID: <surrogate-name@attacker.example>",
                )
            }
            if server_kind == "dovecot"
            else {}
        ),
        "enormous subject line": raw_mail(
            *headers("huge-subject")[:2], "Subject: " + "x" * 1_000_000, "Message-ID: <huge-subject@attacker.example>"
        ),
        "enormous unknown header": raw_mail(*headers("huge-header", "X-Filler: " + "y" * 300_000)),
        "5000 header fields": raw_mail(*headers("many-headers", *(f"X-H{i}: {i}" for i in range(5_000)))),
        "10k recipients": raw_mail(
            *headers("recipients", f"Cc: {recipients.replace('@merchant', '@cc.merchant')}")[:1],
            f"To: {recipients}",
            *headers("recipients")[2:],
        ),
        "unreadable date": raw_mail(*headers("bad-date", "Date: 99 Foo 99999 99:99:99 +9999")),
        "bare CR line ends": b"From: cr@attacker.example\rSubject: cr\rMessage-ID: <cr@attacker.example>\r\rbody\r",
        "no headers": b"just some text, no header at all\r\nand another line\r\n",
        "blank": b"\r\n",
        "binary garbage": bytes(range(1, 256)) * 64,
        "NUL bytes everywhere": b"\x00From: nul@attacker.example\x00\r\nSubject: \x00\x00\r\n\r\n\x00\x00\x00",
        "bad html": raw_mail(
            *headers("bad-html", "Content-Type: text/html"),
            body='<p style="background:url(http://t.example/a' + "(" * 20_000 + "<script" * 5_000 + "<!--" * 5_000,
        ),
        "attached message that is garbage": raw_mail(
            *headers("bad-attached", 'Content-Type: multipart/mixed; boundary="m"'),
            body="--m\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!\r\n--m--\r\n",
        ),
        "last good": mail(message_id="<last-good@merchant.example>", subject="Last good"),
    }


async def test_every_hostile_message_is_kept_and_the_mailbox_goes_on(runtime: Runtime, imap_server: Any) -> None:
    corpus = hostile_corpus(imap_server.kind)
    appended: list[bytes] = []
    for raw in corpus.values():
        await imap_server.append(raw)
        appended.append(raw)
    mailbox = await add_mailbox(runtime, imap_server)
    uids = await server_uids(runtime, imap_server)
    assert len(uids) == len(corpus)  # the server took every one

    counts = await poller(runtime, mailbox).poll_once()

    assert (counts.fetched, counts.ingested, counts.duplicates) == (len(corpus), len(corpus), 0)
    await assert_checkpoint_at_the_last_uid(runtime, imap_server, mailbox)
    assert (await poller(runtime, mailbox).poll_once()).fetched == 0
    stored = await inbound(runtime)
    assert len(stored) == len(corpus)
    # Nothing lost: each message the server holds is stored byte for byte, as a parsed message on a
    # ticket or an automatic one, or as a problem message with its reason.
    assert {m.raw_sha256 for m in stored} == set((await served(runtime, imap_server)).values())
    for message in stored:
        if message.parse_status in ("ok", "empty"):  # empty: read whole, nothing in the body
            assert message.ticket_id is not None or message.auto is not None, message.subject[:80]
        else:
            assert message.parse_error or message.defects
    for message in stored:
        assert "\x00" not in message.subject + message.body_text + message.headers_text + (message.from_name or "")
        assert 'src="http' not in (message.body_html or "")
