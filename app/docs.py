"""The API's documentation pages, /docs (Swagger UI) and /redoc, with their scripts, styles and icon
served by the app itself from the fastapi-offline package: they work without Internet access, and
each page's Content-Security-Policy allows exactly what it loads, all from this origin."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def _script_hashes(html: bytes) -> str:
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    )


def install_docs(app: FastAPI) -> None:
    """Mounts the assets and the two pages; the app must be made with docs_url=None and redoc_url=None."""
    assert app.openapi_url is not None
    app.mount(ASSETS_PATH, StaticFiles(directory=_ASSETS), name="docs-assets")
    swagger = get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} API",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
    ).body
    swagger = bytes(swagger)
    # The page's one inline script (Swagger UI's settings) is allowed by its hash; the images its
    # stylesheet draws are data: URLs; the schema is fetched from here.
    swagger_csp = (
        f"default-src 'none'; script-src 'self' {_script_hashes(swagger)}; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
    )
    redoc = get_redoc_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} API",
        redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
        with_google_fonts=False,
    ).body
    # ReDoc writes its styles into <style> elements (styled-components) and searches in a blob: worker.
    redoc_csp = (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; worker-src blob:; frame-ancestors 'none'"
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(swagger, headers={"Content-Security-Policy": swagger_csp})

    @app.get("/redoc", include_in_schema=False)
    async def redoc_page() -> HTMLResponse:
        return HTMLResponse(redoc, headers={"Content-Security-Policy": redoc_csp})
