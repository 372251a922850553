from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.auth import CurrentAdmin, CurrentUser
from app.db import SessionDep
from app.users import service as users
from app.users.schemas import UserCreate, UserRead, UserWithToken
from app.validation import LINE

router = APIRouter(tags=["users"])

Name = Annotated[str, Path(min_length=1, max_length=100), LINE]


@router.get("/me")
async def me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@router.get("/admin/users")
async def list_users(
    admin: CurrentAdmin,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[UserRead]:
    return [UserRead.model_validate(u) for u in await users.listing(session, offset=offset, limit=limit)]


@router.post("/admin/users", status_code=201)
async def create_user(body: UserCreate, admin: CurrentAdmin, session: SessionDep) -> UserWithToken:
    user, token = await users.create_user(session, name=body.name, email=body.email, role=body.role)
    return UserWithToken(**UserRead.model_validate(user).model_dump(), token=token)


@router.post("/admin/users/{name}/token")
async def rotate_token(name: Name, admin: CurrentAdmin, session: SessionDep) -> UserWithToken:
    user, token = await users.rotate_token(session, name)
    return UserWithToken(**UserRead.model_validate(user).model_dump(), token=token)


@router.post("/admin/users/{name}/revoke")
async def revoke(name: Name, admin: CurrentAdmin, session: SessionDep) -> UserRead:
    return UserRead.model_validate(await users.revoke(session, name))
