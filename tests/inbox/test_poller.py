"""The poller through its services against real IMAP servers (pymap, Dovecot); one test runs the real
`poll --once` (tests/cli.py `start_routedesk`): kill -9 of the process at any moment is its point."""

from __future__ import annotations

import asyncio
import json
import random
import signal
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app.db import unit_of_work, utcnow
from app.inbox import mailboxes, repository
from app.inbox.models import MailboxState, Message
from app.inbox.poller import MailboxBusy, MailboxPoller, MailboxRef
from app.mail.imap import ImapAuthError, ImapClient, ImapEndpoint
from app.runtime import Runtime
from app.tickets.models import Ticket
from app.worker import poll_once
from tests.cli import routedesk_env, start_routedesk
from tests.mailgen import mail


async def add_mailbox(runtime: Runtime, endpoint: ImapEndpoint, name: str = "support") -> MailboxRef:
    async with unit_of_work(runtime.sessionmaker) as session:
        row = await mailboxes.add_mailbox(session, name=name, endpoint=endpoint, secrets=runtime.secrets)
        return MailboxRef.from_row(row, runtime.secrets)


def poller(runtime: Runtime, mailbox: MailboxRef, owner: str = "test-worker", **settings: Any) -> MailboxPoller:
    config = runtime.settings.model_copy(deep=True)
    for group, values in settings.items():
        setattr(config, group, getattr(config, group).model_copy(update=values))
    return MailboxPoller(
        mailbox, sessionmaker=runtime.sessionmaker, settings=config, router=runtime.router, owner=owner
    )


async def unseen(client: ImapClient) -> list[int]:
    flags = await client.flags(await client.uids_after(0))
    return sorted(uid for uid, names in flags.items() if "\\Seen" not in names)


async def stored(runtime: Runtime) -> list[str]:
    async with unit_of_work(runtime.sessionmaker) as session:
        query = select(Message.message_id).where(Message.direction == "inbound").order_by(Message.id)
        # Every test message has a Message-ID: one stored without it reads "" and fails the comparison.
        return [message_id or "" for message_id in await session.scalars(query)]


async def test_poll_once_ingests_every_message_exactly_once(runtime: Runtime, imap_server: Any) -> None:
    for i in range(12):
        await imap_server.append(mail(message_id=f"<once-{i}@merchant.example>", subject=f"Question {i}"))
    mailbox = await add_mailbox(runtime, imap_server.endpoint)
    first = await poller(runtime, mailbox, imap={"fetch_batch": 5}).poll_once()
    second = await poller(runtime, mailbox).poll_once()
    assert (first.fetched, first.ingested) == (12, 12)
    assert second.fetched == 0
    assert sorted(await stored(runtime)) == sorted(f"once-{i}@merchant.example" for i in range(12))


async def test_checkpoint_records_uidvalidity_and_last_uid(runtime: Runtime, imap_server: Any) -> None:
    for i in range(3):
        await imap_server.append(mail(message_id=f"<cp-{i}@merchant.example>"))
    mailbox = await add_mailbox(runtime, imap_server.endpoint)
    await poller(runtime, mailbox).poll_once()
    async with ImapClient(imap_server.endpoint, runtime.settings.imap) as client:
        uids = await client.uids_after(0)
        validity = client.uidvalidity
    async with unit_of_work(runtime.sessionmaker) as session:
        state = await repository.state(session, mailbox.id)
    assert state is not None and (state.uidvalidity, state.last_uid) == (validity, max(uids))
    assert state.lease_owner is None


async def test_uidvalidity_change_resyncs_without_duplicates(runtime: Runtime, imap_server: Any) -> None:
    messages = [mail(message_id=f"<uv-{i}@merchant.example>") for i in range(4)]
    for raw in messages:
        await imap_server.append(raw)
    mailbox = await add_mailbox(runtime, imap_server.endpoint)
    await poller(runtime, mailbox).poll_once()
    await imap_server.reset_uidvalidity()
    for raw in [*messages, mail(message_id="<uv-new@merchant.example>")]:
        await imap_server.append(raw)
    counts = await poller(runtime, mailbox).poll_once()
    assert (counts.fetched, counts.duplicates, counts.ingested) == (5, 4, 1)
    assert len(await stored(runtime)) == 5


