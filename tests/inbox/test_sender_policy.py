"""Acting on who sent a message (issue 14, part 2), with real mail through the real IMAP server (pymap),
trusted `Authentication-Results` headers, the app through httpx and the real SMTP test server: a
`failed` reply never reaches the ticket it claims, gets nothing back and is never surveyed; an area can
hold such mail in triage; an `unverified` message threads marked and warns the agent; the report."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from app.config import Settings
from app.csat import scheduler
from app.csat.models import CsatSurvey
from app.db import unit_of_work, utcnow
from app.demo.imap_server import LocalImapServer
from app.inbox.models import Message
from app.inbox.poller import MailboxPoller, MailboxRef
from app.kb.models import ArticleSuggestion
from app.replies.models import Outbox
from app.reports import facts
from app.reports.models import TicketFact
from app.tickets.models import Customer, Ticket, TicketEvent
from tests.api.desk import Desk, add_mailbox, api_app, desk
from tests.cli import invoke_routedesk
from tests.console.browser import Console
from tests.fixtures.smtp import smtp_server
from tests.inbox.test_hostile import REFUSED_SUBJECT, refuse_one_subject
from tests.kb.test_deflection import PAYOUT_ARTICLE
from tests.mailgen import mail

__all__ = ["api_app", "desk", "smtp_server"]

PUBLIC = "https://help.example"
MX = "mx.ours.example"
FAIL = {"Authentication-Results": f"{MX}; dmarc=fail header.from=merchant.example"}
PASS = {"Authentication-Results": f"{MX}; dmarc=pass header.from=merchant.example"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Our MTA's authserv-id trusted; a public address, so that acknowledgements carry help-centre
    links and solved tickets get surveys."""
    ingest = settings.ingest.model_copy(update={"trusted_authserv_ids": [MX]})
    return settings.model_copy(update={"public_url": PUBLIC, "ingest": ingest})


class Inbox:
    """The desk's support mailbox on a real IMAP server, polled as the worker polls it."""

    def __init__(self, desk: Desk, server: LocalImapServer, mailbox: MailboxRef) -> None:
        self.desk, self.server, self.mailbox = desk, server, mailbox

    async def deliver(self, *raws: bytes) -> None:
        for raw in raws:
            await self.server.append(raw, self.server.folder)
        runtime = self.desk.runtime
        await MailboxPoller(
            self.mailbox,
            sessionmaker=runtime.sessionmaker,
            settings=runtime.settings,
            router=runtime.router,
            owner="test-worker",
            help_centre=runtime.help_centre,
            links=runtime.links,
        ).poll_once()


@pytest.fixture
async def inbox(desk: Desk) -> AsyncIterator[Inbox]:
    async with LocalImapServer() as server:
        endpoint = server.endpoint
        row = await add_mailbox(
            desk.runtime,
            desk.smtp,
            imap_host=endpoint.host,
            imap_port=endpoint.port,
            imap_security="none",
            imap_username=endpoint.username,
            imap_password=endpoint.password,
            folder=endpoint.folder,
        )
        desk.mailbox_id = row.id
        yield Inbox(desk, server, MailboxRef.from_row(row, desk.runtime.secrets))


async def _ticket(desk: Desk, ticket_id: int) -> Ticket:
    found = await desk.scalar(select(Ticket).where(Ticket.id == ticket_id))
    assert found is not None
    return found  # type: ignore[no-any-return]


async def _events(desk: Desk, ticket_id: int) -> list[TicketEvent]:
    return await desk.all(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id))


