"""/docs and /redoc work offline: every script, style and icon they reference is served by the app
itself, with its content type, and the page's Content-Security-Policy allows exactly those."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from tests.api.desk import Desk, sqlite_only

_REFERENCE = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


@sqlite_only
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_references_only_same_origin_assets_served_with_their_types(desk: Desk, page: str) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=desk.app), base_url="http://test") as client:
        answer = await client.get(page)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
        references = _REFERENCE.findall(answer.text)
        assert references, answer.text
        # Every one a path on this origin: no CDN, no Google fonts, no protocol-relative URL.
        assert all(r.startswith("/") and not r.startswith("//") for r in references), references
        assert "http://" not in answer.text and "https://" not in answer.text
        for reference in references:
            asset = await client.get(reference)
            assert asset.status_code == 200, reference
            suffix = reference[reference.rindex(".") :]
            assert asset.headers["content-type"].split(";")[0] == _TYPES[suffix], reference
            assert len(asset.content) > 1000, reference
        schema = await client.get("/openapi.json")
    assert schema.status_code == 200
    [policy] = answer.headers.get_list("content-security-policy")
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert directives["connect-src"] == "'self'"
    inline = re.findall(r"<script>(.*?)</script>", answer.text, re.DOTALL)
    hashes = {f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline}
    # Scripts: this origin, and the page's own inline script by its hash; nothing else.
    assert set(directives["script-src"].split()) == {"'self'", *hashes}
    assert "http" not in policy and "*" not in policy
