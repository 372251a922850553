"""GET /metrics and /readyz through httpx against the app: the scrape token, what the figures count
(queues from the database, requests by route template, a worker's counts from a real poll of pymap and
real sends to aiosmtpd), that no ticket content shows, and a stale worker heartbeat on a pinned clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import select, update

from app.config import MetricsSettings
from app.db import unit_of_work, utcnow
from app.health.heartbeat import beat_once
from app.inbox import mailboxes
from app.inbox.models import Mailbox
from app.metrics import WorkerMetrics
from app.replies.sender import send_due
from app.tickets.models import Ticket
from app.worker import poll_mailboxes
from tests.api.desk import SUPPORT, Desk, sqlite_only
from tests.fixtures.imap import ImapTestServer
from tests.mailgen import mail

TOKEN = "scrape-token-0123456789abcdef"
SUBJECT = "Chargeback on invoice Zebra-4471"
SENDER = "kim.customer@merchant.example"
BODY = "My card ending 4242 was charged twice for order Walrus-981, please help."
# Digits of the body as they would show in a label or text (never as part of a sample's float value).
CARD = "ending 4242"


def _with_token(desk: Desk, token: str | None = TOKEN) -> None:
    metrics = MetricsSettings(token=SecretStr(token) if token else None)
    desk.runtime.settings = desk.settings.model_copy(update={"metrics": metrics})


def _root(desk: Desk) -> httpx.AsyncClient:
    """A client for the paths outside /api/v1."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test")