async def test_a_failed_reply_with_a_real_token_opens_a_flagged_ticket_and_never_touches_the_claimed_one(
    desk: Desk, inbox: Inbox
) -> None:
    assert (await desk.admin.post("/admin/articles", json=PAYOUT_ARTICLE)).status_code == 201
    # The customer's own mail, authenticated by our MTA: a ticket, acknowledged with a deflection link.
    body = "Hello, my payout from Monday has not arrived. Ana"
    await inbox.deliver(
        mail(subject="Payout has not arrived", body=body, message_id="<real@merchant.example>", headers=PASS)
    )
    original_id = await desk.ticket_of("<real@merchant.example>")
    original = await _ticket(desk, original_id)
    assert await desk.send_due() == 1
    [ack] = desk.smtp.messages
    assert "This answered my question:" in ack.message.get_content()  # deflection is on for this desk
    before_events = [(e.id, e.kind) for e in await _events(desk, original_id)]
    before_messages = await desk.all(select(Message.id).where(Message.ticket_id == original_id))

    # A spoof: the customer's address, a real ticket token and a real In-Reply-To; DMARC failed.
    spoof = mail(
        subject=f"Re: Payout has not arrived [{original.reference}]",
        body=body + " Please change the bank account for my payouts to the one below.",
        message_id="<spoof@merchant.example>",
        in_reply_to="<real@merchant.example>",
        headers=FAIL,
    )
    await inbox.deliver(spoof)

    spoof_id = await desk.ticket_of("<spoof@merchant.example>")
    assert spoof_id != original_id
    flagged = await _ticket(desk, spoof_id)
    assert (flagged.possible_spoof, flagged.spoof_of_ticket_id) == (True, original_id)
    assert original.reference not in flagged.subject
    [failed] = [e for e in await _events(desk, spoof_id) if e.kind == "sender_failed"]
    assert failed.data["claimed_ticket"] == original.reference and failed.data["claimed_by"] == "header"
    assert failed.data["reason"] == "DMARC fail for merchant.example (authres:mx.ours.example)"
    assert failed.data["dmarc"] == "fail" and failed.data["held_from"] is None
    [skipped] = [e for e in await _events(desk, spoof_id) if e.kind == "acknowledgement_skipped"]
    assert skipped.data["reason"] == "sender_failed"

    # The claimed ticket: no message, no event, status unchanged.
    assert [(e.id, e.kind) for e in await _events(desk, original_id)] == before_events
    assert await desk.all(select(Message.id).where(Message.ticket_id == original_id)) == before_messages
    assert (await _ticket(desk, original_id)).status == original.status

    # Nothing goes back: no acknowledgement reaches the SMTP server, no deflection link is offered.
    assert await desk.all(select(Outbox.id).where(Outbox.ticket_id == spoof_id)) == []
    assert await desk.send_due() == 0
    assert len(desk.smtp.messages) == 1
    assert await desk.all(select(ArticleSuggestion.ticket_id).where(ArticleSuggestion.ticket_id == spoof_id)) == []

    # The API: the flag and the link, the message's verdict; an agent acting on it is warned.
    detail = (await desk.agent.get(f"/tickets/{spoof_id}")).json()
    assert (detail["possible_spoof"], detail["spoof_of_ticket_id"]) == (True, original_id)
    [message] = detail["messages"]
    assert message["trust"]["verdict"] == "failed" and message["trust"]["dmarc"] == "fail"
    solved = await desk.agent.post(f"/tickets/{spoof_id}/status", json={"status": "solved"})
    assert solved.status_code == 200, solved.text
    assert any("possible spoof" in w for w in solved.json()["warnings"])

    # No CSAT survey, ever: the scheduler on a clock well past every delay records why.
    at = utcnow() + timedelta(days=2)
    desk.runtime.clock = lambda: at
    await scheduler.send_due(desk.runtime.sessionmaker, settings=desk.settings, links=desk.runtime.links, now=at)
    [survey] = await desk.all(select(CsatSurvey).where(CsatSurvey.ticket_id == spoof_id))
    assert (survey.status, survey.skip_reason) == ("skipped", "possible_spoof")
    assert await desk.send_due() == 0
    assert len(desk.smtp.messages) == 1


