from __future__ import annotations

from sqlalchemy import func, select

from app.db import unit_of_work
from app.macros import ranking
from app.macros import service as macros
from app.macros.models import Macro
from app.macros.render import render
from app.macros.schemas import MacroUpdate, SuggestionRead
from app.runtime import Runtime
from tests.macros import rows

REFUND = (
    "Refund status",
    "Hi {customer_first_name}, refunds reach the customer's card 5 to 10 business days after you issue "
    "them. A pending refund cannot be cancelled.",
)
PAYOUT = (
    "Payout delayed",
    "Hi {customer_first_name}, your payout is on its way to your bank account; payouts can take two "
    "business days to arrive after the scheduled date.",
)
CHARGEBACK = (
    "Chargeback received",
    "Hi {customer_first_name}, a cardholder disputed a payment. Upload evidence in the dashboard "
    "before the dispute deadline to contest the chargeback.",
)
LOGIN = (
    "Two-factor reset",
    "Hi {customer_first_name}, to reset two-factor authentication on your login we need to verify your identity first.",
)
REFUND_TICKET = (
    "I refunded an order a week ago and my customer says the refund never reached their card. Where is the refund?"
)
# Two macros whose words are the same: equally similar to any ticket.
TWIN_BODY = "We are looking into the delay of your settlement report export and will write back soon."


async def suggest(
    runtime: Runtime,
    text: str,
    *,
    area_id: int | None = None,
    limit: int = 3,
    values: dict[str, str] | None = None,
) -> list[SuggestionRead]:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await ranking.suggest(
            session, cache=runtime.suggestions, text=text, area_id=area_id, values=values or {}, limit=limit
        )


