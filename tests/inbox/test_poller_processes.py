"""The poller as processes: what a kill -9 leaves behind, how soon another worker takes a dead one's
mailbox over, that a live worker keeps its mailbox through a long sync, and how often it logs in
to a server without IDLE. The kill -9, takeover and SIGTERM tests run the real `poll --once`,
`worker` and `run` (tests/cli.py `start_routedesk`): signals and what a process leaves are their point;
the others drive the poller in-process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.config import ImapSettings
from app.db import unit_of_work, utcnow
from app.inbox import repository
from app.inbox.poller import MailboxPoller
from app.loops import Backoff
from app.ports import free_port
from app.runtime import Runtime
from tests.cli import routedesk_env, start_routedesk
from tests.inbox.test_poller import add_mailbox, poller, stored
from tests.mailgen import mail


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll `predicate` until it holds; fail naming `what` once `timeout` seconds have gone by."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------------------------------------
# Processes under /proc


def _start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None once it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # After the command: state is field 3, starttime field 22 (so 0 and 19 here).
    return None if fields[0] in ("Z", "X") else int(fields[19])


def descendants(pid: int) -> dict[int, int]:
    """Every live descendant of `pid`, as pid -> start time (so a reused pid is not mistaken for it)."""
    found: dict[int, int] = {}
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as handle:
                    children = [int(c) for c in handle.read().split()]
            except FileNotFoundError:
                continue
            for child in children:
                started = _start_time(child)
                if started is not None and child not in found:
                    found[child] = started
                    pending.append(child)
    return found


def still_running(processes: dict[int, int]) -> dict[int, int]:
    return {pid: started for pid, started in processes.items() if _start_time(pid) == started}


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return "(gone)"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")
async def test_kill_9_of_poll_once_mid_ingest_leaves_no_process_behind(
    runtime: Runtime, imap_server: Any, tmp_path: Path
) -> None:
    # Enough mail that the poll runs for seconds: at 600 it could finish between two looks of a loaded
    # test process (seen with the suite on two cores in parallel), and the kill came too late.
    total = 2000
    for i in range(total):
        await imap_server.append(mail(message_id=f"<orphan-{i}@merchant.example>", subject=f"Refund {i}"))
    await add_mailbox(runtime, imap_server.endpoint)
    env = routedesk_env(
        runtime.settings,
        ROUTEDESK_LOG_LEVEL="warning",
        ROUTEDESK_INGEST__PARSE_WORKERS="1",
        ROUTEDESK_IMAP__FETCH_BATCH="10",
    )
    proc = await asyncio.to_thread(start_routedesk, env, "poll", "--once", log=tmp_path / "poll.log")
    try:
        children: dict[int, int] = {}

        async def mid_ingest() -> bool:
            nonlocal children
            assert proc.poll() is None, (
                "the poll ended before it could be killed mid-ingest: " + (tmp_path / "poll.log").read_text()
            )
            children = descendants(proc.pid)
            # A batch went through the parse worker (batches of 10) and was committed; more to come.
            return bool(children) and 0 < len(await stored(runtime)) < total

        await until(mid_ingest, 60, "poll --once is mid-ingest with its parse worker running")
        children = descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait)
    finally:
        if proc.poll() is None:
            proc.kill()
            await asyncio.to_thread(proc.wait)
    commands = {pid: _command_line(pid) for pid in children}

    async def all_gone() -> bool:
        return not still_running(children)

    await until(all_gone, 15, f"every child of the killed poll exits; left: {commands}")


# ---------------------------------------------------------------------------------------------------
# Leases


def test_default_lease_lets_another_worker_take_over_in_under_a_minute() -> None:
    imap = ImapSettings()
    # A dead worker's lease runs out lease_seconds after its last renewal; the others look every
    # quarter lease (with up to 20% jitter).
    worst = imap.lease_seconds + imap.lease_seconds / 4 * 1.2
    assert worst < 60
    assert imap.takeover_seconds == worst
    # A live worker renews at least twice per lease, so one late beat never costs it the mailbox.
    assert imap.heartbeat_seconds * 2 <= imap.lease_seconds


async def _lease(runtime: Runtime, mailbox_id: int) -> tuple[str | None, Any]:
    async with unit_of_work(runtime.sessionmaker) as session:
        state = await repository.state(session, mailbox_id)
        assert state is not None
        return state.lease_owner, state.lease_expires_at


async def test_a_killed_workers_mailbox_is_taken_over_within_the_lease(
    runtime: Runtime, imap_server: Any, tmp_path: Path
) -> None:
    lease = {"lease_seconds": 3.0, "lease_heartbeat_seconds": 0.5}
    mailbox = await add_mailbox(runtime, imap_server.endpoint)
    env = routedesk_env(
        runtime.settings,
        ROUTEDESK_LOG_LEVEL="warning",
        ROUTEDESK_IMAP__LEASE_SECONDS=str(lease["lease_seconds"]),
        ROUTEDESK_IMAP__LEASE_HEARTBEAT_SECONDS=str(lease["lease_heartbeat_seconds"]),
    )
    log = tmp_path / "worker.log"
    crashed = await asyncio.to_thread(start_routedesk, env, "worker", log=log)
    stop = asyncio.Event()
    survivor: asyncio.Task[None] | None = None
    try:
        await imap_server.append(mail(message_id="<before-crash@merchant.example>"))

        async def first_worker_ingested() -> bool:
            assert crashed.poll() is None, log.read_text()
            owner, _ = await _lease(runtime, mailbox.id)
            return owner is not None and len(await stored(runtime)) == 1

        await until(first_worker_ingested, 60, "the first worker holds the mailbox and ingested its mail")
        crashed_owner, _ = await _lease(runtime, mailbox.id)
        crashed.send_signal(signal.SIGKILL)
        await asyncio.to_thread(crashed.wait)
        killed_at = time.monotonic()
        await imap_server.append(mail(message_id="<after-crash@merchant.example>"))
        second = poller(runtime, mailbox, owner="second-worker", imap=lease)
        survivor = asyncio.create_task(second.run(stop))

        async def taken_over() -> bool:
            return len(await stored(runtime)) == 2

        await until(taken_over, 60, "a second worker ingests the mail that arrived after the crash")
        waited = time.monotonic() - killed_at
    finally:
        if crashed.poll() is None:
            crashed.kill()
            await asyncio.to_thread(crashed.wait)
        stop.set()
        if survivor is not None:
            await asyncio.wait_for(survivor, 10)
    owner, _ = await _lease(runtime, mailbox.id)
    assert crashed_owner != "second-worker" and owner is None  # released on stop
    assert sorted(await stored(runtime)) == ["after-crash@merchant.example", "before-crash@merchant.example"]
    # Bounded by the lease the dead worker held (not a fixed two minutes): it runs out, the next look
    # finds it free; a few seconds on top for logging in and syncing on a loaded machine.
    bound = second.settings.imap.takeover_seconds + 5.0
    print(f"takeover after kill -9: {waited:.2f}s (lease {lease['lease_seconds']}s, bound {bound:.2f}s)")
    assert waited < bound


async def test_a_sync_that_outlasts_the_lease_keeps_it_and_stores_each_message_once(
    runtime: Runtime, imap_server: Any, imap_proxy: Any
) -> None:
    total = 200
    for i in range(total):
        await imap_server.append(mail(message_id=f"<long-{i}@merchant.example>", subject=f"Order {i}"))
    mailbox = await add_mailbox(runtime, imap_proxy.endpoint_for(imap_server))
    short = {"lease_seconds": 3.0, "lease_heartbeat_seconds": 0.3, "fetch_batch": 10, "command_timeout": 60.0}
    working = poller(runtime, mailbox, owner="slow-worker", imap=short)
    rival = poller(runtime, mailbox, owner="rival-worker", imap=short)
    # The server stops answering mid-sync, at the third batch's FETCH (so after the first batch's
    # commit however fast this machine is): the sync now lasts several leases.
    imap_proxy.stall_before("UID FETCH", 3)
    sync = asyncio.create_task(working.poll_once())
    try:

        async def first_batch() -> bool:
            assert not sync.done(), "the sync ended before it could be slowed down"
            return len(await stored(runtime)) > 0

        await until(first_batch, 30, "the first batch is committed")
        stalled_at = utcnow()
        rival_took_it = False

        async def renewed_for_two_leases() -> bool:
            nonlocal rival_took_it
            rival_took_it = rival_took_it or await rival.take_lease()
            owner, expires = await _lease(runtime, mailbox.id)
            assert owner == "slow-worker"
            expires = expires.replace(tzinfo=stalled_at.tzinfo) if expires.tzinfo is None else expires
            return bool(expires > stalled_at + timedelta(seconds=2 * short["lease_seconds"]))

        await until(renewed_for_two_leases, 30, "the stalled worker's heartbeat renews its lease")
        assert not rival_took_it
        imap_proxy.stall(False)
        counts = await asyncio.wait_for(sync, 60)
    finally:
        imap_proxy.stall(False)
        if not sync.done():
            sync.cancel()
            await asyncio.gather(sync, return_exceptions=True)
    ids = await stored(runtime)
    assert (counts.fetched, counts.ingested, counts.duplicates) == (total, total, 0)
    assert len(ids) == len(set(ids)) == total
    assert (await _lease(runtime, mailbox.id))[0] is None


# ---------------------------------------------------------------------------------------------------
# Servers without IDLE


def _polling(runtime: Runtime, mailbox: Any) -> MailboxPoller:
    # Backoff as in production: one second, doubling; polls every 0.2 s so a test sees many.
    return poller(
        runtime,
        mailbox,
        imap={"poll_interval": 0.2, "backoff_initial": 1.0, "backoff_max": 300.0, "backoff_reset_seconds": 60.0},
    )


@pytest.mark.parametrize("noop", ["answered", "refused"])
async def test_a_server_without_idle_is_polled_on_one_connection(
    runtime: Runtime, imap_server: Any, imap_proxy: Any, noop: str
) -> None:
    imap_proxy.hide_capability("IDLE")
    if noop == "refused":
        imap_proxy.refuse_command("NOOP")
    mailbox = await add_mailbox(runtime, imap_proxy.endpoint_for(imap_server))
    stop = asyncio.Event()
    task = asyncio.create_task(_polling(runtime, mailbox).run(stop))
    polls = 15
    try:
        await imap_server.append(mail(message_id="<poll-1@merchant.example>"))

        async def polled() -> bool:
            assert not task.done()
            return bool(imap_proxy.commands["UID SEARCH"] >= polls)

        # Each poll looks for new mail with UID SEARCH: wait for that many polls, however long.
        await until(polled, 60, f"{polls} polls")
        await imap_server.append(mail(message_id="<poll-2@merchant.example>"))

        async def both() -> bool:
            return len(await stored(runtime)) == 2

        await until(both, 30, "mail that arrives between polls is ingested")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert imap_proxy.commands["LOGIN"] == 1, dict(imap_proxy.commands)


def test_backoff_grows_across_short_lived_connections_and_resets_after_a_healthy_one() -> None:
    now = [0.0]
    backoff = Backoff(1.0, 300.0, healthy_after=60.0, clock=lambda: now[0])
    delays = []
    for _ in range(5):
        backoff.connected()
        now[0] += 2.0  # the connection synced fine, then dropped two seconds later
        backoff.healthy()
        delays.append(backoff.next())
    # Jitter draws each delay from [half, all] of 1, 2, 4, 8, 16 s: always growing.
    assert [d > 2**i / 2 - 1e-9 and d <= 2**i for i, d in enumerate(delays)] == [True] * 5
    assert delays[-1] >= 8
    backoff.connected()
    now[0] += 61.0  # this one worked for over a minute before it failed
    backoff.healthy()
    assert backoff.next() <= 1.0
    # A failure before any connection (a refused login) keeps growing it.
    assert backoff.next() > 1.0 - 1e-9


@pytest.mark.parametrize("command", ["worker", "run"])
async def test_a_stopped_worker_gives_its_mailbox_up_at_once(
    runtime: Runtime, imap_server: Any, tmp_path: Path, command: str
) -> None:
    """SIGTERM is an orderly stop: the mailbox is free for another worker right away, not a lease later
    (uvicorn re-raises the signal it caught once it has shut down, which killed `run` before its worker
    had stopped)."""
    mailbox = await add_mailbox(runtime, imap_server.endpoint)
    await imap_server.append(mail(message_id="<before-stop@merchant.example>"))
    log = tmp_path / f"{command}.log"
    args = [command] if command == "worker" else [command, "--port", str(free_port())]
    env = routedesk_env(runtime.settings, ROUTEDESK_LOG_LEVEL="warning")
    process = await asyncio.to_thread(start_routedesk, env, *args, log=log)
    try:

        async def holding() -> bool:
            assert process.poll() is None, log.read_text()
            owner, _ = await _lease(runtime, mailbox.id)
            return owner is not None and len(await stored(runtime)) == 1

        await until(holding, 60, f"`{command}` holds the mailbox and ingested its mail")
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 60)
    finally:
        if process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait)
    output = log.read_text()
    assert code == 0, output
    assert (await _lease(runtime, mailbox.id))[0] is None, output
    assert "leaked semaphore" not in output  # the parse worker was shut down, not left to the tracker