async def test_a_failed_message_by_token_alone_or_new_also_opens_a_possible_spoof(desk: Desk, inbox: Inbox) -> None:
    await inbox.deliver(mail(message_id="<first@merchant.example>", headers=PASS))
    original = await _ticket(desk, await desk.ticket_of("<first@merchant.example>"))
    await inbox.deliver(
        mail(subject=f"Re: [{original.reference}]", message_id="<by-token@merchant.example>", headers=FAIL),
        mail(subject="A brand new question", message_id="<fresh@merchant.example>", headers=FAIL),
    )
    by_token = await _ticket(desk, await desk.ticket_of("<by-token@merchant.example>"))
    fresh = await _ticket(desk, await desk.ticket_of("<fresh@merchant.example>"))
    assert (by_token.possible_spoof, by_token.spoof_of_ticket_id) == (True, original.id)
    assert (fresh.possible_spoof, fresh.spoof_of_ticket_id) == (True, None)
    [event] = [e for e in await _events(desk, fresh.id) if e.kind == "sender_failed"]
    assert event.data["claimed_ticket"] is None


async def test_a_failed_message_claiming_a_ticket_of_the_same_batch_is_linked_to_it(desk: Desk, inbox: Inbox) -> None:
    await inbox.deliver(
        mail(message_id="<same-a@merchant.example>", headers=PASS),
        mail(
            subject="Re: Payout missing",
            message_id="<same-b@merchant.example>",
            in_reply_to="<same-a@merchant.example>",
            headers=FAIL,
        ),
    )
    first = await desk.ticket_of("<same-a@merchant.example>")
    spoof = await _ticket(desk, await desk.ticket_of("<same-b@merchant.example>"))
    assert spoof.id != first and spoof.spoof_of_ticket_id == first


async def test_an_area_that_holds_failed_mail_sends_it_to_triage(desk: Desk, inbox: Inbox) -> None:
    assert (await desk.admin.post("/admin/areas", json={"name": "payouts"})).status_code == 201
    rule = {"kind": "sender_domain", "pattern": "merchant.example", "area": "payouts"}
    assert (await desk.admin.post("/admin/rules", json=rule)).status_code == 201
    async with unit_of_work(desk.runtime.sessionmaker) as session:
        await desk.runtime.router.refresh(session, force=True)
    await inbox.deliver(mail(subject="Not held", message_id="<not-held@merchant.example>", headers=FAIL))
    changed = await desk.admin.patch("/admin/areas/payouts", json={"hold_failed_mail": True})
    assert changed.status_code == 200 and changed.json()["hold_failed_mail"] is True
    await inbox.deliver(
        mail(subject="Held", message_id="<held@merchant.example>", headers=FAIL),
        mail(subject="Genuine", message_id="<genuine@merchant.example>", headers=PASS),
    )
    detail = {
        name: (await desk.agent.get(f"/tickets/{await desk.ticket_of(f'<{name}@merchant.example>')}")).json()
        for name in ("not-held", "held", "genuine")
    }
    assert (detail["not-held"]["area"], detail["held"]["area"], detail["genuine"]["area"]) == (
        "payouts",
        "triage",
        "payouts",
    )
    assert detail["held"]["routed_by"] == "held"
    [event] = [e for e in detail["held"]["events"] if e["kind"] == "sender_failed"]
    assert event["data"]["held_from"] == "payouts"


