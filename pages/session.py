"""Browser sessions: who is signed in on this tab, and the guard that sends everyone else to /login."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import app, ui
from starlette.types import ASGIApp, Receive, Scope, Send

from models import User
from services import auth

# pages anyone may open; /api/* routes check their own Bearer tokens (api/deps.py)
PUBLIC_PATHS = {'/login', '/setup', '/favicon.ico', '/sdk/trainboard.py'}
PUBLIC_PREFIXES = ('/_nicegui', '/api/')


class SignInRequired:
    """Pure ASGI, so API requests (which check their own tokens) pass straight through: BaseHTTPMiddleware would
    copy every report body through an extra stream."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get('path', '')
        if scope['type'] != 'http' or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if app.storage.user.get('user_id') or await _bearer_user(request):  # scripts may fetch /openapi.json
            await self.app(scope, receive, send)
            return
        await RedirectResponse(f'/login?redirect_to={quote(path)}')(scope, receive, send)


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
