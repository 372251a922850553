"""Signed links for customers, who have no login, and the forms on the pages those links open.

A link's token is an itsdangerous timed signature (HMAC-SHA256) over a small JSON payload: what the
link acts on (a ticket and its resolution cycle, an article), never a secret. Each kind of link signs
with its own salt (`purpose`), so that a survey's token is no deflection token. The key is derived from
the project's secret key with a label of its own (`SecretBox.derive_key`), so that the Fernet key that
encrypts mailbox passwords is never used as it is for anything else; `Runtime.links` is the one signer.
Expiry is measured on the runtime's clock, so tests pin it.

A link's GET only shows a page; only a POST of that page's form acts. Each form carries a CSRF token,
double-submitted: the GET sets it in a cookie (HttpOnly, SameSite=Lax) and in a hidden field, and the
POST must bring both, equal. A cross-site form cannot read the cookie to copy it into its field.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Literal

from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadPayload, BadSignature, BadTimeSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.timed import TimestampSigner

from app.db import utcnow

# Longer than any token we sign (a payload of a few ids is about 100 characters): anything longer is
# refused before any work is done on it.
TOKEN_MAX = 400
Reason = Literal["malformed", "forged", "expired"]
Payload = Mapping[str, int | str]

CSRF_COOKIE = "routedesk_form"
CSRF_FIELD = "form_token"


class LinkError(Exception):
    """A token that cannot be honoured: `malformed` (not a token at all), `forged` (its signature does
    not verify, or it was signed for another purpose), `expired`."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason: Reason = reason


class LinkSigner:
    def __init__(self, secret_key: bytes, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._key = secret_key
        self._clock = clock
        self._serializers: dict[str, URLSafeTimedSerializer] = {}

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        found = self._serializers.get(purpose)
        if found is None:
            clock = self._clock

            class _Signer(TimestampSigner):
                def get_timestamp(self) -> int:
                    return int(clock().timestamp())

            found = URLSafeTimedSerializer(
                self._key,
                salt=f"routedesk.{purpose}",
                signer=_Signer,
                signer_kwargs={"digest_method": hashlib.sha256},
            )
            self._serializers[purpose] = found
        return found

    def sign(self, purpose: str, payload: Payload) -> str:
        token: str = self._serializer(purpose).dumps(dict(payload))
        return token

    def verify(self, purpose: str, token: str, *, max_age: timedelta) -> dict[str, int | str]:
        """The payload of a token signed for `purpose` no longer ago than `max_age`, or LinkError."""
        if not token or len(token) > TOKEN_MAX or not token.isascii() or not token.isprintable():
            raise LinkError("malformed")
        try:
            payload = self._serializer(purpose).loads(token, max_age=int(max_age.total_seconds()))
        except SignatureExpired as exc:
            raise LinkError("expired") from exc
        except BadTimeSignature as exc:
            raise LinkError("forged" if exc.date_signed is not None or "." in token else "malformed") from exc
        except BadPayload as exc:  # signed by us, unreadable: cannot happen without the key
            raise LinkError("forged") from exc
        except BadSignature as exc:
            raise LinkError("forged" if "." in token else "malformed") from exc
        if not isinstance(payload, dict) or not all(
            isinstance(k, str) and isinstance(v, int | str) and not isinstance(v, bool) for k, v in payload.items()
        ):
            raise LinkError("forged")
        return payload


def issue_form_token(request: Request, response: Response, *, secure: bool) -> str:
    """The CSRF token for a form on this page: the one the browser already holds, or a new one, set in
    the cookie (Secure when `secure`: app/pages.py:secure_cookies decides). Put it in the form's
    hidden `CSRF_FIELD`."""
    token = request.cookies.get(CSRF_COOKIE)
    if not _well_formed(token):
        token = secrets.token_urlsafe(32)
    assert token is not None
    response.set_cookie(
        CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
        max_age=7 * 24 * 3600,
    )
    return token


def form_token_ok(request: Request, submitted: str | None) -> bool:
    """Whether a POSTed form carries the CSRF token its page set: cookie and field present and equal."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not _well_formed(cookie) or not _well_formed(submitted):
        return False
    assert cookie is not None and submitted is not None
    return hmac.compare_digest(cookie.encode(), submitted.encode())


def _well_formed(token: str | None) -> bool:
    return token is not None and 20 <= len(token) <= 100 and token.isascii() and token.isprintable()
