from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.users.models import User

# Every request runs it: built once, bound per call.
_BY_TOKEN_HASH = select(User).where(User.token_hash == bindparam("token_hash"), User.active.is_(True))


async def by_token_hash(session: AsyncSession, token_hash: str) -> User | None:
    return await session.scalar(_BY_TOKEN_HASH, {"token_hash": token_hash})


async def by_name(session: AsyncSession, name: str) -> User | None:
    return await session.scalar(select(User).where(User.name == name))


async def listing(session: AsyncSession, *, offset: int = 0, limit: int = 50) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(User.id).offset(offset).limit(limit))).all()
