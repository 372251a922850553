"""Console sign-in: an API token once, then a session cookie.

The cookie's value is 256 random bits; only its sha256 is stored (`ConsoleSession.id`), as with API
tokens. A session is good while its user is active, still holds the token it signed in with (a rotated
or revoked token ends every session opened with it) and it has been used within the idle timeout.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.console.models import ConsoleSession
from app.users import service as users
from app.users.models import User

COOKIE = "routedesk_session"
# A session's end moves on with use, but written at most this often: not one UPDATE per page.
_EXTEND_EVERY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    csrf: str


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _well_formed(value: str | None) -> bool:
    return value is not None and 20 <= len(value) <= 100 and value.isascii() and value.isprintable()


async def sign_in(
    session: AsyncSession, token: str, *, now: datetime, idle: timedelta, previous: str | None = None
) -> tuple[str, SignedIn] | None:
    """A new session for the holder of `token` (its cookie value and who signed in), or None. The
    session the browser held before (`previous`), whoever's it was, ends: a sign-in always gets a
    new cookie value, never one planted before it."""
    user = await users.authenticate(session, token)
    if user is None or user.token_hash is None:
        return None
    await sign_out(session, previous)
    # The user's expired sessions go now: the table holds live sessions and a few stale ones at most.
    await session.execute(
        delete(ConsoleSession).where(ConsoleSession.user_id == user.id, ConsoleSession.expires_at <= now)
    )
    value = secrets.token_urlsafe(32)
    row = ConsoleSession(
        id=_hash(value),
        user_id=user.id,
        token_hash=user.token_hash,
        csrf=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + idle,
    )
    session.add(row)
    await session.flush()
    return value, SignedIn(user=user, csrf=row.csrf)


async def resume(session: AsyncSession, value: str | None, *, now: datetime, idle: timedelta) -> SignedIn | None:
    """Who holds the session of this cookie value, if it is still good; its end moved on."""
    if not _well_formed(value):
        return None
    assert value is not None
    row = await session.get(ConsoleSession, _hash(value))
    if row is None or row.expires_at <= now:
        return None
    user = await users.by_id(session, row.user_id)
    if user is None or not user.active or user.token_hash != row.token_hash:
        await session.delete(row)
        return None
    if row.expires_at - now < idle - _EXTEND_EVERY:
        row.expires_at = now + idle
    return SignedIn(user=user, csrf=row.csrf)


async def sign_out(session: AsyncSession, value: str | None) -> None:
    if _well_formed(value):
        assert value is not None
        await session.execute(delete(ConsoleSession).where(ConsoleSession.id == _hash(value)))
