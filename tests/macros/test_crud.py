from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.db import unit_of_work
from app.errors import InvalidInput, NotFound
from app.macros import service as macros
from app.macros.schemas import BODY_MAX, TITLE_MAX, MacroCreate, MacroUpdate
from app.runtime import Runtime
from tests.macros import rows


def test_macro_create_rejects_a_body_over_the_limit() -> None:
    with pytest.raises(ValidationError, match="body"):
        MacroCreate(title="Refund", body="x" * (BODY_MAX + 1))


def test_macro_create_rejects_a_title_over_the_limit() -> None:
    with pytest.raises(ValidationError, match="title"):
        MacroCreate(title="x" * (TITLE_MAX + 1), body="Hello")


@pytest.mark.parametrize("fields", [{"title": "  ", "body": "Hello"}, {"title": "Refund", "body": " \n "}])
def test_macro_create_rejects_a_blank_title_or_body(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        MacroCreate.model_validate(fields)


def test_macro_update_rejects_null_for_a_required_field() -> None:
    with pytest.raises(ValidationError, match="title cannot be null"):
        MacroUpdate.model_validate({"title": None})


def test_macro_update_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        MacroUpdate.model_validate({"colour": "red"})


async def test_create_macro_returns_it_with_its_area_name(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        refunds = await rows.area(session, "refunds")
        created = await rows.macro(session, "Refund status", "Hi {customer_first_name}", area=refunds)
    async with unit_of_work(runtime.sessionmaker) as session:
        read = await macros.get_macro(session, created.id)
    assert (read.title, read.area_name, read.active) == ("Refund status", "refunds", True)
    assert read.area_id == refunds.id


async def test_create_macro_in_an_unknown_area_raises_not_found(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        with pytest.raises(NotFound, match="no area 999"):
            await macros.create_macro(session, data=MacroCreate(title="Refund", body="Hi", area_id=999))


async def test_create_macro_with_unknown_placeholders_raises_invalid_input(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        with pytest.raises(InvalidInput, match=r"unknown placeholders: \{order_id\}, \{amount\};"):
            await macros.create_macro(
                session, data=MacroCreate(title="Refund", body="Order {order_id}: {amount} for {company}")
            )


async def test_update_macro_changes_only_the_fields_sent(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        refunds = await rows.area(session, "refunds")
        created = await rows.macro(session, "Refund status", "Hi {customer_first_name}", area=refunds)
    async with unit_of_work(runtime.sessionmaker) as session:
        updated = await macros.update_macro(session, created.id, changes=MacroUpdate(title="Refund timing"))
    assert (updated.title, updated.area_name) == ("Refund timing", "refunds")
    assert updated.body == "Hi {customer_first_name}"
    assert updated.updated_at > created.updated_at


async def test_update_macro_with_null_area_makes_it_area_less(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        refunds = await rows.area(session, "refunds")
        created = await rows.macro(session, "Refund status", "Hi", area=refunds)
        area_less = MacroUpdate.model_validate({"area_id": None})
        updated = await macros.update_macro(session, created.id, changes=area_less)
    assert (updated.area_id, updated.area_name) == (None, None)


async def test_update_macro_to_an_unknown_area_raises_not_found(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        created = await rows.macro(session, "Refund status", "Hi")
        with pytest.raises(NotFound, match="no area 999"):
            await macros.update_macro(session, created.id, changes=MacroUpdate(area_id=999))


async def test_update_macro_with_an_unknown_placeholder_raises_invalid_input(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        created = await rows.macro(session, "Refund status", "Hi")
        with pytest.raises(InvalidInput, match=r"\{iban\}"):
            await macros.update_macro(session, created.id, changes=MacroUpdate(body="Your {iban}"))


async def test_update_of_an_unknown_macro_raises_not_found(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        with pytest.raises(NotFound, match="no macro 999"):
            await macros.update_macro(session, 999, changes=MacroUpdate(title="x"))


async def test_get_of_an_unknown_macro_raises_not_found(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        with pytest.raises(NotFound):
            await macros.get_macro(session, 999)


async def test_deactivated_macro_leaves_the_default_listing_but_not_the_full_one(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        kept = await rows.macro(session, "Kept", "Hi")
        retired = await rows.macro(session, "Retired", "Hi")
        deactivated = await macros.deactivate_macro(session, retired.id)
    async with unit_of_work(runtime.sessionmaker) as session:
        active = await macros.list_macros(session)
        everything = await macros.list_macros(session, include_inactive=True)
    assert deactivated.active is False
    assert [m.id for m in active] == [kept.id]
    assert [m.id for m in everything] == [kept.id, retired.id]


async def test_list_macros_filters_by_area(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        refunds = await rows.area(session, "refunds")
        payouts = await rows.area(session, "payouts")
        refund = await rows.macro(session, "Refund", "Hi", area=refunds)
        await rows.macro(session, "Payout", "Hi", area=payouts)
        await rows.macro(session, "General", "Hi")
    async with unit_of_work(runtime.sessionmaker) as session:
        listed = await macros.list_macros(session, area_id=refunds.id)
    assert [(m.id, m.area_name) for m in listed] == [(refund.id, "refunds")]


async def test_render_macro_of_an_inactive_macro_raises_not_found(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        created = await rows.macro(session, "Retired", "Hi {customer_first_name}")
        rendered = await macros.render_macro(session, created.id, values={"customer_first_name": "Jane"})
        assert rendered == "Hi Jane"
        await macros.deactivate_macro(session, created.id)
        with pytest.raises(NotFound):
            await macros.render_macro(session, created.id, values={})


async def test_record_use_of_an_unknown_macro_raises_not_found(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        refunds = await rows.area(session, "refunds")
        ticket = await rows.ticket(session, area=refunds, subject="Refund", text="Where is it?")
        with pytest.raises(NotFound, match="no macro 999"):
            await macros.record_use(session, macro_id=999, ticket_id=ticket.id, user_id=None)


async def test_record_use_on_an_unknown_ticket_raises_not_found(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        created = await rows.macro(session, "Refund", "Hi")
        with pytest.raises(NotFound, match="no ticket 999"):
            await macros.record_use(session, macro_id=created.id, ticket_id=999, user_id=None)


async def test_record_use_stores_who_used_which_macro_on_which_ticket(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        refunds = await rows.area(session, "refunds")
        maya = await rows.agent(session)
        ticket = await rows.ticket(session, area=refunds, subject="Refund", text="Where is it?")
        created = await rows.macro(session, "Refund", "Hi")
        use = await macros.record_use(session, macro_id=created.id, ticket_id=ticket.id, user_id=maya.id)
    assert use.id is not None
    assert (use.macro_id, use.ticket_id, use.user_id) == (created.id, ticket.id, maya.id)
