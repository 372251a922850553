"""Areas as an admin manages them: activation maps a model's classes to existing areas, areas are
archived, unarchived and deleted, class names become area names, rollback walks the history back;
the `areas`, `rules`, `models` and `train` commands run as a user runs them, in-process
(tests/cli.py `routedesk`). One test runs the real command in a subprocess, each group's --help: the
real entry point's stdout, as a smoke test of the three groups."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db import unit_of_work
from app.errors import Conflict, InvalidInput
from app.routing import service as routing
from app.routing import training
from app.routing.models import TRIAGE, Area, ModelVersion
from app.routing.schemas import AreaCreate, RuleCreate
from app.routing.service import RouteRequest
from app.runtime import Runtime
from app.tickets import lifecycle
from app.tickets import service as tickets
from app.users import service as users
from classifiers.data import Example
from classifiers.fitting import package
from classifiers.train import TrainedModel, train
from tests import cli
from tests.cli import Completed
from tests.mailgen import mail
from tests.routing.test_routing import PHRASES, examples, ingest_one, refreshed


async def routedesk(runtime: Runtime, *args: str) -> Completed:
    return await cli.routedesk(runtime.settings, *args, ROUTEDESK_LOG_LEVEL="warning")


async def registered(runtime: Runtime, model: TrainedModel) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        return (await training.register(session, model, source="test")).version


async def area_names(runtime: Runtime) -> set[str]:
    async with unit_of_work(runtime.sessionmaker) as session:
        return set((await session.scalars(select(Area.name))).all())


async def active_version(runtime: Runtime) -> str | None:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await session.scalar(select(ModelVersion.version).where(ModelVersion.active.is_(True)))


# -- activation maps classes to existing areas ------------------------------------------------------


async def test_a_version_checked_by_its_training_process_activates_but_other_bytes_are_loaded_and_refused(
    runtime: Runtime, trained: TrainedModel
) -> None:
    fitted = await asyncio.to_thread(package, trained, check=True)
    assert fitted.checked_sha256 == hashlib.sha256(fitted.artifact).hexdigest()
    flipped = fitted.artifact[:-1] + bytes([fitted.artifact[-1] ^ 1])
    damaged = dataclasses.replace(fitted, version=f"{fitted.version}-damaged", artifact=flipped)
    async with unit_of_work(runtime.sessionmaker) as session:
        bad = await training.add_version(session, damaged, source="test")
        with pytest.raises(InvalidInput, match="refused"):
            # The sha256 checked elsewhere is not these bytes': activation loads them with every check.
            await training.activate(session, bad.version, create_areas=True, checked_sha256=fitted.checked_sha256)
    async with unit_of_work(runtime.sessionmaker) as session:
        good = await training.add_version(session, fitted, source="test")
        await training.activate(session, good.version, create_areas=True, checked_sha256=fitted.checked_sha256)
    assert await active_version(runtime) == fitted.version


async def test_activation_refuses_listing_the_missing_areas_and_changes_nothing(
    runtime: Runtime, trained: TrainedModel
) -> None:
    version = await registered(runtime, trained)
    async with unit_of_work(runtime.sessionmaker) as session:
        await routing.create_area(session, AreaCreate(name="login"))
    async with unit_of_work(runtime.sessionmaker) as session:
        with pytest.raises(InvalidInput) as refused:
            await training.activate(session, version)
    assert "payouts, refunds" in refused.value.detail and "login" not in refused.value.detail
    assert "create-areas" in refused.value.detail
    assert await area_names(runtime) == {"login"}
    assert await active_version(runtime) is None


async def test_activation_maps_classes_to_the_areas_that_exist(runtime: Runtime, trained: TrainedModel) -> None:
    version = await registered(runtime, trained)
    async with unit_of_work(runtime.sessionmaker) as session:
        for name in PHRASES:
            await routing.create_area(session, AreaCreate(name=name))
    async with unit_of_work(runtime.sessionmaker) as session:
        _row, created = await training.activate(session, version)
    assert created == []
    assert await active_version(runtime) == version


async def test_models_activate_command_refuses_missing_areas_unless_create_areas(
    runtime: Runtime, trained: TrainedModel
) -> None:
    version = await registered(runtime, trained)
    refused = await routedesk(runtime, "models", "activate", version)
    assert refused.returncode == 1
    assert "login, payouts, refunds" in refused.stderr and "--create-areas" in refused.stderr
    assert await area_names(runtime) == set()
    done = await routedesk(runtime, "models", "activate", version, "--create-areas")
    assert done.returncode == 0, done.stderr
    assert "created areas for the model's classes: login, payouts, refunds" in done.stdout
    assert await active_version(runtime) == version


# The engine changes nothing the two training tests below check.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_train_activate_command_refuses_missing_areas_unless_create_areas(
    runtime: Runtime, tmp_path: Path
) -> None:
    data = tmp_path / "labelled.jsonl"
    data.write_text("\n".join(json.dumps({"text": e.text, "label": e.label}) for e in examples(copies=3)))
    alone = await routedesk(runtime, "train", "--data", str(data), "--create-areas")
    assert alone.returncode == 1 and "--create-areas goes with --activate" in alone.stderr
    refused = await routedesk(runtime, "train", "--data", str(data), "--activate")
    assert refused.returncode == 1
    assert "login, payouts, refunds" in refused.stderr
    assert await active_version(runtime) is None
    assert (await routedesk(runtime, "models", "list")).stdout.strip() == ""  # refused before training, nothing stored
    done = await routedesk(runtime, "train", "--data", str(data), "--activate", "--create-areas")
    assert done.returncode == 0, done.stderr
    assert await area_names(runtime) == set(PHRASES)


# -- class names become area names -----------------------------------------------------------------

BANKING_STYLE = {
    "Refund_not_showing_up": "refund_not_showing_up",
    "card payment fee charged": "card-payment-fee-charged",
    "Exchange rate (wrong)": "exchange-rate-wrong",
    "top_up_failed": "top_up_failed",
}


def test_class_names_are_normalised_by_one_rule() -> None:
    assert {label: routing.area_name_for_class(label) for label in BANKING_STYLE} == BANKING_STYLE
    for name in BANKING_STYLE.values():
        AreaCreate(name=name)  # every result passes the area-name validation


def test_class_names_that_would_share_an_area_name_are_refused() -> None:
    with pytest.raises(InvalidInput, match=r"Card_Arrival.*card_arrival"):
        training.fit([Example(text=f"card {i}", label=("Card_Arrival", "card_arrival")[i % 2]) for i in range(20)])
    with pytest.raises(InvalidInput, match="cannot be an area name"):
        routing.area_name_for_class("???")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_training_stores_banking77_style_classes_as_area_names_rules_can_use(
    runtime: Runtime, tmp_path: Path
) -> None:
    labels = list(BANKING_STYLE)
    rows = [
        {"text": f"{phrase} {label.lower()} {i}", "label": label}
        for label, phrases in zip(labels, PHRASES.values(), strict=False)
        for i in range(6)
        for phrase in phrases
    ]
    data = tmp_path / "banking.jsonl"
    data.write_text("\n".join(json.dumps(row) for row in rows))
    done = await routedesk(runtime, "train", "--data", str(data), "--activate", "--create-areas")
    assert done.returncode == 0, done.stderr
    classes = json.loads(done.stdout.strip().splitlines()[-1])["classes"]
    assert sorted(classes) == sorted(BANKING_STYLE[label] for label in labels[: len(PHRASES)])
    rule = await routedesk(runtime, "rules", "add", "refund_not_showing_up", "--keyword", "refund")
    assert rule.returncode == 0, rule.stderr


async def test_a_version_with_classes_no_area_can_be_named_is_refused_at_activation(runtime: Runtime) -> None:
    raw = [Example(text=e.text, label=e.label.capitalize() + "_Desk") for e in examples(copies=3)]
    unnormalised = train(raw)  # straight from classifiers/, as a version registered before normalising was
    version = await registered(runtime, unnormalised)
    async with unit_of_work(runtime.sessionmaker) as session:
        with pytest.raises(InvalidInput, match="not area names: 'Login_Desk'"):
            await training.activate(session, version, create_areas=True)
    assert await area_names(runtime) == set()


# -- archive, unarchive, delete ---------------------------------------------------------------------


async def test_an_archived_areas_class_goes_to_triage_and_comes_back_when_unarchived(
    runtime: Runtime, trained: TrainedModel
) -> None:
    version = await registered(runtime, trained)
    async with unit_of_work(runtime.sessionmaker) as session:
        await training.activate(session, version, create_areas=True)
        await routing.archive_area(session, await routing.get_area(session, "refunds"))
    router = await refreshed(runtime)
    request = RouteRequest(text="Hello, I want a refund for order number 2. Thanks", sender=None)
    [decision] = router.decide([request])
    assert (decision.area, decision.routed_by) == (TRIAGE, "fallback")
    ticket = await ingest_one(runtime, router, mail(subject="Refund", body="I want a refund for order 7"))
    async with unit_of_work(runtime.sessionmaker) as session:
        assert (await session.get(Area, ticket.area_id)).name == TRIAGE  # type: ignore[union-attr]
        await routing.unarchive_area(session, await routing.get_area(session, "refunds"))
    [decision] = (await refreshed(runtime)).decide([request])
    assert (decision.area, decision.routed_by) == ("refunds", "model")


async def test_rules_to_an_archived_area_are_refused_and_existing_ones_skipped(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        await routing.areas_for_routing(session)
        area = await routing.create_area(session, AreaCreate(name="payouts"))
        await routing.create_rule(session, RuleCreate(kind="keyword", pattern="payout", area="payouts"))
        assert await routing.archive_area(session, area) == 1
        with pytest.raises(Conflict, match="archived"):
            await routing.create_rule(session, RuleCreate(kind="keyword", pattern="transfer", area="payouts"))
        [rule] = await routing.list_rules(session)
    assert rule.area_archived is True
    [decision] = (await refreshed(runtime)).decide([RouteRequest(text="where is my payout", sender=None)])
    assert decision.area == TRIAGE


async def test_an_archived_areas_tickets_stay_and_stay_claimable(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        await routing.areas_for_routing(session)
        await routing.create_area(session, AreaCreate(name="payouts"))
        await routing.create_rule(session, RuleCreate(kind="keyword", pattern="payout", area="payouts"))
    ticket = await ingest_one(runtime, await refreshed(runtime), mail(subject="Payout", body="my payout is late"))
    async with unit_of_work(runtime.sessionmaker) as session:
        agent, _ = await users.create_user(session, name="ann", email="ann@support.example", role="agent")
        await routing.archive_area(session, await routing.get_area(session, "payouts"))
    async with unit_of_work(runtime.sessionmaker) as session:
        claimed = await lifecycle.claim(session, "payouts", agent=agent)
        assert claimed is not None and claimed.ticket["id"] == ticket.id
        await lifecycle.set_status(session, await tickets.get_ticket(session, ticket.id), status="solved", user=agent)


async def test_deleting_an_area_refuses_naming_what_refers_to_it(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        await routing.areas_for_routing(session)
        await routing.create_area(session, AreaCreate(name="payouts"))
        await routing.create_rule(session, RuleCreate(kind="keyword", pattern="payout", area="payouts"))
    await ingest_one(runtime, await refreshed(runtime), mail(subject="Payout", body="my payout is late"))
    async with unit_of_work(runtime.sessionmaker) as session:
        with pytest.raises(Conflict, match="1 ticket, 1 rule refer to it"):
            await routing.delete_area(session, await routing.get_area(session, "payouts"))
        with pytest.raises(InvalidInput):
            await routing.delete_area(session, await routing.get_area(session, TRIAGE))
        await routing.create_area(session, AreaCreate(name="unused"))
    async with unit_of_work(runtime.sessionmaker) as session:
        await routing.delete_area(session, await routing.get_area(session, "unused"))
    assert "unused" not in await area_names(runtime)


# -- rollback walks back through the activation history --------------------------------------------


async def test_rollback_twice_walks_back_two_versions_then_refuses(runtime: Runtime, trained: TrainedModel) -> None:
    first, second, third = [await registered(runtime, trained) for _ in range(3)]
    for version in (first, second, third):
        done = await routedesk(runtime, "models", "activate", version, "--create-areas")
        assert done.returncode == 0, done.stderr
    back = await routedesk(runtime, "models", "rollback")
    assert back.returncode == 0, back.stderr
    assert f"model {second} is active" in back.stdout
    again = await routedesk(runtime, "models", "rollback")
    assert again.returncode == 0, again.stderr
    assert f"model {first} is active" in again.stdout
    assert await active_version(runtime) == first
    nothing = await routedesk(runtime, "models", "rollback")
    assert nothing.returncode == 1
    assert f"nothing earlier to roll back to: model {first}" in nothing.stderr
    assert await active_version(runtime) == first


async def test_an_activation_after_a_rollback_is_rolled_back_to_the_version_before_it(
    runtime: Runtime, trained: TrainedModel
) -> None:
    first, second, third = [await registered(runtime, trained) for _ in range(3)]
    async with unit_of_work(runtime.sessionmaker) as session:
        await training.activate(session, first, create_areas=True)
        await training.activate(session, second)
        assert (await training.rollback(session)).version == first
        await training.activate(session, third)
        assert (await training.rollback(session)).version == first
        with pytest.raises(Conflict):
            await training.rollback(session)


# -- the areas and rules commands ------------------------------------------------------------------


async def test_areas_commands_add_list_archive_unarchive_and_delete(runtime: Runtime) -> None:
    added = await routedesk(
        runtime, "areas", "add", "payouts", "--first-response-minutes", "30", "--resolution-minutes", "600"
    )
    assert added.returncode == 0, added.stderr
    assert (await routedesk(runtime, "areas", "add", "Pay Outs")).returncode == 1
    rule = await routedesk(runtime, "rules", "add", "payouts", "--sender-domain", "bank.example")
    assert rule.returncode == 0, rule.stderr
    archived = await routedesk(runtime, "areas", "archive", "payouts")
    assert archived.returncode == 0, archived.stderr
    assert "1 rule(s) pointing at it are skipped" in archived.stdout
    [listed] = [json.loads(line) for line in (await routedesk(runtime, "areas", "list")).stdout.splitlines()]
    assert (listed["name"], listed["archived"], listed["first_response_minutes"], listed["resolution_minutes"]) == (
        "payouts",
        True,
        30,
        600,
    )
    refused = await routedesk(runtime, "areas", "delete", "payouts")
    assert refused.returncode == 1
    assert "1 rule refer to it" in refused.stderr
    rule_id = json.loads(rule.stdout)["id"]
    assert (await routedesk(runtime, "rules", "remove", str(rule_id))).returncode == 0
    unarchived = await routedesk(runtime, "areas", "unarchive", "payouts")
    assert unarchived.returncode == 0, unarchived.stderr
    deleted = await routedesk(runtime, "areas", "delete", "payouts")
    assert deleted.returncode == 0, deleted.stderr
    assert (await routedesk(runtime, "areas", "list")).stdout.strip() == ""


async def test_rules_commands_add_list_and_remove(runtime: Runtime) -> None:
    assert (await routedesk(runtime, "areas", "add", "refunds")).returncode == 0
    added = await routedesk(runtime, "rules", "add", "refunds", "--keyword", "Refund", "--position", "5")
    assert added.returncode == 0, added.stderr
    rule = json.loads(added.stdout)
    assert (rule["kind"], rule["pattern"], rule["area"], rule["position"]) == ("keyword", "refund", "refunds", 5)
    both = await routedesk(runtime, "rules", "add", "refunds", "--keyword", "a", "--sender-domain", "b.example")
    assert both.returncode == 1 and "exactly one" in both.stderr
    unknown = await routedesk(runtime, "rules", "add", "nowhere", "--keyword", "x")
    assert unknown.returncode == 1 and "no area named 'nowhere'" in unknown.stderr
    listed = [json.loads(line) for line in (await routedesk(runtime, "rules", "list")).stdout.splitlines()]
    assert [r["id"] for r in listed] == [rule["id"]]
    assert (await routedesk(runtime, "rules", "remove", str(rule["id"]))).returncode == 0
    assert (await routedesk(runtime, "rules", "list")).stdout.strip() == ""
    missing = await routedesk(runtime, "rules", "remove", str(rule["id"]))
    assert missing.returncode == 1 and f"no rule {rule['id']}" in missing.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_areas_rules_and_models_command_has_help_text(database_url: str) -> None:
    env = cli.clean_env()
    groups = {
        "areas": ["list", "add", "archive", "unarchive", "delete"],
        "rules": ["list", "add", "remove"],
        "models": ["list", "activate", "rollback"],
    }
    listings = await asyncio.gather(*(cli.run_routedesk_env(env, group, "--help") for group in groups))
    for commands, listing in zip(groups.values(), listings, strict=True):
        assert listing.returncode == 0, listing.stderr
        for command in commands:
            line = next(line for line in listing.stdout.splitlines() if f" {command} " in f"{line} ")
            assert len(line.split(command, 1)[1].strip(" │")) > 10, line