async def test_an_unverified_message_threads_marked_and_the_agent_acting_is_warned(desk: Desk, inbox: Inbox) -> None:
    await inbox.deliver(mail(message_id="<u1@merchant.example>", headers=PASS))
    ticket_id = await desk.ticket_of("<u1@merchant.example>")
    # A reply with no results from our MTA (and a forged header from elsewhere, ignored): unverified.
    forged = {"Authentication-Results": "mx.attacker.example; dmarc=pass header.from=merchant.example"}
    await inbox.deliver(
        mail(
            subject="Re: Payout missing",
            message_id="<u2@merchant.example>",
            in_reply_to="<u1@merchant.example>",
            headers=forged,
        )
    )
    assert await desk.ticket_of("<u2@merchant.example>") == ticket_id
    detail = (await desk.agent.get(f"/tickets/{ticket_id}")).json()
    inbound = [m for m in detail["messages"] if m["direction"] == "inbound"]
    assert [m["trust"]["verdict"] for m in inbound] == ["verified", "unverified"]
    assert all(m["trust"] is None for m in detail["messages"] if m["direction"] == "outbound")
    [mark] = [e for e in detail["events"] if e["kind"] == "sender_unverified"]
    assert mark["data"]["message"] == "u2@merchant.example"
    assert mark["data"]["reason"] == "no Authentication-Results from a trusted authserv-id"

    replied = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "Looking into it.", "status": "open"})
    assert replied.status_code == 200, replied.text
    [warning] = replied.json()["warnings"]
    assert f"id {inbound[1]['id']}" in warning and "unverified" in warning
    # Answered: a status change after the reply has no unanswered message to warn of.
    pending = await desk.agent.post(f"/tickets/{ticket_id}/status", json={"status": "pending"})
    assert pending.status_code == 200 and pending.json()["warnings"] == []

    # An unverified message, then an authenticated one: the agent answering both is warned of the
    # first, though the latest is verified ("change my bank account", then "thanks").
    for n, headers in ((3, forged), (4, PASS)):
        await inbox.deliver(
            mail(
                subject="Re: Payout missing",
                message_id=f"<u{n}@merchant.example>",
                in_reply_to=f"<u{n - 1}@merchant.example>",
                headers=headers,
            )
        )
    detail = (await desk.agent.get(f"/tickets/{ticket_id}")).json()
    u3 = next(m for m in detail["messages"] if m["message_id"] == "u3@merchant.example")
    status = await desk.agent.post(f"/tickets/{ticket_id}/status", json={"status": "open"})
    assert status.status_code == 200 and [f"id {u3['id']}" in w for w in status.json()["warnings"]] == [True]
    warned = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "Changed."})
    assert warned.status_code == 200 and [f"id {u3['id']}" in w for w in warned.json()["warnings"]] == [True]

    # The customer's next, authenticated message is all that is unanswered: no warning any more.
    await inbox.deliver(
        mail(
            subject="Re: Payout missing",
            message_id="<u5@merchant.example>",
            in_reply_to="<u4@merchant.example>",
            headers=PASS,
        )
    )
    answered = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "Done."})
    assert answered.status_code == 200 and answered.json()["warnings"] == []


async def test_the_one_by_one_retry_keeps_each_messages_verdict(desk: Desk, inbox: Inbox) -> None:
    await refuse_one_subject(desk.runtime)
    await inbox.deliver(
        mail(message_id="<r1@merchant.example>", headers=PASS),
        mail(subject=REFUSED_SUBJECT, message_id="<r2@merchant.example>", headers=FAIL),
        mail(subject="A spoof", message_id="<r3@merchant.example>", headers=FAIL),
    )
    stored = {m.message_id: m for m in await desk.all(select(Message).where(Message.direction == "inbound"))}
    assert stored["r1@merchant.example"].trust_verdict == "verified"
    assert stored["r3@merchant.example"].trust_verdict == "failed"
    spoof = await _ticket(desk, await desk.ticket_of("<r3@merchant.example>"))
    assert spoof.possible_spoof is True
    # Parked raw (the database refused it), its verdict kept with it.
    parked = stored[None]
    assert (parked.parse_status, parked.trust_verdict, parked.trust_dmarc) == ("failed", "failed", "fail")
    [listed] = [m for m in (await desk.admin.get("/admin/messages/problems")).json() if m["id"] == parked.id]
    assert listed["trust_verdict"] == "failed" and "DMARC fail" in listed["trust_reason"]


