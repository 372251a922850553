from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.db import SessionDep
from app.errors import Forbidden, TooManyRequests, Unauthorized
from app.http import FailedAuthThrottle, client_address
from app.users import service as users
from app.users.models import User

_bearer = HTTPBearer(auto_error=False, description="An API token from `routedesk users add`")


async def current_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required")
    # A valid token is checked and accepted first, whatever its address did: the throttle must never
    # lock out an agent behind the same address as whoever sends bad tokens. Tokens carry 256 random
    # bits, so the throttle is there to stop a flood, not to make guessing slower.
    user = await users.authenticate(session, credentials.credentials)
    if user is None:
        throttle: FailedAuthThrottle = request.app.state.auth_throttle
        settings = request.app.state.settings.http
        peer = request.client.host if request.client else None
        address = client_address(peer, request.headers.getlist("x-forwarded-for"), settings.trusted_proxies)
        wait = throttle.failed(address)
        if wait is not None:
            raise TooManyRequests(f"too many invalid tokens from this address; retry after {wait} s", retry_after=wait)
        raise Unauthorized("the token is not valid")
    return user


async def current_admin(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role != "admin":
        raise Forbidden("this needs the admin role")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
CurrentAdmin = Annotated[User, Depends(current_admin)]
