"""Who is calling: every protected route depends on `current_user` (a Bearer token: API key or login token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from models import User
from services import auth
from services.auth import SignedIn
from services.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description='An API key or a token from POST /api/v1/auth/token')


async def current_key(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> SignedIn:
    """Whom the API key or login token of this request acts for, and which token it is."""
    if credentials is None:
        raise Unauthorized('Sign in first: send "Authorization: Bearer <token>" (POST /api/v1/auth/token gives one).')
    key = await auth.key_for_token(credentials.credentials)
    if key is None:
        raise Unauthorized('That token is unknown, revoked or expired.')
    return key


async def current_user(key: Annotated[SignedIn, Depends(current_key)]) -> User:
    return key.user


def client_address(request: Request) -> str:
    """The caller's address, as the sign-in throttle counts it (behind a reverse proxy: README.md, "Signing in")."""
    return request.client.host if request.client else ''


CurrentKey = Annotated[SignedIn, Depends(current_key)]
CurrentUser = Annotated[User, Depends(current_user)]
ClientAddress = Annotated[str, Depends(client_address)]
