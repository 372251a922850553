from __future__ import annotations

import hashlib
import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.users import repository
from app.users.models import User

ROLES = ("agent", "admin")
TOKEN_PREFIX = "rdt_"  # noqa: S105 - a marker that makes leaked tokens easy to scan for, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def create_user(session: AsyncSession, *, name: str, email: str, role: str) -> tuple[User, str]:
    """A new user and their API token; the token is returned once and only its hash is kept."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if await repository.by_name(session, name) is not None:
        raise Conflict(f"a user named {name!r} exists already")
    token = new_token()
    user = User(name=name, email=email.strip().lower(), role=role, token_hash=hash_token(token))
    session.add(user)
    await session.flush()
    return user, token


async def rotate_token(session: AsyncSession, name: str) -> tuple[User, str]:
    user = await _get(session, name)
    token = new_token()
    user.token_hash, user.active, user.revoked_at = hash_token(token), True, None
    await session.flush()
    return user, token


async def revoke(session: AsyncSession, name: str) -> User:
    user = await _get(session, name)
    user.token_hash, user.active, user.revoked_at = None, False, utcnow()
    await session.flush()
    return user


async def authenticate(session: AsyncSession, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    return await repository.by_token_hash(session, hash_token(token))


async def _get(session: AsyncSession, name: str) -> User:
    user = await repository.by_name(session, name)
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


async def by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get(session: AsyncSession, name: str) -> User:
    return await _get(session, name)


async def listing(session: AsyncSession, *, offset: int, limit: int) -> list[User]:
    return list(await repository.listing(session, offset=offset, limit=limit))
