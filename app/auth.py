from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.db import SessionDep
from app.errors import Forbidden, Unauthorized
from app.users import service as users
from app.users.models import User

_bearer = HTTPBearer(auto_error=False, description="An API token from `routedesk users add`")


async def current_user(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required")
    user = await users.authenticate(session, credentials.credentials)
    if user is None:
        raise Unauthorized("the token is not valid")
    return user


async def current_admin(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role != "admin":
        raise Forbidden("this needs the admin role")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
CurrentAdmin = Annotated[User, Depends(current_admin)]
