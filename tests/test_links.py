"""app/links.py: customers' signed links (a token verifies for its own purpose only, until it expires on
the injected clock; a tampered, foreign or shapeless token is told apart) and the double-submitted
CSRF token of the forms those links open, through a real app over httpx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from app.links import CSRF_COOKIE, CSRF_FIELD, TOKEN_MAX, LinkError, LinkSigner, form_token_ok, issue_form_token
from app.secrets import SecretBox

WEEK = timedelta(days=7)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def signer(clock: Clock, key: bytes | None = None) -> LinkSigner:
    box = SecretBox(key or Fernet.generate_key())
    return LinkSigner(box.derive_key(b"links"), clock=clock)


def test_a_token_carries_its_payload_back() -> None:
    links = signer(Clock())
    token = links.sign("survey", {"ticket": 42, "cycle": 2, "rating": "good"})
    assert links.verify("survey", token, max_age=WEEK) == {"ticket": 42, "cycle": 2, "rating": "good"}


def test_a_token_expires_after_max_age_on_the_injected_clock() -> None:
    clock = Clock()
    links = signer(clock)
    token = links.sign("survey", {"ticket": 1})
    clock.now += WEEK - timedelta(seconds=1)
    assert links.verify("survey", token, max_age=WEEK) == {"ticket": 1}
    clock.now += timedelta(seconds=2)
    with pytest.raises(LinkError) as caught:
        links.verify("survey", token, max_age=WEEK)
    assert caught.value.reason == "expired"


def test_a_token_signed_for_another_purpose_is_forged() -> None:
    links = signer(Clock())
    token = links.sign("deflection", {"ticket": 1})
    with pytest.raises(LinkError) as caught:
        links.verify("survey", token, max_age=WEEK)
    assert caught.value.reason == "forged"


def test_a_token_signed_with_another_key_is_forged() -> None:
    clock = Clock()
    token = signer(clock).sign("survey", {"ticket": 1})
    with pytest.raises(LinkError) as caught:
        signer(clock).verify("survey", token, max_age=WEEK)
    assert caught.value.reason == "forged"


def test_the_same_secret_signs_the_same_way_in_every_process() -> None:
    key = Fernet.generate_key()
    clock = Clock()
    token = signer(clock, key).sign("survey", {"ticket": 7})
    assert signer(clock, key).verify("survey", token, max_age=WEEK) == {"ticket": 7}


def test_a_changed_payload_is_forged() -> None:
    links = signer(Clock())
    token = links.sign("survey", {"ticket": 1})
    other = links.sign("survey", {"ticket": 2})
    spliced = other.split(".", 1)[0] + "." + token.split(".", 1)[1]
    with pytest.raises(LinkError) as caught:
        links.verify("survey", spliced, max_age=WEEK)
    assert caught.value.reason == "forged"


@pytest.mark.parametrize(
    "token",
    ["", "x", "no-dots-at-all", "é" * 10, "a\x00b.c.d", "a\nb.c", "x" * (TOKEN_MAX + 1)],
    ids=["empty", "one-char", "no-dots", "non-ascii", "nul", "newline", "too-long"],
)
def test_a_token_of_the_wrong_shape_is_malformed_or_forged_never_an_exception_of_another_kind(token: str) -> None:
    with pytest.raises(LinkError) as caught:
        signer(Clock()).verify("survey", token, max_age=WEEK)
    assert caught.value.reason in {"malformed", "forged"}
    if not token.isascii() or not token.isprintable() or len(token) > TOKEN_MAX or not token:
        assert caught.value.reason == "malformed"


def test_derived_keys_differ_by_label_and_are_not_the_secret_itself() -> None:
    key = Fernet.generate_key()
    box = SecretBox(key)
    assert box.derive_key(b"links") != box.derive_key(b"other")
    assert box.derive_key(b"links") not in (key, Fernet(key)._signing_key)


def _form_app() -> FastAPI:
    app = FastAPI()

    @app.get("/form")
    async def page(request: Request) -> HTMLResponse:
        response = HTMLResponse("")
        token = issue_form_token(request, response, secure=request.url.scheme == "https")
        response.body = response.render(f'<input name="{CSRF_FIELD}" value="{token}">')
        response.headers["content-length"] = str(len(response.body))
        return response

    @app.post("/form")
    async def submit(request: Request, form_token: str | None = Form(None)) -> PlainTextResponse:
        ok = form_token_ok(request, form_token)
        return PlainTextResponse("ok" if ok else "refused", status_code=200 if ok else 403)

    return app


def _field(page: str) -> str:
    return page.split('value="', 1)[1].split('"', 1)[0]


async def test_a_form_posted_with_its_pages_token_is_accepted_and_any_other_is_refused() -> None:
    transport = httpx.ASGITransport(app=_form_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        page = await client.get("/form")
        cookie = page.cookies[CSRF_COOKIE]
        assert "httponly" in page.headers["set-cookie"].lower()
        assert "samesite=lax" in page.headers["set-cookie"].lower()
        token = _field(page.text)
        assert token == cookie
        assert (await client.post("/form", data={CSRF_FIELD: token})).status_code == 200
        # the field missing, or another value: refused
        assert (await client.post("/form", data={})).status_code == 403
        assert (await client.post("/form", data={CSRF_FIELD: "A" * 43})).status_code == 403
        # a second page keeps the browser's token (two tabs both submit)
        again = await client.get("/form")
        assert _field(again.text) == token

    # A cross-site page posts the field without the cookie: refused.
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as stranger:
        assert (await stranger.post("/form", data={CSRF_FIELD: token})).status_code == 403
