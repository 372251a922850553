"""Routing: the active model, rules, thresholds, rollback, corrections and training jobs, through the
services; the train, evaluate and models commands in-process (tests/cli.py `routedesk`), except the
first `train` of test_train_and_evaluate_commands_print_json_with_the_named_figures: the real command
in a subprocess, the training commands' smoke test of the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, update

from app.db import unit_of_work
from app.errors import Conflict, InvalidInput
from app.inbox import ingest
from app.inbox.parsing import prepare
from app.routing import service as routing
from app.routing import training
from app.routing.models import TRIAGE, Area, Job, Label, ModelVersion
from app.routing.schemas import AreaCreate, AreaUpdate, RuleCreate
from app.routing.service import Router, RouteRequest
from app.runtime import Runtime
from app.tickets import lifecycle
from app.tickets import service as tickets
from app.tickets.models import Ticket
from app.users import service as users
from classifiers.data import Example
from classifiers.train import TrainedModel
from tests import cli
from tests.cli import Completed
from tests.mailgen import mail

PHRASES = {
    "payouts": [
        "my payout has not arrived",
        "payout to my bank account is late",
        "where is the weekly payout",
        "the payout amount is short",
        "change the bank account for payouts",
    ],
    "refunds": [
        "I want a refund for order",
        "refund the customer please",
        "the refund never reached the buyer",
        "how long does a refund take",
        "cancel and refund this payment",
    ],
    "login": [
        "I cannot log in to the dashboard",
        "two factor code never arrives",
        "reset my password please",
        "locked out of my account after login attempts",
        "login page says wrong password",
    ],
}


def examples(copies: int = 6) -> list[Example]:
    out = []
    for label, phrases in PHRASES.items():
        for i in range(copies):
            for phrase in phrases:
                out.append(Example(text=f"Hello, {phrase} number {i}. Thanks", label=label))
    return out


async def register_and_activate(runtime: Runtime, model: TrainedModel) -> tuple[str, list[str]]:
    async with unit_of_work(runtime.sessionmaker) as session:
        row = await training.register(session, model, source="test")
        _row, created = await training.activate(session, row.version, create_areas=True)
        return row.version, created


async def refreshed(runtime: Runtime) -> Router:
    router = Router()
    async with unit_of_work(runtime.sessionmaker) as session:
        await router.refresh(session, force=True)
    return router


async def test_without_a_model_every_ticket_waits_in_triage(runtime: Runtime) -> None:
    router = await refreshed(runtime)
    [decision] = router.decide([RouteRequest(text="my payout has not arrived", sender="a@b.example")])
    assert (decision.area, decision.routed_by, decision.probability) == (TRIAGE, "fallback", None)


async def test_activating_with_create_areas_creates_missing_areas_and_says_so(
    runtime: Runtime, trained: TrainedModel
) -> None:
    _version, created = await register_and_activate(runtime, trained)
    assert sorted(created) == ["login", "payouts", "refunds"]
    async with unit_of_work(runtime.sessionmaker) as session:
        names = set((await session.scalars(select(Area.name))).all())
    assert {"login", "payouts", "refunds"} <= names


async def test_the_active_model_routes_confident_predictions(runtime: Runtime, trained: TrainedModel) -> None:
    version, _ = await register_and_activate(runtime, trained)
    router = await refreshed(runtime)
    [decision] = router.decide([RouteRequest(text="Hello, my payout has not arrived yet", sender=None)])
    assert decision.routed_by == "model"
    assert decision.area == "payouts"
    assert decision.model_version == version
    assert decision.probability is not None and decision.probability >= trained.threshold


async def test_below_the_area_threshold_the_ticket_goes_to_triage_with_its_probability(
    runtime: Runtime, trained: TrainedModel
) -> None:
    await register_and_activate(runtime, trained)
    # A text that mixes areas, so that the model is confident but not certain.
    request = RouteRequest(text="payout refund login password bank", sender=None)
    [guess] = (await refreshed(runtime)).decide([request])
    assert guess.probability is not None and guess.probability < 1.0
    top = trained.pipeline.classes_[trained.pipeline.predict_proba([request.text])[0].argmax()]
    async with unit_of_work(runtime.sessionmaker) as session:
        await routing.update_area(session, await routing.get_area(session, str(top)), AreaUpdate(threshold=0.01))
    [before] = (await refreshed(runtime)).decide([request])
    assert (before.area, before.routed_by) == (top, "model")
    assert before.probability is not None
    async with unit_of_work(runtime.sessionmaker) as session:
        area = await routing.get_area(session, before.area)
        await routing.update_area(session, area, AreaUpdate(threshold=(before.probability + 1.0) / 2))
    [after] = (await refreshed(runtime)).decide([request])
    assert (after.area, after.routed_by) == (TRIAGE, "fallback")
    assert after.probability == pytest.approx(before.probability)


async def test_sender_domain_rule_wins_over_the_model(runtime: Runtime, trained: TrainedModel) -> None:
    await register_and_activate(runtime, trained)
    async with unit_of_work(runtime.sessionmaker) as session:
        await routing.create_rule(session, RuleCreate(kind="sender_domain", pattern="bigshop.example", area="login"))
    router = await refreshed(runtime)
    by_rule, by_model = router.decide(
        [
            RouteRequest(text="my payout has not arrived", sender="ops@eu.bigshop.example"),
            RouteRequest(text="my payout has not arrived", sender="ops@other.example"),
        ]
    )
    assert (by_rule.area, by_rule.routed_by) == ("login", "rule")
    assert by_model.routed_by == "model"


async def test_keyword_rule_matches_whole_words_only(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        await routing.create_area(session, AreaCreate(name="fraud"))
        await routing.create_rule(session, RuleCreate(kind="keyword", pattern="chargeback", area="fraud"))
    router = await refreshed(runtime)
    hit, miss = router.decide(
        [
            RouteRequest(text="We got a Chargeback on order 7", sender=None),
            RouteRequest(text="the chargebacks page", sender=None),
        ]
    )
    assert hit.area == "fraud" and miss.area == TRIAGE


async def test_a_tampered_artifact_is_refused_and_the_previous_model_keeps_serving(
    runtime: Runtime, trained: TrainedModel
) -> None:
    good, _ = await register_and_activate(runtime, trained)
    router = await refreshed(runtime)
    async with unit_of_work(runtime.sessionmaker) as session:
        bad = await training.register(session, trained, source="test")
        bad.artifact = bad.artifact[:-10] + b"0123456789"
    async with unit_of_work(runtime.sessionmaker) as session:
        with pytest.raises(InvalidInput, match="checksum"):
            await training.activate(session, bad.version)
        # Even if the row is switched behind the API's back, the router refuses to load it.
        await session.execute(update(ModelVersion).values(active=ModelVersion.version == bad.version))
    async with unit_of_work(runtime.sessionmaker) as session:
        await router.refresh(session, force=True)
    assert router.version == good
    assert router.refusal(bad.version) is not None and "checksum" in (router.refusal(bad.version) or "")
    [decision] = router.decide([RouteRequest(text="reset my password please", sender=None)])
    assert decision.model_version == good


async def test_rollback_returns_to_the_previously_active_version(runtime: Runtime, trained: TrainedModel) -> None:
    first, _ = await register_and_activate(runtime, trained)
    second, _ = await register_and_activate(runtime, trained)
    assert first != second
    async with unit_of_work(runtime.sessionmaker) as session:
        back = await training.rollback(session)
    assert back.version == first
    router = await refreshed(runtime)
    assert router.version == first


async def test_rollback_without_an_earlier_version_is_a_conflict(runtime: Runtime, trained: TrainedModel) -> None:
    await register_and_activate(runtime, trained)
    async with unit_of_work(runtime.sessionmaker) as session:
        with pytest.raises(Conflict):
            await training.rollback(session)


async def ingest_one(runtime: Runtime, router: Router, raw: bytes) -> Ticket:
    async with unit_of_work(runtime.sessionmaker) as session:
        await routing.areas_for_routing(session)
        await ingest.ingest_batch(
            session,
            [prepare(raw, None, max_attachment_bytes=10**6)],
            source=ingest.Source(mailbox_id=None, uidvalidity=None),
            settings=runtime.settings,
            router=router,
        )
    async with unit_of_work(runtime.sessionmaker) as session:
        return (await session.scalars(select(Ticket).order_by(Ticket.id.desc()))).first()  # type: ignore[return-value]


async def test_ingestion_records_the_model_version_probability_and_router(
    runtime: Runtime, trained: TrainedModel
) -> None:
    version, _ = await register_and_activate(runtime, trained)
    router = await refreshed(runtime)
    ticket = await ingest_one(runtime, router, mail(subject="Refund", body="Please refund the customer for order 7"))
    async with unit_of_work(runtime.sessionmaker) as session:
        area = await session.get(Area, ticket.area_id)
    assert area is not None and area.name == "refunds"
    assert (ticket.routed_by, ticket.model_version) == ("model", version)
    assert ticket.route_probability is not None and 0 < ticket.route_probability <= 1


async def test_reroute_records_a_correction_and_solving_confirms_the_area(
    runtime: Runtime, trained: TrainedModel
) -> None:
    await register_and_activate(runtime, trained)
    router = await refreshed(runtime)
    first = await ingest_one(runtime, router, mail(subject="Refund", body="Please refund order 9"))
    second = await ingest_one(
        runtime, router, mail(subject="Payout", body="my payout has not arrived", sender="bo@shop.example")
    )
    async with unit_of_work(runtime.sessionmaker) as session:
        agent, _token = await users.create_user(session, name="ann", email="ann@support.example", role="agent")
        ticket = await tickets.get_ticket(session, first.id)
        await lifecycle.reroute(session, ticket, area=await routing.get_area(session, "login"), user=agent)
        await lifecycle.set_status(session, await tickets.get_ticket(session, second.id), status="solved", user=agent)
    async with unit_of_work(runtime.sessionmaker) as session:
        labels = {
            (lab.ticket_id, lab.area, lab.source, lab.previous_area)
            for lab in (await session.scalars(select(Label))).all()
        }
        examples_from_tickets = await training.ticket_examples(session)
    assert labels == {(first.id, "login", "corrected", "refunds"), (second.id, "payouts", "confirmed", None)}
    assert sorted(e.label for e in examples_from_tickets) == ["login", "payouts"]
    assert any("refund order 9" in e.text for e in examples_from_tickets if e.label == "login")


async def test_training_job_from_tickets_runs_in_the_worker_and_reports_its_result(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        admin, _ = await users.create_user(session, name="root", email="root@support.example", role="admin")
    router = Router()
    for example in examples(copies=4):
        ticket = await ingest_one(
            runtime,
            router,
            mail(subject="Question", body=example.text, sender=f"c{abs(hash(example.text)) % 10**6}@m.example"),
        )
        async with unit_of_work(runtime.sessionmaker) as session:
            await routing.areas_for_routing(session)
            area = await session.scalar(select(Area).where(Area.name == example.label))
            if area is None:
                area = await routing.create_area(session, AreaCreate(name=example.label))
            await lifecycle.reroute(session, await tickets.get_ticket(session, ticket.id), area=area, user=admin)
    async with unit_of_work(runtime.sessionmaker) as session:
        job = await training.enqueue_training(
            session, training.TrainingSource(from_tickets=True), activate=True, actor="admin:root", create_areas=True
        )
    assert await training.run_one_job(runtime.sessionmaker, owner="test", lease_seconds=60)
    async with unit_of_work(runtime.sessionmaker) as session:
        done = await session.get(Job, job.id)
        assert done is not None
        assert done.status == "succeeded", done.error
        assert done.result is not None and done.result["activated"] is True
        assert done.result["comparison"]["held_out"] > 0
        assert 0 <= done.result["comparison"]["new"]["macro_f1"] <= 1
        active = await session.scalar(select(ModelVersion).where(ModelVersion.active.is_(True)))
    assert active is not None and active.version == done.result["version"]
    assert await training.run_one_job(runtime.sessionmaker, owner="test", lease_seconds=60) is False


async def _cli(runtime: Runtime, *args: str) -> Completed:
    return await cli.routedesk(runtime.settings, *args, ROUTEDESK_LOG_LEVEL="warning")


async def test_train_and_evaluate_commands_print_json_with_the_named_figures(runtime: Runtime, tmp_path: Path) -> None:
    data = tmp_path / "labelled.jsonl"
    data.write_text("\n".join(json.dumps({"subject": "Hi", "body": e.text, "label": e.label}) for e in examples()))
    # The real command in a subprocess: the training commands' smoke test of the real entry point.
    trained = await cli.run_routedesk(
        runtime.settings, "train", "--data", str(data), "--activate", "--create-areas", ROUTEDESK_LOG_LEVEL="warning"
    )
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout.strip().splitlines()[-1])
    assert set(result) >= {"version", "classes", "train_seconds", "metrics"}
    assert sorted(result["classes"]) == ["login", "payouts", "refunds"]
    assert "created areas" in trained.stderr
    evaluated = await _cli(runtime, "evaluate", "--data", str(data))
    assert evaluated.returncode == 0, evaluated.stderr
    figures = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert set(figures) >= {
        "accuracy",
        "macro_f1",
        "per_class",
        "confusion",
        "ece",
        "threshold",
        "auto_routed_share",
        "auto_routed_accuracy",
    }
    listed = await _cli(runtime, "models", "list")
    assert json.loads(listed.stdout.strip().splitlines()[-1])["version"] == result["version"]


async def test_train_command_names_a_missing_column(runtime: Runtime, tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("message,area\nhello,payouts\n")
    out = await _cli(runtime, "train", "--data", str(data))
    assert out.returncode == 1
    assert "message" in out.stderr and "error:" in out.stderr