async def test_the_sender_trust_report_counts_by_mailbox_and_sender_domain(desk: Desk, inbox: Inbox) -> None:
    await inbox.deliver(
        mail(message_id="<c1@merchant.example>", headers=PASS),
        mail(subject="Other", sender="bo@shop.example", message_id="<c2@shop.example>"),
        mail(subject="Spoof", message_id="<c3@merchant.example>", headers=FAIL),
    )
    await inbox.deliver(
        mail(subject="Re: Payout missing", message_id="<c4@merchant.example>", in_reply_to="<c1@merchant.example>")
    )
    today = utcnow().date().isoformat()
    response = await desk.admin.get("/reports/sender-trust", params={"from": today, "to": today})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["from"], report["to"]) == (today, today)
    counts = ("tickets", "verified", "unverified", "failed", "possible_spoofs")
    assert [report["total"][n] for n in counts] == [3, 1, 2, 1, 1]
    [mailbox] = report["by_mailbox"]
    assert mailbox["mailbox_id"] == desk.mailbox_id and [mailbox[n] for n in counts] == [3, 1, 2, 1, 1]
    domains = {d["sender_domain"]: [d[n] for n in counts] for d in report["by_sender_domain"]}
    assert domains == {"merchant.example": [2, 1, 1, 1, 1], "shop.example": [1, 0, 1, 0, 0]}
    assert report["by_sender_domain"][0]["sender_domain"] == "merchant.example"  # the most unauthenticated first
    assert (await desk.agent.get("/reports/sender-trust", params={"from": today, "to": today})).status_code == 403

    table = await asyncio.to_thread(invoke_routedesk, desk.settings, "sender-trust", "--from", today, "--to", today)
    assert table.exit_code == 0, table.output
    rows = {line.split()[0]: line.split()[1:] for line in table.output.splitlines() if line.strip()}
    assert rows["merchant.example"] == ["2", "1", "1", "1", "1"]
    assert rows["shop.example"] == ["1", "0", "1", "0", "0"]
    as_json = await asyncio.to_thread(
        invoke_routedesk, desk.settings, "sender-trust", "--from", today, "--to", today, "--format", "json"
    )
    assert as_json.exit_code == 0 and json.loads(as_json.output)["total"]["failed"] == 1


async def test_the_fact_rows_keep_the_verdicts_as_a_rebuild_does(desk: Desk, inbox: Inbox) -> None:
    await inbox.deliver(
        mail(message_id="<f1@merchant.example>", headers=PASS),
        mail(subject="Spoof", message_id="<f2@merchant.example>", headers=FAIL),
    )
    await inbox.deliver(
        mail(subject="Re: Payout missing", message_id="<f3@merchant.example>", in_reply_to="<f1@merchant.example>")
    )
    table = TicketFact.__table__
    columns = ("sender_verdict", "sender_domain", "verified_messages", "unverified_messages", "failed_messages")

    async def rows() -> dict[int, tuple[Any, ...]]:
        async with unit_of_work(desk.runtime.sessionmaker) as session:
            found = await session.execute(select(table.c.ticket_id, *(table.c[c] for c in columns)))
            return {row[0]: tuple(row[1:]) for row in found}

    maintained = await rows()
    first, spoof = await desk.ticket_of("<f1@merchant.example>"), await desk.ticket_of("<f2@merchant.example>")
    assert maintained[first] == ("verified", "merchant.example", 1, 1, 0)
    assert maintained[spoof] == ("failed", "merchant.example", 0, 0, 1)
    async with unit_of_work(desk.runtime.sessionmaker) as session:
        await session.execute(delete(TicketFact))
        await facts.refresh(session, list(maintained))
    assert await rows() == maintained
    assert await desk.scalar(select(func.count()).select_from(table)) == 2


