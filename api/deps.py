"""Who is calling: every protected route depends on `current_user` (a Bearer token: API key or login token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from models import User
from services import auth
from services.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description='An API key or a token from POST /api/v1/auth/token')


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
    if credentials is None:
        raise Unauthorized('Sign in first: send "Authorization: Bearer <token>" (POST /api/v1/auth/token gives one).')
    user = await auth.user_for_token(credentials.credentials)
    if user is None:
        raise Unauthorized('That token is unknown, revoked or expired.')
    return user


CurrentUser = Annotated[User, Depends(current_user)]
