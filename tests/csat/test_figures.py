"""The CSAT, contact and repeat-contact figures over a small data set whose answers are worked out by
hand below, on each engine: the reports' summary (service, CSV and `routedesk report`), the time
series, the contact rate over uploaded denominators (service and `routedesk contact-rate`).

The week of Monday 2026-06-01 to Sunday 2026-06-07 (UTC). Areas payments and cards, survey delay 24 h
(the default). Agents dana and eli. Customers ana, bob, cy.

  A payments, ana, Mon 08:00; dana solves Mon 10:00. Survey sent Tue 10:00 (payments, dana); ana
                rates good Tue 12:00.
  B cards,    bob, Mon 09:00; eli solves Mon 11:00. Survey sent Tue 11:00 (cards, eli); bob rates bad
                Wed 09:00, "slow".
  C payments, ana, Tue 09:00: a repeat contact of A (solved the day before, same area). dana solves
                Tue 15:00; its survey is due Wed 15:00: skipped, ana was surveyed Tue (rate limit).
  D cards,    cy,  Wed 08:00; eli solves Wed 09:00. Survey sent Thu 09:00 (cards, eli); never rated.
  E payments, bob, Thu 10:00: no repeat (bob's solved ticket B is in cards). Open, nobody holds it.
  F cards,    bob, Fri 10:00: a repeat contact of B (solved 4 days before). Open, nobody holds it.
  G payments, cy,  2026-05-20, solved the same day: before the window (and before June).

Surveys sent in the window: A, B, D = 3; rated: A, B = 2; response rate 2/3 = 0.6667.
Ratings given in the window: good 1 (A), bad 1 (B): CSAT 1 / 2 = 0.5.
  payments / dana: sent 1, rated 1, good 1: CSAT 1.0, response 1.0.
  cards / eli:     sent 2, rated 1, bad 1:  CSAT 0.0, response 0.5.
Contacts in the window: A-F = 6, customers ana, bob, cy = 3 (net), repeats C and F = 2: rate 0.3333.
  payments: A C E = 3, net 2 (ana, bob), repeat 1 (C): 0.3333. cards: B D F = 3, net 2 (bob, cy),
  repeat 1 (F): 0.3333.
  dana: A C = 2, net 1, repeat 1: 0.5. eli: B D = 2, net 2, repeat 0: 0.0. nobody: E F = 2, net 1
  (bob), repeat 1: 0.5.
Contact rate for 2026-06, denominators * = 3000 active accounts, payments = 1500:
  *: 6 contacts -> 6 * 1000 / 3000 = 2.0 per 1,000; net 3 -> 1.0.
  payments: 3 / 1500 -> 2.0; net 2 -> 1.3333. cards: no denominator -> null, with the reason.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select, update

from app.config import Settings
from app.csat import contacts, figures
from app.csat import service as surveys
from app.csat.models import CsatSurvey
from app.csat.schemas import DenominatorWrite
from app.db import unit_of_work
from app.inbox.models import Mailbox
from app.links import LinkSigner
from app.reports import service as reports
from app.reports.schemas import Interval
from app.tickets.models import Ticket
from tests.cli import invoke_routedesk
from tests.reports.desk import ReportDesk

ANA, BOB, CY = "ana@merchant.example", "bob@merchant.example", "cy@merchant.example"


def t(day: int, hh: int, mm: int = 0, month: int = 6) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = t(1, 0)

    def __call__(self) -> datetime:
        return self.now


async def schedule(desk: ReportDesk, settings: Settings, links: LinkSigner, clock: Clock, at: datetime) -> None:
    clock.now = at
    async with unit_of_work(desk.sessionmaker) as session:
        await surveys.send_due(session, settings=settings, links=links, now=at)


async def rate(
    desk: ReportDesk,
    settings: Settings,
    links: LinkSigner,
    clock: Clock,
    ticket_id: int,
    rating: str,
    at: datetime,
    comment: str = "",
) -> None:
    clock.now = at
    token = links.sign(surveys.SURVEY, {"t": ticket_id, "c": 1})
    async with unit_of_work(desk.sessionmaker) as session:
        await surveys.rate(session, token, rating=rating, comment=comment, links=links, settings=settings, now=at)  # type: ignore[arg-type]


async def data_set(desk: ReportDesk, settings: Settings) -> dict[str, int]:
    await desk.area("payments")
    await desk.area("cards")
    await desk.user("dana")
    await desk.user("eli")
    await desk.mailbox("support")
    async with unit_of_work(desk.sessionmaker) as session:
        # A from address: the surveys go from it.
        await session.execute(update(Mailbox).values(address="support@routedesk.example"))
    clock = Clock()
    links = LinkSigner(b"k" * 32, clock=clock)
    ids: dict[str, int] = {}
    ids["G"] = await desk.open(t(20, 9, month=5), area="payments", customer=CY)
    await desk.status(ids["G"], "solved", t(20, 10, month=5), by="dana")
    ids["A"] = await desk.open(t(1, 8), area="payments", customer=ANA)
    await desk.status(ids["A"], "solved", t(1, 10), by="dana")
    ids["B"] = await desk.open(t(1, 9), area="cards", customer=BOB)
    await desk.status(ids["B"], "solved", t(1, 11), by="eli")
    ids["C"] = await desk.open(t(2, 9), area="payments", customer=ANA)
    await schedule(desk, settings, links, clock, t(2, 10))
    await schedule(desk, settings, links, clock, t(2, 11))
    await rate(desk, settings, links, clock, ids["A"], "good", t(2, 12))
    await desk.status(ids["C"], "solved", t(2, 15), by="dana")
    ids["D"] = await desk.open(t(3, 8), area="cards", customer=CY)
    await desk.status(ids["D"], "solved", t(3, 9), by="eli")
    await rate(desk, settings, links, clock, ids["B"], "bad", t(3, 9), comment="slow")
    await schedule(desk, settings, links, clock, t(3, 15))
    await schedule(desk, settings, links, clock, t(4, 9))
    ids["E"] = await desk.open(t(4, 10), area="payments", customer=BOB)
    ids["F"] = await desk.open(t(5, 10), area="cards", customer=BOB)
    return ids


WINDOW = reports.window(date(2026, 6, 1), date(2026, 6, 7))
NAMES = figures.NAMES


def picked(values: object) -> dict[str, object]:
    data = values.model_dump()  # type: ignore[attr-defined]
    return {name: data[name] for name in NAMES}


def expected(sent: int, rated: int, good: int, bad: int, contacts: int, net: int, repeat: int) -> dict[str, object]:
    return {
        "surveys_sent": sent,
        "survey_responses": rated,
        "csat_good": good,
        "csat_bad": bad,
        "csat": round(good / (good + bad), 4) if good + bad else None,
        "response_rate": round(rated / sent, 4) if sent else None,
        "contacts": contacts,
        "contacts_net": net,
        "repeat_contacts": repeat,
        "repeat_contact_rate": round(repeat / contacts, 4) if contacts else None,
    }


async def test_csat_and_contact_figures_by_area_and_agent(report_desk: ReportDesk, settings: Settings) -> None:
    ids = await data_set(report_desk, settings)
    async with unit_of_work(report_desk.sessionmaker) as session:
        rows = (await session.execute(select(CsatSurvey.ticket_id, CsatSurvey.status, CsatSurvey.skip_reason))).all()
        repeats = dict((await session.execute(select(Ticket.id, Ticket.repeat_of_ticket_id))).all())
    found_surveys = {(tid, str(status), reason) for tid, status, reason in rows}
    assert found_surveys == {
        (ids["A"], "sent", None),
        (ids["B"], "sent", None),
        (ids["C"], "skipped", "rate_limited"),
        (ids["D"], "sent", None),
    }
    assert {k: repeats[v] for k, v in ids.items()} == {
        "A": None,
        "B": None,
        "C": ids["A"],
        "D": None,
        "E": None,
        "F": ids["B"],
        "G": None,
    }
    async with unit_of_work(report_desk.sessionmaker) as session:
        report = await reports.summary(session, WINDOW, await reports.filters(session))
        only_cards = await reports.summary(session, WINDOW, await reports.filters(session, area="cards"))
    assert picked(report.total) == expected(3, 2, 1, 1, 6, 3, 2)
    assert {g.name: picked(g) for g in report.by_area} == {
        "payments": expected(1, 1, 1, 0, 3, 2, 1),
        "cards": expected(2, 1, 0, 1, 3, 2, 1),
    }
    assert {g.name: picked(g) for g in report.by_agent} == {
        "dana": expected(1, 1, 1, 0, 2, 1, 1),
        "eli": expected(2, 1, 0, 1, 2, 2, 0),
        None: expected(0, 0, 0, 0, 2, 1, 1),
    }
    assert picked(only_cards.total) == expected(2, 1, 0, 1, 3, 2, 1)
    # The CSV carries the same figures.
    lines = list(csv.DictReader(io.StringIO(reports.summary_csv(report))))
    total = next(line for line in lines if line["group"] == "total")
    assert (total["csat"], total["response_rate"], total["contacts_net"], total["repeat_contact_rate"]) == (
        "0.5",
        "0.6667",
        "3",
        "0.3333",
    )


async def test_csat_time_series_by_day(report_desk: ReportDesk, settings: Settings) -> None:
    await data_set(report_desk, settings)
    async with unit_of_work(report_desk.sessionmaker) as session:
        by = await reports.filters(session)
        csat = await reports.timeseries(session, WINDOW, by, metric="csat", interval=Interval.DAY)
        sent = await reports.timeseries(session, WINDOW, by, metric="surveys_sent", interval=Interval.DAY)
        weekly = await reports.timeseries(session, WINDOW, by, metric="contacts", interval=Interval.WEEK)
    assert [p.value for p in csat.points] == [None, 1.0, 0.0, None, None, None, None]
    assert [p.value for p in sent.points] == [0, 2, 0, 1, 0, 0, 0]
    assert [p.value for p in weekly.points] == [6]


async def test_the_report_command_shows_csat_and_contacts(report_desk: ReportDesk, settings: Settings) -> None:
    await data_set(report_desk, settings)
    done = await asyncio.to_thread(
        invoke_routedesk, settings, "report", "--from", "2026-06-01", "--to", "2026-06-07", "--format", "json"
    )
    assert done.exit_code == 0, done.output
    total = json.loads(done.output)["total"]
    assert (total["csat"], total["response_rate"], total["contacts"], total["repeat_contacts"]) == (0.5, 0.6667, 6, 2)
    table = await asyncio.to_thread(invoke_routedesk, settings, "report", "--from", "2026-06-01", "--to", "2026-06-07")
    assert table.exit_code == 0, table.output
    assert any(line.startswith("CSAT  ") and "50.0%" in line for line in table.output.splitlines())


async def test_contact_rate_over_uploaded_denominators(
    report_desk: ReportDesk, settings: Settings, tmp_path: Path
) -> None:
    await data_set(report_desk, settings)
    async with unit_of_work(report_desk.sessionmaker) as session:
        await contacts.store(
            session,
            [
                DenominatorWrite(period="2026-06", area="*", value=3000, unit="active accounts"),
                DenominatorWrite(period="2026-06", area="payments", value=1500, unit="active accounts"),
            ],
            now=t(1, 0),
        )
    async with unit_of_work(report_desk.sessionmaker) as session:
        june = await contacts.contact_rate(session, "2026-06")
        week = await contacts.contact_rate(session, "2026-06-01..2026-06-07", area="cards")
    rows = {row.area: row for row in june.rows}
    assert list(rows) == ["*", "cards", "payments"]
    assert (rows["*"].contacts, rows["*"].contacts_net, rows["*"].contact_rate, rows["*"].contact_rate_net) == (
        6,
        3,
        2.0,
        1.0,
    )
    assert (rows["payments"].contacts, rows["payments"].contact_rate, rows["payments"].contact_rate_net) == (
        3,
        2.0,
        1.3333,
    )
    assert (rows["payments"].repeat_contacts, rows["payments"].repeat_contact_rate) == (1, 0.3333)
    cards = rows["cards"]
    assert (cards.contacts, cards.contacts_net, cards.denominator, cards.contact_rate) == (3, 2, None, None)
    assert cards.reason == "no denominator uploaded for period 2026-06 and area cards"
    assert [(r.area, r.contacts, r.contact_rate) for r in week.rows] == [("cards", 3, None)]
    assert week.rows[0].reason is not None
    done = await asyncio.to_thread(
        invoke_routedesk, settings, "contact-rate", "--period", "2026-06", "--format", "json"
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["rows"][0] == rows["*"].model_dump(mode="json")
    table = await asyncio.to_thread(invoke_routedesk, settings, "contact-rate", "--period", "2026-06")
    assert table.exit_code == 0, table.output
    assert "no denominator uploaded for period 2026-06 and area cards" in table.output


async def test_comments_are_listed_with_the_area_and_agent_at_the_time_of_rating(
    report_desk: ReportDesk, settings: Settings
) -> None:
    ids = await data_set(report_desk, settings)
    async with unit_of_work(report_desk.sessionmaker) as session:
        page = await figures.comments(
            session, start=WINDOW.since, end=WINDOW.until, area=None, agent="eli", rating=None, limit=10, offset=0
        )
        none_good = await figures.comments(
            session, start=WINDOW.since, end=WINDOW.until, area=None, agent=None, rating="good", limit=10, offset=0
        )
    assert [(c.ticket, c.rating, c.comment, c.area, c.agent) for c in page.items] == [
        (await report_desk.reference(ids["B"]), "bad", "slow", "cards", "eli")
    ]
    assert (page.total, none_good.total) == (1, 0)
