from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy import func, select, update

from app.inbox.models import Message
from app.tickets.models import Ticket
from tests.api.desk import Desk
from tests.mailgen import mail


def _with_attachment() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ana Silva <ana@merchant.example>"
    msg["To"] = "support@routedesk.example"
    msg["Subject"] = "Invoice attached"
    msg["Message-ID"] = "<att-1@merchant.example>"
    msg.set_content("Please see the attached invoice.")
    msg.add_attachment(b"%PDF-1.4 fake" * 10, maintype="application", subtype="pdf", filename="invoice.pdf")
    return msg.as_bytes()


async def _ids(desk: Desk, **params: str | bool) -> list[int]:
    response = await desk.agent.get("/tickets", params=params)
    assert response.status_code == 200, response.text
    return sorted(t["id"] for t in response.json()["items"])


async def test_ticket_list_filters_by_status(desk: Desk) -> None:
    first = await desk.new_ticket(mail(subject="One"))
    second = await desk.new_ticket(mail(subject="Two", sender="bo@shop.example"))
    await desk.agent.post(f"/tickets/{first}/status", json={"status": "solved"})
    assert (await _ids(desk, status="solved"), await _ids(desk, status="open")) == ([first], [second])


async def test_ticket_list_filters_by_area(desk: Desk) -> None:
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    moved = await desk.new_ticket(mail(subject="One"))
    stays = await desk.new_ticket(mail(subject="Two", sender="bo@shop.example"))
    await desk.agent.post(f"/tickets/{moved}/reroute", json={"area": "payouts"})
    assert (await _ids(desk, area="payouts"), await _ids(desk, area="triage")) == ([moved], [stays])


async def test_ticket_list_filters_by_assignee_me_a_name_or_nobody(desk: Desk) -> None:
    mine = await desk.new_ticket(mail(subject="One"))
    other = await desk.new_ticket(mail(subject="Two", sender="bo@shop.example"))
    await desk.agent.post("/queues/triage/claim")
    assert await _ids(desk, assignee="me") == [mine]
    assert await _ids(desk, assignee="ana") == [mine]
    assert await _ids(desk, unassigned=True) == [other]


async def test_ticket_list_filters_by_customer_address_in_any_case(desk: Desk) -> None:
    await desk.new_ticket(mail(subject="One"))
    bos = await desk.new_ticket(mail(subject="Two", sender="bo@shop.example"))
    assert await _ids(desk, customer="BO@shop.example") == [bos]


async def test_ticket_list_finds_text_in_subject_or_message_body(desk: Desk) -> None:
    by_subject = await desk.new_ticket(mail(subject="Chargeback dispute"))
    by_body = await desk.new_ticket(mail(subject="Help", body="A chargeback hit my account", sender="b@x.example"))
    await desk.new_ticket(mail(subject="Payout", sender="c@x.example"))
    assert await _ids(desk, q="chargeback") == sorted([by_subject, by_body])


async def test_ticket_list_treats_like_wildcards_in_text_as_plain_characters(desk: Desk) -> None:
    await desk.new_ticket(mail(subject="Payout missing"))
    assert await _ids(desk, q="%") == []
    assert await _ids(desk, q="_") == []


async def test_ticket_list_treats_sql_in_text_as_data(desk: Desk) -> None:
    await desk.new_ticket(mail(subject="Payout missing"))
    for hostile in ("' OR '1'='1", "x'); DROP TABLE ticket; --", "\\' OR 1=1 --"):
        assert await _ids(desk, q=hostile, customer=hostile) == []
    assert await desk.scalar(select(func.count()).select_from(Ticket)) == 1


async def test_ticket_list_pages_newest_first_with_the_total(desk: Desk) -> None:
    ids = [await desk.new_ticket(mail(subject=f"Q{i}", sender=f"c{i}@x.example")) for i in range(5)]
    first = (await desk.agent.get("/tickets", params={"limit": 2})).json()
    third = (await desk.agent.get("/tickets", params={"limit": 2, "offset": 4})).json()
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert [t["id"] for t in first["items"]] == [ids[4], ids[3]]
    assert [t["id"] for t in third["items"]] == [ids[0]]