async def scrape(desk: Desk) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels."""
    async with _root(desk) as client:
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


async def scrape_text(desk: Desk) -> str:
    async with _root(desk) as client:
        return (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text


@sqlite_only
async def test_metrics_need_the_scrape_token(desk: Desk) -> None:
    async with _root(desk) as client:
        off = await client.get("/metrics")
        assert off.status_code == 404 and "ROUTEDESK_METRICS__TOKEN" in off.json()["detail"]
        _with_token(desk)
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401 and refused.json()["error"] == "Unauthorized"
            assert TOKEN not in refused.text
        assert (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200


async def test_metrics_count_queues_and_requests_by_route_template_without_ticket_content(desk: Desk) -> None:
    _with_token(desk)
    first = await desk.new_ticket(mail(subject=SUBJECT, sender=SENDER, body=BODY, message_id="<m1@merchant.example>"))
    second = await desk.new_ticket(mail(message_id="<m2@merchant.example>", sender="lee@merchant.example"))
    await desk.agent.post("/queues/triage/claim")  # the nearest due first: one of the two
    # One ticket past its SLA due time (breached), the other due within the area's 60-minute warning
    # window (at risk), as GET /queues counts them.
    await desk.execute(update(Ticket).where(Ticket.id == first).values(sla_due_at=utcnow() - timedelta(1)))
    await desk.execute(update(Ticket).where(Ticket.id == second).values(sla_due_at=utcnow() + timedelta(minutes=5)))
    for _ in range(3):
        assert (await desk.agent.get(f"/tickets/{first}")).status_code == 200
    assert (await desk.agent.get("/tickets/2147483647")).status_code == 404
    samples = await scrape(desk)
    queues = (await desk.agent.get("/queues")).json()
    triage = next(q for q in queues if q["area"] == "triage")
    area = (("area", "triage"),)
    assert samples[("routedesk_queue_open_tickets", area)] == triage["open"] == 2
    assert samples[("routedesk_queue_unassigned_tickets", area)] == triage["unassigned"] == 1
    assert samples[("routedesk_queue_breached_tickets", area)] == triage["breaching"] == 1
    assert samples[("routedesk_queue_at_risk_tickets", area)] == triage["at_risk"] == 1
    route = "/api/v1/tickets/{ticket_id}"
    ok = (("method", "GET"), ("route", route), ("status", "200"))
    assert samples[("routedesk_http_requests_total", ok)] == 3
    assert samples[("routedesk_http_requests_total", (("method", "GET"), ("route", route), ("status", "404")))] == 1
    assert samples[("routedesk_http_request_seconds_count", (("method", "GET"), ("route", route)))] == 4
    assert samples[("routedesk_http_processes", ())] == 1
    text = await scrape_text(desk)
    for content in (
        SUBJECT,
        "Zebra",
        SENDER,
        "merchant.example",
        "Walrus",
        CARD,
        "card",
        f"/tickets/{first}",
        "/2147483647",
    ):
        assert content not in text


@pytest.mark.parametrize("imap_server", ["pymap"], indirect=True)
async def test_worker_counts_from_a_real_poll_and_real_sends_reach_the_scrape(
    desk: Desk, imap_server: ImapTestServer
) -> None:
    _with_token(desk)
    runtime = desk.runtime
    await desk.new_ticket(mail(message_id="<ack-me@merchant.example>"))  # its acknowledgement is queued
    assert (await scrape(desk))[("routedesk_outbox_backlog", (("status", "queued"),))] == 1
    desk.smtp.fail(451, times=1)
    now = utcnow()

    async def send_at(when: datetime) -> int:
        return await send_due(
            runtime.sessionmaker,
            runtime.settings,
            runtime.secrets,
            owner="w",
            metrics=runtime.metrics,
            clock=lambda: when,
        )

    assert [await send_at(now), await send_at(now + timedelta(hours=2))] == [1, 1]  # refused, then sent on retry
    for i in range(2):
        await imap_server.append(mail(message_id=f"<poll-{i}@merchant.example>", subject=f"Payout {i}"))
    async with unit_of_work(runtime.sessionmaker) as session:
        # A mailbox without SMTP settings: its acknowledgements fail for good.
        await mailboxes.add_mailbox(
            session, name="inbound", endpoint=imap_server.endpoint, secrets=runtime.secrets, address=SUPPORT
        )
    down = await desk.scalar(select(Mailbox.name).where(Mailbox.id == desk.mailbox_id))
    # The desk's own mailbox has no IMAP server listening: one poll error.
    outcome = await poll_mailboxes(runtime)
    assert outcome.counts.ingested == 2 and len(outcome.errors) == 1
    assert (await scrape(desk))[("routedesk_outbox_backlog", (("status", "queued"),))] == 2
    assert await send_at(now + timedelta(hours=3)) == 2
    # `serve` alone: the worker's counts come from its heartbeat row.
    await beat_once(runtime.sessionmaker, worker_id="w", process="worker", metrics=runtime.metrics, now=utcnow())
    samples = await scrape(desk)
    inbound = ("routedesk_messages_ingested_total", (("mailbox", "inbound"),))
    assert samples[inbound] == 2
    assert samples[("routedesk_messages_failed_total", (("mailbox", "inbound"),))] == 0
    assert samples[("routedesk_poll_errors_total", (("mailbox", down),))] == 1
    assert samples[("routedesk_outbox_send_failures_total", (("kind", "temporary"),))] == 1
    assert samples[("routedesk_outbox_send_failures_total", (("kind", "permanent"),))] == 2
    assert samples[("routedesk_outbox_sent_total", ())] == 1
    assert samples[("routedesk_outbox_backlog", (("status", "queued"),))] == 0
    assert samples[("routedesk_classification_seconds_count", ())] == 2  # two batches: the desk's, the poll's
    # A second worker's row adds to the first's.
    other = WorkerMetrics()
    other.ingested.labels("inbound").inc(5)
    await beat_once(runtime.sessionmaker, worker_id="w2", process="worker", metrics=other, now=utcnow())
    assert (await scrape(desk))[inbound] == 7
    # `run`: the worker in this process is read live, its own row not counted a second time.
    runtime.metrics.ingested.labels("inbound").inc()
    runtime.workers.add("w")
    assert (await scrape(desk))[inbound] == 8


@sqlite_only
async def test_readyz_is_503_when_the_newest_heartbeat_is_stale(desk: Desk) -> None:
    runtime = desk.runtime
    stale = runtime.settings.health.heartbeat_stale_seconds
    start = utcnow()
    async with _root(desk) as client:
        # `serve` alone, no worker ever: an API-only deployment is ready.
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.json()["worker"]) == (200, "none expected")
        await beat_once(runtime.sessionmaker, worker_id="w", process="worker", metrics=WorkerMetrics(), now=start)
        runtime.clock = lambda: start + timedelta(seconds=stale - 1)
        assert (await client.get("/readyz")).json() == {"database": "ok", "worker": "ok"}
        runtime.clock = lambda: start + timedelta(seconds=stale + 30)
        late = await client.get("/readyz")
        assert late.status_code == 503
        assert (
            late.json()["worker"] == f"stale: the newest worker heartbeat is {stale + 30:.0f} s old (limit {stale:g} s)"
        )


@sqlite_only
async def test_readyz_in_run_waits_for_the_first_heartbeat(desk: Desk) -> None:
    desk.runtime.workers.add("in-process")
    async with _root(desk) as client:
        waiting = await client.get("/readyz")
        assert waiting.status_code == 503 and waiting.json()["worker"] == "no worker has sent a heartbeat"
        await beat_once(
            desk.runtime.sessionmaker, worker_id="in-process", process="run", metrics=WorkerMetrics(), now=utcnow()
        )
        assert (await client.get("/readyz")).status_code == 200