async def test_the_console_thread_marks_the_sender_and_flags_a_possible_spoof(desk: Desk, inbox: Inbox) -> None:
    await inbox.deliver(mail(message_id="<k1@merchant.example>"))
    original = await desk.ticket_of("<k1@merchant.example>")
    await inbox.deliver(
        mail(subject="Re: Payout missing", message_id="<k2@merchant.example>", in_reply_to="<k1@merchant.example>"),
        mail(
            subject="Re: Payout", message_id="<k3@merchant.example>", in_reply_to="<k1@merchant.example>", headers=FAIL
        ),
    )
    spoof = await desk.ticket_of("<k3@merchant.example>")
    _name, token = await desk.new_user("agent")
    console = Console(desk)
    try:
        assert (await console.sign_in(token)).status_code == 303
        thread = (await console.get(f"/console/tickets/{original}")).text
        assert thread.count(">sender unverified</span>") == 2 and "Possible spoof" not in thread
        flagged = (await console.get(f"/console/tickets/{spoof}")).text
        assert "Possible spoof" in flagged and f'href="/console/tickets/{original}"' in flagged
        assert ">sender failed</span>" in flagged
    finally:
        await console.aclose()


async def test_a_possible_spoof_is_never_the_customers_repeat_contact_nor_names_them(desk: Desk, inbox: Inbox) -> None:
    # The customer (no display name on their mail) wrote and was answered: a solved ticket.
    await inbox.deliver(mail(subject="Payout has not arrived", message_id="<first@merchant.example>", headers=PASS))
    first = await desk.ticket_of("<first@merchant.example>")
    solved = await desk.agent.post(f"/tickets/{first}/status", json={"status": "solved"})
    assert solved.status_code == 200, solved.text
    # Someone else writes as that customer, under a name, and fails authentication.
    spoof = mail(
        subject="Please change my payout bank account",
        sender="Mallory Impostor <ana@merchant.example>",
        message_id="<spoof@attacker.example>",
        headers=FAIL,
    )
    await inbox.deliver(spoof)
    flagged = await _ticket(desk, await desk.ticket_of("<spoof@attacker.example>"))
    assert flagged.possible_spoof and flagged.repeat_of_ticket_id is None
    customer = await desk.scalar(select(Customer).where(Customer.email == "ana@merchant.example"))
    assert customer is not None and not customer.name
    # The customer's own next mail, authenticated, is their repeat contact as before.
    await inbox.deliver(mail(subject="Another payout question", message_id="<again@merchant.example>", headers=PASS))
    again = await _ticket(desk, await desk.ticket_of("<again@merchant.example>"))
    assert again.repeat_of_ticket_id == first


async def test_with_nothing_to_assess_with_mail_is_stored_not_assessed_unmarked_and_unwarned(
    desk: Desk, inbox: Inbox
) -> None:
    # No authserv-id trusted and DKIM verification off: a header from our MTA counts for nothing.
    ingest = desk.runtime.settings.ingest.model_copy(update={"trusted_authserv_ids": [], "verify_dkim": False})
    desk.runtime.settings = desk.runtime.settings.model_copy(update={"ingest": ingest})
    await inbox.deliver(mail(message_id="<n1@merchant.example>", headers=FAIL))
    ticket_id = await desk.ticket_of("<n1@merchant.example>")
    await inbox.deliver(
        mail(subject="Re: Payout missing", message_id="<n2@merchant.example>", in_reply_to="<n1@merchant.example>")
    )
    assert await desk.ticket_of("<n2@merchant.example>") == ticket_id
    detail = (await desk.agent.get(f"/tickets/{ticket_id}")).json()
    assert [m["trust"] for m in detail["messages"] if m["direction"] == "inbound"] == [None, None]
    assert not detail["possible_spoof"]
    assert "sender_unverified" not in [e["kind"] for e in detail["events"]]
    replied = await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "On it."})
    assert replied.status_code == 200 and replied.json()["warnings"] == []
