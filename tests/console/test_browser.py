"""The console in Debian's Chromium, headless, driven by Playwright pointed at the system browser (no
browser is ever downloaded): an agent signs in, plays a queue from the keyboard, inserts a suggested
macro, replies, and the reply reaches the test SMTP server threaded; the shortcuts list opens on `?`;
pages raise no console error and fit a 390 px screen.

Without Chromium or Playwright these tests skip, saying which is missing (`.ci/run` installs Chromium
and fails on any skip). The browser comes from ROUTEDESK_TEST_CHROMIUM, else `chromium` on PATH.
Screenshots go to ROUTEDESK_SCREENSHOTS when set (the README's come from there), else the test's tmp.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select

from app.db import unit_of_work
from app.ports import free_port
from app.routing import service as routing
from app.routing import training
from app.tickets.models import Ticket
from tests.api.desk import Desk, sqlite_only
from tests.mailgen import mail
from tests.routing.test_routing import PHRASES

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="Playwright is not installed (pip install playwright)"
)
CHROMIUM = os.environ.get("ROUTEDESK_TEST_CHROMIUM") or shutil.which("chromium")
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="no Chromium: apt-get install chromium, or set ROUTEDESK_TEST_CHROMIUM"
    ),
    sqlite_only,
]


@dataclass
class Browser:
    base: str
    shots: Path
    context: Any
    errors: list[str] = field(default_factory=list)

    async def page(self, *, width: int = 1280) -> Any:
        page = await self.context.new_page()
        await page.set_viewport_size({"width": width, "height": 900})
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        return page

    async def shot(self, page: Any, name: str) -> None:
        await page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


@pytest.fixture
async def browser(desk: Desk, tmp_path: Path) -> AsyncIterator[Browser]:
    port = free_port()
    config = uvicorn.Config(desk.app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
        if serving.done():
            serving.result()
    shots = Path(os.environ.get("ROUTEDESK_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    async with playwright_api.async_playwright() as driver:
        chromium = await driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await chromium.new_context()
        try:
            yield Browser(base=f"http://127.0.0.1:{port}", shots=shots, context=context)
        finally:
            await context.close()
            await chromium.close()
            server.should_exit = True
            await serving


def _body(message: EmailMessage) -> str:
    part = message.get_body()
    assert part is not None
    return str(part.get_content())


async def _sign_in(browser: Browser, token: str, *, width: int = 1280) -> Any:
    page = await browser.page(width=width)
    await page.goto(browser.base + "/console/queues")
    assert "/console/sign-in" in page.url  # no session yet: the sign-in page, which comes back after
    await page.get_by_label("Your API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/console/queues")
    return page


async def test_an_agent_plays_the_queue_inserts_a_macro_and_the_reply_reaches_the_customer_threaded(
    desk: Desk, browser: Browser
) -> None:
    created = await desk.admin.post(
        "/admin/macros",
        json={"title": "Payout timing", "body": "Hello {customer_first_name}, payouts arrive within 2 business days."},
    )
    assert created.status_code == 201, created.text
    first_id = make_msgid(domain="merchant.example")
    first = await desk.new_ticket(
        mail(subject="Payout missing", sender="Ana Lima <ana@merchant.example>", message_id=first_id,
             body="Hello, my payout has not arrived yet.")
    )  # fmt: skip
    second = await desk.new_ticket(
        mail(subject="Invoice copy", sender="bo@shop.example", message_id=make_msgid(domain="shop.example"))
    )
    _name, token = await desk.new_user("agent")
    page = await _sign_in(browser, token)
    await browser.shot(page, "queues")

    await page.keyboard.press("n")  # next ticket: the most urgent of the chosen queues, claimed
    await page.wait_for_url(f"**/console/tickets/{first}?play=triage")
    assert await desk.scalar(select(Ticket.assignee_id).where(Ticket.id == first)) is not None
    await page.keyboard.press("1")  # insert the first suggested macro, its placeholders filled
    reply = page.get_by_label("Your reply to ana@merchant.example")
    assert await reply.input_value() == "Hello Ana, payouts arrive within 2 business days."
    await reply.press("End")
    await reply.type(" Sorry for the wait.")
    await browser.shot(page, "ticket")
    await reply.press("Control+Enter")  # send; in play mode the next ticket opens
    await page.wait_for_url(f"**/console/tickets/{second}?play=triage")

    await desk.send_due()
    [sent] = [m for m in desk.smtp.messages if "payouts arrive" in _body(m.message)]
    assert _body(sent.message).strip() == "Hello Ana, payouts arrive within 2 business days. Sorry for the wait."
    assert sent.message["In-Reply-To"] == first_id
    assert first_id in sent.message["References"]
    assert browser.errors == []


async def test_question_mark_lists_the_shortcuts(desk: Desk, browser: Browser) -> None:
    _name, token = await desk.new_user("agent")
    page = await _sign_in(browser, token)
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert not await dialog.is_visible()
    await page.keyboard.press("?")
    assert await dialog.is_visible()
    assert await dialog.get_by_text("insert suggested macro 1, 2 or 3").is_visible()
    await page.keyboard.press("Escape")
    assert not await dialog.is_visible()
    assert browser.errors == []


async def test_the_ticket_page_fits_a_390_pixel_screen(desk: Desk, browser: Browser) -> None:
    ticket = await desk.new_ticket(
        mail(subject="A long subject line " * 4, sender="ana@merchant.example", message_id=make_msgid())
    )
    _name, token = await desk.new_user("agent")
    page = await _sign_in(browser, token, width=390)
    await page.goto(f"{browser.base}/console/tickets/{ticket}")
    wide = await page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 390, f"the page is {wide} px wide on a 390 px screen"
    await browser.shot(page, "ticket-390")
    assert browser.errors == []


async def _labelled_tickets(desk: Desk) -> None:
    """Tickets in two areas, each with an agent's label: what "train from agents' labels" reads."""
    for area in PHRASES:
        assert (await desk.admin.post("/admin/areas", json={"name": area})).status_code == 201
    for area, phrases in PHRASES.items():
        for i in range(4):
            for phrase in phrases:
                ticket = await desk.new_ticket(
                    mail(subject=phrase, body=f"Hello, {phrase} number {i}.", message_id=make_msgid())
                )
                async with unit_of_work(desk.runtime.sessionmaker) as session:
                    await routing.record_label(
                        session, ticket_id=ticket, area=area, previous=None, source="confirmed", actor="test"
                    )


