"""A browser for the console's tests without a real one: an httpx client on the desk's app that keeps
cookies like a browser, signs in through the sign-in form, and reads the forms' hidden fields."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.api.desk import Desk

_FIELD = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')


def hidden(page: str, name: str) -> str:
    for found, value in _FIELD.findall(page):
        if found == name:
            return str(value)
    raise AssertionError(f"no hidden field {name!r} on the page")


class Console:
    def __init__(self, desk: Desk) -> None:
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test")
        self.csrf = ""

    async def sign_in(self, token: str, *, wanted: str | None = None) -> httpx.Response:
        form = await self.client.get("/console/sign-in", params={"next": wanted} if wanted else None)
        response = await self.client.post(
            "/console/sign-in",
            data={"token": token, "form_token": hidden(form.text, "form_token"), "next": hidden(form.text, "next")},
        )
        if response.status_code == 303:
            landed = await self.client.get(response.headers["location"])
            if landed.status_code == 200:
                self.csrf = hidden(landed.text, "csrf")
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, **kwargs)

    async def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = None) -> httpx.Response:
        return await self.client.post(path, data={"csrf": self.csrf if csrf is None else csrf, **(data or {})})

    async def aclose(self) -> None:
        await self.client.aclose()