async def test_ticket_thread_holds_inbound_and_outbound_messages_in_order(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail(message_id="<t1@merchant.example>"))
    await desk.agent.post(f"/tickets/{ticket_id}/reply", json={"text": "We are on it."})
    await desk.ingest(
        mail(
            subject="Re: Payout missing",
            message_id="<t2@merchant.example>",
            in_reply_to="<t1@merchant.example>",
            body="Thanks!",
        )
    )
    ticket = (await desk.agent.get(f"/tickets/{ticket_id}")).json()
    # inbound, the automatic acknowledgement, our reply, the customer's answer
    assert [m["direction"] for m in ticket["messages"]] == ["inbound", "outbound", "outbound", "inbound"]
    assert ticket["messages"][2]["text"] == "We are on it."
    assert ticket["messages"][2]["delivery"] == "queued"
    assert ticket["messages"][3]["message_id"] == "t2@merchant.example"


async def test_ticket_detail_shows_notes_and_events(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(mail())
    await desk.agent.post("/queues/triage/claim")
    await desk.agent.post(f"/tickets/{ticket_id}/notes", json={"text": "Customer is a VIP"})
    events = (await desk.agent.get(f"/tickets/{ticket_id}")).json()["events"]
    assert [e["kind"] for e in events] == ["created", "claimed", "note"]
    assert (events[2]["note"], events[2]["actor"]) == ("Customer is a VIP", "agent:ana")


async def test_ticket_detail_shows_routing_facts(desk: Desk) -> None:
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    await desk.admin.post(
        "/admin/rules", json={"kind": "sender_domain", "pattern": "merchant.example", "area": "payouts"}
    )
    async with desk.runtime.sessionmaker() as session:
        await desk.runtime.router.refresh(session, force=True)
    ticket = (await desk.agent.get(f"/tickets/{await desk.new_ticket(mail())}")).json()
    assert ticket["routing"] == {"area": "payouts", "routed_by": "rule", "probability": 1.0, "model_version": None}
    assert ticket["previous_ticket_id"] is None


async def test_ticket_detail_lists_attachment_metadata_without_content(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(_with_attachment())
    response = await desk.agent.get(f"/tickets/{ticket_id}")
    [attachment] = response.json()["messages"][0]["attachments"]
    assert attachment == {
        "id": attachment["id"],
        "filename": "invoice.pdf",
        "content_type": "application/pdf",
        "size": 130,
        "stored": True,
        "truncated": False,
        "url": f"/api/v1/tickets/{ticket_id}/attachments/{attachment['id']}",
    }
    assert "PDF-1.4" not in response.text


async def test_unknown_ticket_is_a_404_json_error(desk: Desk) -> None:
    response = await desk.agent.get("/tickets/987654")
    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "detail": "no ticket 987654"}


async def test_ticket_detail_blocks_remote_content_in_html_stored_before_the_sanitiser_did(desk: Desk) -> None:
    ticket_id = await desk.new_ticket(
        mail(subject="Logo missing", body="See the logo.", message_id="<logo-1@merchant.example>")
    )
    # HTML as an earlier version stored it: sanitised, but with a remote image and a CSS url() kept.
    legacy = (
        '<p>See <img src="http://tracker.example/pixel.gif" alt="">'
        '<span style="background:url(https://tracker.example/bg.png)">the logo</span>.</p>'
    )
    await desk.execute(update(Message).where(Message.ticket_id == ticket_id).values(body_html=legacy))

    detail = await desk.agent.get(f"/tickets/{ticket_id}")

    assert detail.status_code == 200, detail.text
    html = detail.json()["messages"][0]["html"]
    assert "src=" not in html and "url(" not in html
    assert "tracker.example/pixel.gif" in html  # shown as text, so the agent sees what was there
    assert "the logo" in html
