from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import unit_of_work, utcnow
from app.inbox import ingest, repository
from app.inbox.mailboxes import imap_endpoint
from app.inbox.models import Mailbox
from app.inbox.parsing import Incoming, TrustOptions, parse_batch, parse_many
from app.kb import deflection
from app.kb.cache import HelpCentreCache
from app.links import LinkSigner
from app.loops import Backoff, sleep_or_stop, wait_or_stop
from app.mail.imap import FetchedMessage, ImapAuthError, ImapClient, ImapEndpoint, ImapError
from app.metrics import WorkerMetrics
from app.routing.service import Router
from app.secrets import SecretBox
from mailtext.trust import Verdict

log = structlog.get_logger()


class LeaseLost(Exception):
    """Another worker holds this mailbox now; whatever this one was about to commit is rolled back."""


class MailboxBusy(Exception):
    pass


@dataclass(frozen=True, slots=True)
class MailboxRef:
    id: int
    name: str
    endpoint: ImapEndpoint
    own_addresses: frozenset[str]

    @classmethod
    def from_row(cls, mailbox: Mailbox, secrets: SecretBox) -> MailboxRef:
        endpoint = imap_endpoint(mailbox, secrets)
        own = {a.lower() for a in (mailbox.address, mailbox.imap_username) if a and "@" in a}
        return cls(id=mailbox.id, name=mailbox.name, endpoint=endpoint, own_addresses=frozenset(own))


