"""The worker: one poller task per mailbox, supervised, until SIGTERM."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import structlog

from app.csat.scheduler import run_survey_scheduler
from app.db import unit_of_work
from app.health.heartbeat import run_heartbeat
from app.inbox import repository
from app.inbox.ingest import IngestCounts
from app.inbox.parsing import die_with_parent
from app.inbox.poller import LeaseLost, MailboxBusy, MailboxPoller, MailboxRef
from app.loops import sleep_or_stop
from app.mail.imap import ImapAuthError, ImapError
from app.replies.sender import run_sender
from app.runtime import Runtime
from app.sla.breaches import run_breach_recorder

log = structlog.get_logger()

MAILBOX_REFRESH_SECONDS = 30.0


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def parse_executor(
    workers: int, *, initializer: Callable[..., object] = die_with_parent, initargs: tuple[object, ...] = ()
) -> Executor | None:
    """The parse workers. `initializer` runs first in each, given this process's pid and `initargs`
    (plain values: the worker is spawned); it must call die_with_parent, as the default does."""
    if workers <= 0:
        return None
    # spawn, not fork: the parent has threads (aiosqlite) that a forked child must not inherit, and a
    # spawned child starts small instead of sharing (and copying) the parent's memory. Each worker
    # dies with this process, even when it is killed with SIGKILL and cannot shut the pool down.
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=initializer,
        initargs=(os.getpid(), *initargs),
    )


async def _mailboxes(runtime: Runtime) -> list[MailboxRef]:
    async with unit_of_work(runtime.sessionmaker) as session:
        rows = await repository.mailboxes(session, enabled_only=True)
        return [MailboxRef.from_row(row, runtime.secrets) for row in rows]


@dataclass
class PollOutcome:
    counts: IngestCounts = field(default_factory=IngestCounts)
    # One line per mailbox that failed (login refused, connection lost).
    errors: list[str] = field(default_factory=list)
    # One line per mailbox skipped because another worker holds its lease: not a failure, it is being polled.
    busy: list[str] = field(default_factory=list)


async def poll_once(runtime: Runtime, *, owner: str | None = None) -> tuple[IngestCounts, list[str]]:
    """Every mailbox, once. Returns the totals and one error line per mailbox that failed or was busy."""
    outcome = await poll_mailboxes(runtime, owner=owner)
    return outcome.counts, outcome.errors + outcome.busy


async def poll_mailboxes(runtime: Runtime, *, owner: str | None = None, wait: float = 0.0) -> PollOutcome:
    """Every mailbox, once. A mailbox another worker holds is skipped, or with `wait` (seconds) polled as
    soon as its lease is free, looking every lease check interval until `wait` has passed."""
    owner = owner or worker_id()
    outcome = PollOutcome()
    executor = parse_executor(runtime.settings.ingest.parse_workers)
    deadline = asyncio.get_running_loop().time() + wait
    try:
        for mailbox in await _mailboxes(runtime):
            poller = MailboxPoller(
                mailbox,
                sessionmaker=runtime.sessionmaker,
                settings=runtime.settings,
                router=runtime.router,
                owner=owner,
                executor=executor,
                metrics=runtime.metrics,
                help_centre=runtime.help_centre,
                links=runtime.links,
            )
            while True:
                try:
                    outcome.counts.add(await poller.poll_once())
                except (MailboxBusy, LeaseLost) as exc:
                    left = deadline - asyncio.get_running_loop().time()
                    if left > 0:
                        await asyncio.sleep(min(left, runtime.settings.imap.lease_check_seconds))
                        continue
                    outcome.busy.append(str(exc))
                except ImapAuthError as exc:
                    outcome.errors.append(f"mailbox {mailbox.name!r}: IMAP login refused: {exc}")
                    await poller.record_error(f"login refused: {exc}")
                except (ImapError, OSError, TimeoutError) as exc:
                    outcome.errors.append(f"mailbox {mailbox.name!r}: {exc or type(exc).__name__}")
                    await poller.record_error(f"connection: {exc or type(exc).__name__}")
                break
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
    return outcome


async def run_worker(runtime: Runtime, stop: asyncio.Event, *, process: str = "worker") -> None:
    owner = worker_id()
    runtime.workers.add(owner)
    log.info("worker_started", worker=owner)
    async with AsyncExitStack() as stack:
        executor = parse_executor(runtime.settings.ingest.parse_workers)
        if executor is not None:
            stack.callback(executor.shutdown, cancel_futures=True)
        tasks: dict[int, asyncio.Task[None]] = {}
        # Training pulls in scikit-learn: imported when a worker starts, never by `poll --once`.
        from app.routing.training import run_jobs

        jobs = asyncio.create_task(run_jobs(runtime.sessionmaker, stop, owner=owner), name="jobs")
        sender = asyncio.create_task(
            run_sender(
                runtime.sessionmaker, runtime.settings, runtime.secrets, stop, owner=owner, metrics=runtime.metrics
            ),
            name="outbox",
        )
        heartbeat = asyncio.create_task(
            run_heartbeat(
                runtime.sessionmaker,
                runtime.settings.health,
                stop,
                worker_id=owner,
                process=process,
                metrics=runtime.metrics,
                clock=runtime.clock,
            ),
            name="heartbeat",
        )
        breaches = asyncio.create_task(
            run_breach_recorder(runtime.sessionmaker, stop, tick=runtime.settings.tickets.sla_breach_tick_seconds),
            name="sla-breaches",
        )
        surveys = asyncio.create_task(
            run_survey_scheduler(runtime.sessionmaker, runtime.settings, runtime.links, stop, clock=runtime.clock),
            name="csat-surveys",
        )
        try:
            while not stop.is_set():
                try:
                    wanted = {m.id: m for m in await _mailboxes(runtime)}
                except Exception:
                    log.exception("mailbox_list_failed")
                    wanted = None
                for mailbox_id in set(tasks) - set(wanted if wanted is not None else tasks):
                    tasks.pop(mailbox_id).cancel()
                for mailbox_id, mailbox in (wanted or {}).items():
                    task = tasks.get(mailbox_id)
                    if task is None or task.done():
                        poller = MailboxPoller(
                            mailbox,
                            sessionmaker=runtime.sessionmaker,
                            settings=runtime.settings,
                            router=runtime.router,
                            owner=owner,
                            executor=executor,
                            metrics=runtime.metrics,
                            help_centre=runtime.help_centre,
                            links=runtime.links,
                        )
                        tasks[mailbox_id] = asyncio.create_task(poller.run(stop), name=f"poll:{mailbox.name}")
                await sleep_or_stop(MAILBOX_REFRESH_SECONDS, stop)
        finally:
            stop.set()
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(sender, jobs, breaches, surveys, *tasks.values(), return_exceptions=True)
            # The last beat after the pollers and the sender stopped: it carries their final counts.
            await asyncio.gather(heartbeat, return_exceptions=True)
    log.info("worker_stopped", worker=owner)


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
