"""What every server-rendered page of the app shares: the help centre (app/kb/pages.py), the CSAT
survey (app/csat/pages.py) and the web console (app/console/pages.py).

- `templates(package)`: the package's Jinja environment, autoescaped (a template never has to ask for
  escaping), built once;
- `html`: a page with its Content-Security-Policy and no caching;
- `secure_cookies`: whether a cookie for this request gets Secure (the setting, else whether the
  browser's connection is HTTPS, directly or through a trusted proxy);
- `with_form_token`: a page holding a form for a visitor with no session, whose double-submitted CSRF
  token (app/links.py) is in the page and in the browser's cookie;
- `public_form`: a public page's POSTed form, or None for anything that is no form we served;
- `asset`: a package's stylesheet, script or image, read once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from importlib.resources import files
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from app.http import is_https
from app.links import issue_form_token

# The public pages' policy: this origin's stylesheet, images and form target, nothing else; no script.
PUBLIC_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@cache
def templates(package: str) -> Environment:
    return Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def html(
    environment: Environment,
    template: str,
    *,
    csp: str,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    body = environment.get_template(template).render(**context)
    return HTMLResponse(
        body,
        status_code=status,
        headers={"Content-Security-Policy": csp, "Cache-Control": "no-store", **(headers or {})},
    )


def secure_cookies(request: Request) -> bool:
    """Whether the cookies set for this request get Secure: `console.secure_cookies` when set, else
    whether the browser's connection is HTTPS (directly, or through one of the trusted proxies, by its
    X-Forwarded-Proto)."""
    settings = request.app.state.settings
    if settings.console.secure_cookies is not None:
        return bool(settings.console.secure_cookies)
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-proto")
    return is_https(request.url.scheme, peer, forwarded, settings.http.trusted_proxies)


def with_form_token(request: Request, render: Callable[[str], HTMLResponse]) -> HTMLResponse:
    """The page `render` makes with the form's CSRF token, that token set in the browser's cookie."""
    holder = Response()
    token = issue_form_token(request, holder, secure=secure_cookies(request))
    response = render(token)
    response.raw_headers.extend(h for h in holder.raw_headers if h[0] == b"set-cookie")
    return response


async def public_form(request: Request, *, max_fields: int) -> dict[str, str] | None:
    """A public page's POSTed form: its text fields, each given once, or None for a body that is no
    form we could have served (another content type, a file, a field twice, a body the parser refuses)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    try:
        form = await request.form(max_files=0, max_fields=max_fields)
    except Exception:  # python-multipart's and starlette's own refusals of a malformed body
        return None
    found: dict[str, str] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str) or key in found:
            return None
        found[key] = value
    return found


def asset(package: str, name: str, media_type: str) -> Response:
    """A stylesheet, script or image of the package's templates folder, cached by the browser for an hour."""
    return Response(_asset(package, name), media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})


@cache
def _asset(package: str, name: str) -> bytes:
    return files(package).joinpath(f"templates/{name}").read_bytes()