class MailboxPoller:
    def __init__(
        self,
        mailbox: MailboxRef,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        router: Router,
        owner: str,
        executor: Executor | None = None,
        metrics: WorkerMetrics | None = None,
        help_centre: HelpCentreCache | None = None,
        links: LinkSigner | None = None,
    ) -> None:
        self.mailbox = mailbox
        # With both, new tickets' acknowledgements suggest help-centre articles (app/kb/deflection.py).
        self.help_centre = help_centre
        self.links = links
        self.metrics = metrics if metrics is not None else WorkerMetrics()
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.router = router
        self.owner = owner
        self.executor = executor
        self.log = log.bind(mailbox=mailbox.id, mailbox_name=mailbox.name)

    async def take_lease(self) -> bool:
        async with unit_of_work(self.sessionmaker) as session:
            now = utcnow()
            return await repository.take_lease(
                session,
                self.mailbox.id,
                owner=self.owner,
                now=now,
                until=now + timedelta(seconds=self.settings.imap.lease_seconds),
            )

    @asynccontextmanager
    async def holding_lease(self) -> AsyncIterator[None]:
        """Renew the lease every heartbeat while the block runs (a long sync, a batch, an IDLE), so a
        live worker never loses it by working; its lease runs out only lease_seconds after it died.
        Should the renewal find another worker holding the mailbox, the block is cancelled and
        LeaseLost raised (and each commit checks the lease anyway)."""
        task = asyncio.current_task()
        assert task is not None
        lost = False

        async def beat() -> None:
            nonlocal lost
            while True:
                await asyncio.sleep(self.settings.imap.heartbeat_seconds)
                try:
                    still_ours = await self.take_lease()
                except Exception as exc:
                    # The database blinked: try again at the next beat; commits check the lease.
                    self.log.warning("lease_renewal_failed", error=type(exc).__name__)
                    continue
                if not still_ours:
                    lost = True
                    task.cancel()
                    return

        heartbeat = asyncio.create_task(beat(), name=f"lease:{self.mailbox.name}")
        try:
            yield
        except asyncio.CancelledError:
            if lost and task.uncancel() == 0:
                raise LeaseLost(f"mailbox {self.mailbox.name!r}: lease taken over by another worker") from None
            raise
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def release_lease(self) -> None:
        async with unit_of_work(self.sessionmaker) as session:
            await repository.release_lease(session, self.mailbox.id, owner=self.owner)

    async def record_error(self, error: str) -> None:
        """A failed poll: counted, and kept on the mailbox for admins."""
        self.metrics.poll_errors.labels(self.mailbox.name).inc()
        try:
            async with unit_of_work(self.sessionmaker) as session:
                await repository.record_error(session, self.mailbox.id, error=error, now=utcnow())
        except Exception:
            self.log.exception("mailbox_error_not_recorded")

    async def sync(self, client: ImapClient) -> ingest.IngestCounts:
        """Ingest everything above the checkpoint. Fetching and parsing the next batch overlaps
        with storing this one; server-side flags follow each commit, never precede it."""
        async with unit_of_work(self.sessionmaker) as session:
            state = await repository.state(session, self.mailbox.id)
        stored_validity = state.uidvalidity if state else None
        last_uid = state.last_uid if state and stored_validity == client.uidvalidity else 0
        if stored_validity is not None and stored_validity != client.uidvalidity:
            # The server renumbered the folder: read it all again; Message-ID dedupe keeps it exact.
            self.log.warning("uidvalidity_changed", old=stored_validity, new=client.uidvalidity)
        uids = await client.uids_after(last_uid)
        totals = ingest.IngestCounts()
        if not uids:
            return totals
        batch_size = self.settings.imap.fetch_batch
        chunks = [uids[i : i + batch_size] for i in range(0, len(uids), batch_size)]
        queue: asyncio.Queue[tuple[list[int], list[Incoming]] | None] = asyncio.Queue(maxsize=2)
        committed: list[int] = []
        source = ingest.Source(
            mailbox_id=self.mailbox.id,
            uidvalidity=client.uidvalidity,
            own_addresses=self.mailbox.own_addresses,
        )

        async def produce() -> None:
            for chunk in chunks:
                await self._after_commit(client, committed)
                fetched = await self._fetch(client, chunk)
                await queue.put((chunk, await self._parse(fetched)))
            await queue.put(None)

        producer = asyncio.create_task(produce())
        try:
            while (item := await queue.get()) is not None:
                chunk, incoming = item
                async with unit_of_work(self.sessionmaker) as session:
                    suggester = None
                    if self.help_centre is not None and self.links is not None:
                        suggester = await deflection.suggester(
                            session, cache=self.help_centre, links=self.links, public_url=self.settings.public_url
                        )
                    counts = await ingest.ingest_batch(
                        session,
                        incoming,
                        source=source,
                        settings=self.settings,
                        router=self.router,
                        suggester=suggester,
                    )
                    now = utcnow()
                    still_ours = await repository.advance_checkpoint(
                        session,
                        self.mailbox.id,
                        owner=self.owner,
                        uidvalidity=client.uidvalidity,
                        last_uid=max(chunk),
                        now=now,
                        lease_until=now + timedelta(seconds=self.settings.imap.lease_seconds),
                    )
                    if not still_ours:
                        raise LeaseLost(f"mailbox {self.mailbox.name!r}: lease taken over by another worker")
                totals.add(counts)
                self.metrics.ingested.labels(self.mailbox.name).inc(counts.ingested)
                self.metrics.failed.labels(self.mailbox.name).inc(counts.failed)
                committed.extend(m.uid for m in incoming if m.uid is not None)
                self.log.info("batch_ingested", last_uid=max(chunk), **_verdicts(incoming), **counts.as_dict())
            await producer
        finally:
            if not producer.done():
                producer.cancel()
                await asyncio.gather(producer, return_exceptions=True)
        await self._after_commit(client, committed)
        return totals

    async def _fetch(self, client: ImapClient, chunk: list[int]) -> list[tuple[int, bytes, int, bool]]:
        limit = self.settings.ingest.max_message_bytes
        sizes = await client.sizes(chunk)
        small = [uid for uid in chunk if sizes.get(uid, 0) <= limit]
        fetched: list[tuple[int, bytes, int, bool]] = [(m.uid, m.raw, m.size, False) for m in await client.fetch(small)]
        for uid in chunk:
            if uid in sizes and sizes[uid] > limit:
                # Kept truncated, flagged, and shown to admins; the whole message stays on the server.
                partial: FetchedMessage = await client.fetch_partial(uid, limit)
                fetched.append((uid, partial.raw, sizes[uid], True))
                self.log.warning("message_over_size_limit", uid=uid, size=sizes[uid], limit=limit)
        return sorted(fetched, key=lambda row: row[0])

    async def _parse(self, fetched: list[tuple[int, bytes, int, bool]]) -> list[Incoming]:
        ingest = self.settings.ingest
        max_attachment = ingest.max_attachment_bytes
        trust = TrustOptions(tuple(ingest.trusted_authserv_ids), ingest.verify_dkim)
        if self.executor is None or len(fetched) < 8:
            return self._noted(parse_batch(fetched, max_attachment, trust=trust))
        loop = asyncio.get_running_loop()
        raws = [raw for _uid, raw, _size, _truncated in fetched]
        cut = [truncated for _uid, _raw, _size, truncated in fetched]
        results = await loop.run_in_executor(self.executor, parse_many, raws, max_attachment, trust, cut)
        return self._noted(parse_batch(fetched, max_attachment, results))

    def _noted(self, incoming: list[Incoming]) -> list[Incoming]:
        # A message whose sender failed authentication is worth a line in the log before it is stored.
        for item in incoming:
            if item.parsed is not None and item.parsed.trust.verdict is Verdict.FAILED:
                self.log.warning(
                    "sender_trust_failed",
                    uid=item.uid,
                    message_id=item.parsed.message_id,
                    reason=item.parsed.trust.reason,
                )
        return incoming

    async def _after_commit(self, client: ImapClient, committed: list[int]) -> None:
        if not committed:
            return
        uids, action = list(committed), self.settings.ingest.after_ingest
        committed.clear()
        try:
            if action == "seen":
                await client.mark_seen(uids)
            elif action.startswith("move:"):
                await client.move(uids, action[len("move:") :])
        except ImapError as exc:
            # The messages are stored and the checkpoint is past them: a missed flag loses nothing.
            self.log.warning("after_ingest_action_failed", action=action, error=str(exc))

    def _client(self) -> ImapClient:
        return ImapClient(self.mailbox.endpoint, self.settings.imap)

    async def poll_once(self) -> ingest.IngestCounts:
        if not await self.take_lease():
            raise MailboxBusy(f"mailbox {self.mailbox.name!r} is being polled by another worker")
        try:
            async with self.holding_lease(), self._client() as client:
                return await self.sync(client)
        finally:
            await self.release_lease()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until stopped: sync, then IDLE (or, without IDLE, NOOP), and sync again at least every
        poll_interval on the same connection; the lease is renewed by a heartbeat all along."""
        imap = self.settings.imap
        backoff = Backoff(imap.backoff_initial, imap.backoff_max, healthy_after=imap.backoff_reset_seconds)
        connected_before = False
        while not stop.is_set():
            if not await self._lease_or_wait(stop):
                continue
            held = True
            try:
                async with self.holding_lease(), self._client() as client:
                    backoff.connected()
                    if connected_before:
                        self.metrics.reconnects.labels(self.mailbox.name).inc()
                    connected_before = True
                    self.log.info("mailbox_connected", uidvalidity=client.uidvalidity, idle=client.has_idle)
                    # Every poll is a sync on this same connection, not a new login. With IDLE the sync
                    # follows each push, and poll_interval at the latest, should a push go missing.
                    wait = min(imap.idle_seconds, imap.poll_interval)
                    while not stop.is_set():
                        await self.sync(client)
                        backoff.healthy()
                        await wait_or_stop(client.wait_for_new(wait), stop)
            except asyncio.CancelledError:
                raise
            except LeaseLost as exc:
                held = False
                self.log.warning("lease_lost", error=str(exc))
            except ImapAuthError as exc:
                self.log.error("imap_login_refused", error=str(exc))
                await self.record_error(f"login refused: {exc}")
                await sleep_or_stop(max(backoff.next(), imap.backoff_max / 4), stop)
            except (ImapError, OSError, TimeoutError) as exc:
                self.log.warning("imap_connection_failed", error=str(exc) or type(exc).__name__)
                await self.record_error(f"connection: {exc or type(exc).__name__}")
                await sleep_or_stop(backoff.next(), stop)
            except Exception as exc:
                self.log.exception("poller_failed")
                await self.record_error(f"{type(exc).__name__}: {exc}")
                await sleep_or_stop(backoff.next(), stop)
            finally:
                if held and stop.is_set():
                    await asyncio.shield(self.release_lease())

    async def _lease_or_wait(self, stop: asyncio.Event) -> bool:
        try:
            if await self.take_lease():
                return True
        except Exception:
            self.log.exception("lease_check_failed")
        # Someone else polls this mailbox: look again well before their lease could run out.
        jitter = random.uniform(0.8, 1.2)  # noqa: S311
        await sleep_or_stop(self.settings.imap.lease_check_seconds * jitter, stop)
        return False


def _verdicts(incoming: list[Incoming]) -> dict[str, int]:
    """How many of a batch's messages had each sender-trust verdict (mailtext.trust): trust_verified=..."""
    counts = dict.fromkeys(Verdict, 0)
    for item in incoming:
        if item.parsed is not None:
            counts[item.parsed.trust.verdict] += 1
    return {f"trust_{verdict}": count for verdict, count in counts.items()}
