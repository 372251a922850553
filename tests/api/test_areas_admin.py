"""The admin API for areas and model activation, and macros named by their area."""

from __future__ import annotations

from app.db import unit_of_work
from app.routing import training
from classifiers.data import Example
from tests.api.desk import Desk
from tests.mailgen import mail

_EXAMPLES = [
    Example(text=f"Hello, {phrase} number {i}", label=label)
    for label, phrases in {
        "payouts": ["my payout has not arrived", "payout to my bank is late", "where is the weekly payout"],
        "refunds": ["I want a refund for order", "refund the customer please", "how long does a refund take"],
    }.items()
    for phrase in phrases
    for i in range(8)
]


async def _registered(desk: Desk) -> str:
    model = training.fit(_EXAMPLES)
    async with unit_of_work(desk.runtime.sessionmaker) as session:
        return (await training.register(session, model, source="test")).version


async def test_activation_over_the_api_refuses_missing_areas_unless_create_areas(desk: Desk) -> None:
    version = await _registered(desk)
    refused = await desk.admin.post(f"/admin/models/{version}/activate")
    assert refused.status_code == 422, refused.text
    assert "payouts, refunds" in refused.json()["detail"] and "create_areas: true" in refused.json()["detail"]
    assert {a["name"] for a in (await desk.admin.get("/admin/areas")).json()} == set()
    done = await desk.admin.post(f"/admin/models/{version}/activate", json={"create_areas": True})
    assert done.status_code == 200, done.text
    assert done.json()["created_areas"] == ["payouts", "refunds"]


async def test_admin_archives_unarchives_and_deletes_areas(desk: Desk) -> None:
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    await desk.admin.post("/admin/rules", json={"kind": "keyword", "pattern": "payout", "area": "payouts"})
    archived = await desk.admin.post("/admin/areas/payouts/archive")
    assert archived.status_code == 200, archived.text
    assert (archived.json()["area"]["archived"], archived.json()["skipped_rules"]) == (True, 1)
    assert archived.json()["area"]["archived_at"] is not None
    refused_rule = await desk.admin.post("/admin/rules", json={"kind": "keyword", "pattern": "x", "area": "payouts"})
    assert refused_rule.status_code == 409
    ticket = await desk.new_ticket(mail(subject="Question", body="something else entirely"))
    rerouted = await desk.agent.post(f"/tickets/{ticket}/reroute", json={"area": "payouts"})
    assert rerouted.status_code == 409 and "archived" in rerouted.json()["detail"]
    refused = await desk.admin.delete("/admin/areas/payouts")
    assert refused.status_code == 409 and "1 rule refer to it" in refused.json()["detail"]
    unarchived = await desk.admin.post("/admin/areas/payouts/unarchive")
    assert unarchived.json()["archived"] is False
    await desk.admin.post("/admin/areas", json={"name": "unused"})
    assert (await desk.admin.delete("/admin/areas/unused")).status_code == 204
    assert (await desk.agent.delete("/admin/areas/payouts")).status_code == 403
    assert (await desk.agent.post("/admin/areas/payouts/archive")).status_code == 403


async def test_macros_take_the_area_by_name(desk: Desk) -> None:
    area = (await desk.admin.post("/admin/areas", json={"name": "refunds"})).json()
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    created = await desk.admin.post("/admin/macros", json={"title": "Refund", "body": "Hi", "area": "refunds"})
    assert created.status_code == 201, created.text
    assert (created.json()["area"], created.json()["area_id"]) == ("refunds", area["id"])
    moved = await desk.admin.patch(f"/admin/macros/{created.json()['id']}", json={"area": "payouts"})
    assert moved.json()["area"] == "payouts"
    listed = (await desk.agent.get("/macros", params={"area": "payouts"})).json()
    assert [m["id"] for m in listed] == [created.json()["id"]]
    unknown = await desk.admin.post("/admin/macros", json={"title": "X", "body": "Hi", "area": "nowhere"})
    assert unknown.status_code == 404
    mismatch = await desk.admin.post(
        "/admin/macros", json={"title": "X", "body": "Hi", "area": "payouts", "area_id": area["id"]}
    )
    assert mismatch.status_code == 422
    by_id = await desk.admin.post("/admin/macros", json={"title": "Y", "body": "Hi", "area_id": area["id"]})
    assert by_id.json()["area"] == "refunds"
    area_less = await desk.admin.patch(f"/admin/macros/{by_id.json()['id']}", json={"area": None})
    assert area_less.json()["area"] is None


async def test_an_archived_areas_queue_stays_listed_and_claimable_while_it_holds_tickets(desk: Desk) -> None:
    await desk.admin.post("/admin/areas", json={"name": "payouts"})
    await desk.admin.post("/admin/areas", json={"name": "empty"})
    await desk.admin.post("/admin/rules", json={"kind": "keyword", "pattern": "payout", "area": "payouts"})
    async with unit_of_work(desk.runtime.sessionmaker) as session:
        await desk.runtime.router.refresh(session, force=True)
    ticket = await desk.new_ticket(mail(subject="Payout", body="my payout is late"))
    await desk.admin.post("/admin/areas/payouts/archive")
    await desk.admin.post("/admin/areas/empty/archive")
    queues = {q["area"]: q for q in (await desk.agent.get("/queues")).json()}
    assert "empty" not in queues
    assert (queues["payouts"]["archived"], queues["payouts"]["unassigned"]) == (True, 1)
    claimed = await desk.agent.post("/queues/payouts/claim")
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["id"] == ticket
