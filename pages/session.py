"""Browser sessions: who is signed in on this tab, and the guard that sends everyone else to /login."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import app, ui
from starlette.middleware.base import BaseHTTPMiddleware

from models import User
from services import auth

# pages anyone may open; /api/* routes check their own Bearer tokens (api/deps.py)
PUBLIC_PATHS = {'/login', '/setup', '/favicon.ico', '/sdk/trainboard.py'}
PUBLIC_PREFIXES = ('/_nicegui', '/api/')


class SignInRequired(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next):  # type: ignore[override]
        path = request.url.path
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or app.storage.user.get('user_id') \
                or await _bearer_user(request):  # scripts may fetch /openapi.json with their token
            return await call_next(request)
        return RedirectResponse(f'/login?redirect_to={quote(path)}')


async def _bearer_user(request: Request) -> User | None:
    scheme, _, token = request.headers.get('authorization', '').partition(' ')
    return await auth.user_for_token(token.strip()) if scheme.lower() == 'bearer' and token else None


async def current_user() -> User | None:
    """The signed-in, active user of this tab; None (and a redirect to /login) otherwise."""
    user_id = app.storage.user.get('user_id')
    user = await User.get_or_none(id=user_id, is_active=True) if user_id else None
    if user is None:
        app.storage.user.clear()
        ui.navigate.to('/login')
    return user


def sign_in(user: User) -> None:
    app.storage.user.update(user_id=user.id, email=user.email)


def sign_out() -> None:
    app.storage.user.clear()
    ui.navigate.to('/login')