async def test_seen_flag_is_set_after_the_commit(runtime: Runtime, imap_server: Any) -> None:
    await imap_server.append(mail(message_id="<seen-1@merchant.example>"))
    mailbox = await add_mailbox(runtime, imap_server.endpoint)
    async with ImapClient(imap_server.endpoint, runtime.settings.imap) as client:
        assert await unseen(client) == await client.uids_after(0)
    await poller(runtime, mailbox, ingest={"after_ingest": "seen"}).poll_once()
    assert await stored(runtime) == ["seen-1@merchant.example"]
    async with ImapClient(imap_server.endpoint, runtime.settings.imap) as client:
        assert await unseen(client) == []


async def test_lost_lease_rolls_back_the_batch_and_leaves_mail_unseen(runtime: Runtime, imap_server: Any) -> None:
    await imap_server.append(mail(message_id="<lease-1@merchant.example>"))
    mailbox = await add_mailbox(runtime, imap_server.endpoint)
    slow = poller(runtime, mailbox, owner="stalled-worker", ingest={"after_ingest": "seen"})
    assert await slow.take_lease()
    # The stalled worker's lease runs out and another worker takes the mailbox over.
    async with unit_of_work(runtime.sessionmaker) as session:
        await session.execute(update(MailboxState).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert await poller(runtime, mailbox, owner="new-worker").take_lease()
    async with ImapClient(imap_server.endpoint, runtime.settings.imap) as client:
        with pytest.raises(Exception, match="lease"):
            await slow.sync(client)
        assert await unseen(client) == await client.uids_after(0)
    assert await stored(runtime) == []


async def test_a_leased_mailbox_is_not_polled_by_a_second_worker(runtime: Runtime, imap_server: Any) -> None:
    mailbox = await add_mailbox(runtime, imap_server.endpoint)
    assert await poller(runtime, mailbox, owner="worker-a").take_lease()
    with pytest.raises(MailboxBusy):
        await poller(runtime, mailbox, owner="worker-b").poll_once()


async def test_an_expired_lease_is_taken_over(runtime: Runtime, imap_server: Any) -> None:
    mailbox = await add_mailbox(runtime, imap_server.endpoint)
    assert await poller(runtime, mailbox, owner="crashed-worker").take_lease()
    async with unit_of_work(runtime.sessionmaker) as session:
        await session.execute(update(MailboxState).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    await imap_server.append(mail(message_id="<takeover@merchant.example>"))
    counts = await poller(runtime, mailbox, owner="healthy-worker").poll_once()
    assert counts.ingested == 1


async def test_wrong_password_is_a_clear_error_naming_the_mailbox(runtime: Runtime, imap_server: Any) -> None:
    wrong = ImapEndpoint(**{**imap_server.endpoint.__dict__, "password": "not-the-password-123"})
    await add_mailbox(runtime, wrong, name="billing-inbox")
    counts, errors = await poll_once(runtime)
    assert counts.fetched == 0
    assert len(errors) == 1
    assert "billing-inbox" in errors[0] and "login" in errors[0].lower()
    assert "not-the-password-123" not in errors[0]
    async with unit_of_work(runtime.sessionmaker) as session:
        [state] = (await session.scalars(select(MailboxState))).all()
    assert state.last_error and "not-the-password-123" not in state.last_error


async def test_login_refused_raises_auth_error(runtime: Runtime, imap_server: Any) -> None:
    wrong = ImapEndpoint(**{**imap_server.endpoint.__dict__, "password": "nope"})
    mailbox = await add_mailbox(runtime, wrong)
    with pytest.raises(ImapAuthError):
        await poller(runtime, mailbox).poll_once()


async def _until(predicate: Any, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


async def test_worker_picks_up_new_mail_while_running(runtime: Runtime, imap_server: Any) -> None:
    mailbox = await add_mailbox(runtime, imap_server.endpoint)
    stop = asyncio.Event()
    task = asyncio.create_task(poller(runtime, mailbox).run(stop))
    try:
        await imap_server.append(mail(message_id="<live-1@merchant.example>"))
        await _until(lambda: _has(runtime, 1))
        await imap_server.append(mail(message_id="<live-2@merchant.example>"))
        await _until(lambda: _has(runtime, 2))
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert sorted(await stored(runtime)) == ["live-1@merchant.example", "live-2@merchant.example"]


async def _has(runtime: Runtime, n: int) -> bool:
    return len(await stored(runtime)) >= n


async def test_worker_reconnects_after_the_connection_drops(
    runtime: Runtime, imap_server: Any, imap_proxy: Any
) -> None:
    endpoint = imap_proxy.endpoint_for(imap_server)
    mailbox = await add_mailbox(runtime, endpoint)
    stop = asyncio.Event()
    running = poller(runtime, mailbox)
    task = asyncio.create_task(running.run(stop))
    try:
        await imap_server.append(mail(message_id="<drop-1@merchant.example>"))
        await _until(lambda: _has(runtime, 1))
        await imap_proxy.drop_all()
        await imap_server.append(mail(message_id="<drop-2@merchant.example>"))
        await _until(lambda: _has(runtime, 2))
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert len(await stored(runtime)) == 2
    # The drop is a poll error and the connection after it a reconnect (app/metrics.py).
    count = running.metrics.registry.get_sample_value
    assert count("routedesk_poll_errors_total", {"mailbox": "support"}) == 1
    assert count("routedesk_imap_reconnects_total", {"mailbox": "support"}) == 1
    assert count("routedesk_messages_ingested_total", {"mailbox": "support"}) == 2


async def test_worker_recovers_from_a_server_that_stops_answering(
    runtime: Runtime, imap_server: Any, imap_proxy: Any
) -> None:
    endpoint = imap_proxy.endpoint_for(imap_server)
    mailbox = await add_mailbox(runtime, endpoint)
    stop = asyncio.Event()
    quick = poller(runtime, mailbox, imap={"command_timeout": 0.5, "connect_timeout": 0.5, "idle_seconds": 1})
    imap_proxy.stall(True)
    task = asyncio.create_task(quick.run(stop))
    try:
        await imap_server.append(mail(message_id="<stall-1@merchant.example>"))
        await asyncio.sleep(1.5)
        assert await stored(runtime) == []
        imap_proxy.stall(False)
        await _until(lambda: _has(runtime, 1))
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    async with unit_of_work(runtime.sessionmaker) as session:
        state = await repository.state(session, mailbox.id)
    assert state is not None and state.last_error_at is not None


async def test_kill_9_at_any_moment_then_rerun_ingests_every_message_exactly_once(
    runtime: Runtime, imap_server: Any
) -> None:
    total = 120
    for i in range(total):
        await imap_server.append(mail(message_id=f"<kill-{i}@merchant.example>", subject=f"Order {i} question"))
    await add_mailbox(runtime, imap_server.endpoint)
    env = routedesk_env(
        runtime.settings,
        ROUTEDESK_LOG_LEVEL="warning",
        ROUTEDESK_IMAP__FETCH_BATCH="7",
        ROUTEDESK_IMAP__LEASE_SECONDS="5",
    )
    rng = random.Random(20261122)
    kills = 0
    for _ in range(6):
        proc = await asyncio.to_thread(start_routedesk, env, "poll", "--once")
        await asyncio.sleep(rng.uniform(0.3, 2.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        await asyncio.to_thread(proc.communicate)
        # A killed worker cannot release its lease: let it run out, as it would in production.
        async with unit_of_work(runtime.sessionmaker) as session:
            await session.execute(update(MailboxState).values(lease_expires_at=utcnow()))
    proc = await asyncio.to_thread(start_routedesk, env, "poll", "--once")
    out, err = await asyncio.to_thread(proc.communicate)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out.decode().strip().splitlines()[-1])["failed"] == 0
    ids = await stored(runtime)
    assert kills >= 1
    assert len(ids) == len(set(ids)) == total
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await session.scalar(select(func.count(Ticket.id))) == total