async def test_refund_worded_ticket_ranks_the_refund_macro_first(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        created = [await rows.macro(session, *m) for m in (PAYOUT, CHARGEBACK, REFUND, LOGIN)]
    suggestions = await suggest(runtime, REFUND_TICKET)
    assert suggestions[0].macro_id == created[2].id
    assert suggestions[0].score > suggestions[1].score


async def test_suggestions_are_rendered_with_the_ticket_values(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        await rows.macro(session, *REFUND)
    [suggestion] = await suggest(runtime, REFUND_TICKET, values={"customer_first_name": "Jane"})
    assert suggestion.body.startswith("Hi Jane, refunds reach")
    assert suggestion.title == "Refund status"


async def test_scores_lie_between_zero_and_one(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        refunds = await rows.area(session, "refunds")
        refund = await rows.macro(session, *REFUND, area=refunds)
        past = await rows.ticket(session, area=refunds, subject="Refund", text=REFUND_TICKET)
        await macros.record_use(session, macro_id=refund.id, ticket_id=past.id, user_id=None)
        await rows.macro(session, *PAYOUT)
    suggestions = await suggest(runtime, REFUND_TICKET, area_id=refunds.id)
    assert suggestions
    assert all(0.0 < s.score <= 1.0 for s in suggestions)


async def test_area_boost_orders_two_equally_similar_macros(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        reports = await rows.area(session, "reports")
        payouts = await rows.area(session, "payouts")
        in_reports = await rows.macro(session, "Settlement report delay", TWIN_BODY, area=reports)
        in_payouts = await rows.macro(session, "Settlement report delay", TWIN_BODY, area=payouts)
    text = "My settlement report export is delayed"
    for_reports = await suggest(runtime, text, area_id=reports.id)
    for_payouts = await suggest(runtime, text, area_id=payouts.id)
    assert [s.macro_id for s in for_reports] == [in_reports.id, in_payouts.id]
    assert [s.macro_id for s in for_payouts] == [in_payouts.id, in_reports.id]


async def test_area_less_macro_ranks_between_own_and_other_area_macros(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        reports = await rows.area(session, "reports")
        payouts = await rows.area(session, "payouts")
        other = await rows.macro(session, "Settlement report delay", TWIN_BODY, area=payouts)
        neutral = await rows.macro(session, "Settlement report delay", TWIN_BODY)
        own = await rows.macro(session, "Settlement report delay", TWIN_BODY, area=reports)
    suggestions = await suggest(runtime, "settlement report export delayed", area_id=reports.id)
    assert [s.macro_id for s in suggestions] == [own.id, neutral.id, other.id]


async def test_macro_used_on_similar_past_tickets_outranks_an_otherwise_equal_one(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        reports = await rows.area(session, "reports")
        first = await rows.macro(session, "Settlement report delay", TWIN_BODY)
        chosen = await rows.macro(session, "Settlement report delay", TWIN_BODY)
    text = "The settlement report export for March is missing from the dashboard"
    before = await suggest(runtime, text)
    assert [s.macro_id for s in before] == [first.id, chosen.id]  # a tie, broken by id

    async with unit_of_work(runtime.sessionmaker) as session:
        maya = await rows.agent(session)
        for month in ("January", "February"):
            past = await rows.ticket(
                session,
                area=reports,
                subject="Settlement report missing",
                text=f"The settlement report export for {month} is missing from the dashboard",
            )
            await macros.record_use(session, macro_id=chosen.id, ticket_id=past.id, user_id=maya.id)
    after = await suggest(runtime, text)
    assert [s.macro_id for s in after] == [chosen.id, first.id]


async def test_uses_on_dissimilar_past_tickets_do_not_change_the_order(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        reports = await rows.area(session, "reports")
        first = await rows.macro(session, "Settlement report delay", TWIN_BODY)
        chosen = await rows.macro(session, "Settlement report delay", TWIN_BODY)
        past = await rows.ticket(
            session, area=reports, subject="Login", text="I cannot log in, two-factor codes are rejected"
        )
        await macros.record_use(session, macro_id=chosen.id, ticket_id=past.id, user_id=None)
    suggestions = await suggest(runtime, "The settlement report export for March is missing")
    assert [s.macro_id for s in suggestions] == [first.id, chosen.id]


async def test_inactive_macro_is_never_suggested(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        refunds = await rows.area(session, "refunds")
        refund = await rows.macro(session, *REFUND, area=refunds)
        payout = await rows.macro(session, *PAYOUT)
        past = await rows.ticket(session, area=refunds, subject="Refund", text=REFUND_TICKET)
        await macros.record_use(session, macro_id=refund.id, ticket_id=past.id, user_id=None)
        await macros.deactivate_macro(session, refund.id)
    suggestions = await suggest(runtime, REFUND_TICKET, area_id=refunds.id, limit=10)
    assert [s.macro_id for s in suggestions] == [payout.id]


async def test_limit_caps_the_number_of_suggestions(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        for m in (PAYOUT, CHARGEBACK, REFUND, LOGIN):
            await rows.macro(session, *m)
    assert len(await suggest(runtime, REFUND_TICKET, limit=2)) == 2
    assert len(await suggest(runtime, REFUND_TICKET, limit=10)) == 4


async def test_no_active_macros_give_no_suggestions(runtime: Runtime) -> None:
    assert await suggest(runtime, REFUND_TICKET) == []


async def test_macro_of_another_area_without_shared_words_is_left_out(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        refunds = await rows.area(session, "refunds")
        security = await rows.area(session, "security")
        refund = await rows.macro(session, *REFUND, area=refunds)
        await rows.macro(session, *LOGIN, area=security)
    suggestions = await suggest(runtime, REFUND_TICKET, area_id=refunds.id)
    assert [s.macro_id for s in suggestions] == [refund.id]


async def test_suggestions_follow_an_edited_macro_body(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        first = await rows.macro(session, *PAYOUT)
        second = await rows.macro(session, *LOGIN)
    assert (await suggest(runtime, REFUND_TICKET, limit=1))[0].macro_id == first.id  # the tie is broken by id
    async with unit_of_work(runtime.sessionmaker) as session:
        await macros.update_macro(session, second.id, changes=MacroUpdate(body=REFUND[1]))
    [top] = await suggest(runtime, REFUND_TICKET, limit=1)
    assert (top.macro_id, top.body) == (second.id, render(REFUND[1], {}))


async def test_suggestions_follow_newly_recorded_uses(runtime: Runtime) -> None:
    text = "settlement report export missing"
    async with unit_of_work(runtime.sessionmaker) as session:
        reports = await rows.area(session, "reports")
        first = await rows.macro(session, "Settlement report delay", TWIN_BODY)
        second = await rows.macro(session, "Settlement report delay", TWIN_BODY)
        past = [await rows.ticket(session, area=reports, subject="Report", text=text) for _ in range(3)]
        await macros.record_use(session, macro_id=second.id, ticket_id=past[0].id, user_id=None)
    assert [s.macro_id for s in await suggest(runtime, text)] == [second.id, first.id]
    async with unit_of_work(runtime.sessionmaker) as session:
        for ticket in past[1:]:
            await macros.record_use(session, macro_id=first.id, ticket_id=ticket.id, user_id=None)
    assert [s.macro_id for s in await suggest(runtime, text)] == [first.id, second.id]


async def test_sql_looking_text_and_values_are_kept_as_data(runtime: Runtime) -> None:
    injection = "x'); DROP TABLE macro; --"
    async with unit_of_work(runtime.sessionmaker) as session:
        refunds = await rows.area(session, "refunds")
        refund = await rows.macro(session, *REFUND, area=refunds)
        past = await rows.ticket(session, area=refunds, subject=injection, text=f"refund {injection}")
        await macros.record_use(session, macro_id=refund.id, ticket_id=past.id, user_id=None)
    [suggestion] = await suggest(
        runtime, f"refund {injection}", area_id=refunds.id, values={"customer_first_name": injection}
    )
    assert suggestion.body.startswith(f"Hi {injection}, refunds")
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await session.scalar(select(func.count()).select_from(Macro)) == 1