async def test_an_admin_edits_a_schedule_trains_and_activates_a_model_and_reads_a_report_chart(
    desk: Desk, browser: Browser
) -> None:
    await _labelled_tickets(desk)
    _name, token = await desk.new_user("admin")
    page = await _sign_in(browser, token)
    await page.get_by_role("link", name="Admin").click()
    await page.get_by_role("link", name="SLA schedules").click()
    await page.get_by_label("Name").fill("berlin")
    await page.get_by_label("Time zone (IANA)").fill("Europe/Berlin")
    await page.get_by_label("Business hours, one line per day").fill("Mon 08:00-16:00\nTue 08:00-16:00")
    await page.get_by_role("button", name="Create schedule").click()
    await page.wait_for_url("**/console/admin/schedules#schedule-berlin")
    stored = (await desk.admin.get("/admin/sla/schedules/berlin")).json()
    hours = [(i["weekday"], i["start"], i["end"]) for i in stored["intervals"]]
    assert hours == [(0, "08:00", "16:00"), (1, "08:00", "16:00")]

    await page.goto(browser.base + "/console/admin/router")
    await page.get_by_role("button", name="Train from agents' labels").click()
    await page.wait_for_url("**/console/admin/jobs/*")
    # The worker's job runner, as `routedesk worker` runs it; the page follows the job by itself.
    assert await training.run_one_job(desk.runtime.sessionmaker, owner="test-worker", lease_seconds=60)
    await page.locator("#job-status", has_text="succeeded").wait_for(timeout=30_000)
    version = (await desk.admin.get("/admin/models")).json()[0]["version"]
    await page.get_by_role("link", name=version).click()
    await page.wait_for_url("**/console/admin/router?version=*")
    await browser.shot(page, "router")
    await page.locator("tr", has_text=version).get_by_role("button", name="Activate").click()
    await page.wait_for_url("**/console/admin/router")
    assert [m["version"] for m in (await desk.admin.get("/admin/models")).json() if m["active"]] == [version]

    await page.get_by_role("link", name="Admin").click()
    await page.get_by_role("link", name="Reports").click()
    chart = page.get_by_role("img", name="Tickets created per day")
    assert await chart.is_visible()
    assert await chart.locator("circle").count() >= 1
    await browser.shot(page, "reports")

    # An article previewed: the help centre's rendering in the page, its script never run, nothing saved.
    await page.get_by_role("link", name="Articles", exact=True).click()
    await page.get_by_label("Title", exact=True).fill("Refunds")
    await page.get_by_label("Body (markdown)").fill('## How\n\n**Ask** us.\n\n<script>document.title="owned"</script>')
    await page.get_by_role("button", name="Preview").click()
    await page.locator("#preview strong", has_text="Ask").wait_for()
    assert await page.title() != "owned" and await page.locator("#preview script").count() == 0
    assert (await desk.admin.get("/articles")).json() == []
    assert browser.errors == []
