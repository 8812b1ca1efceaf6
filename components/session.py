"""Browser sessions: who is signed in on this tab, and the guard that sends everyone else to /login.

Signing in stores a session row (services/auth.py) whose secret stays in this browser's server-side
`app.storage.user`; a tab counts as signed in only while that row exists and its user is active, so revoking the
session, a password change or a deactivation signs the browser out on its next page or action.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import app, ui
from starlette.types import ASGIApp, Receive, Scope, Send

from models import User
from services import auth
from services.errors import ServiceError, Unauthorized

# pages anyone may open; /api/* routes check their own Bearer tokens (api/deps.py)
PUBLIC_PATHS = {'/login', '/setup', '/favicon.ico', '/sdk/trainboard.py'}
PUBLIC_PREFIXES = ('/_nicegui', '/api/', '/ajax-api/')  # the API's routes check their own tokens
SESSION_SECRET = 'session'  # the key in app.storage.user
DEFAULT_PAGE = '/projects'


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
        signed_in = await auth.session_for(app.storage.user.get(SESSION_SECRET))
        if signed_in or await _bearer_user(Request(scope)):  # scripts may fetch /openapi.json
            await self.app(scope, receive, send)
            return
        await RedirectResponse(f'/login?redirect_to={quote(path)}')(scope, receive, send)


async def current_user() -> User | None:
    """The signed-in, active user of this tab, as the database has them now; None (and off to /login) otherwise.

    Pages call it when they are built and again in each action, so a tab opened before a demotion, deactivation or
    sign-out elsewhere acts with what its user may do now.
    """
    session = await current_session()
    if session is None:
        if _tab_secret():
            ui.notify('Your session has ended: sign in again.', type='warning')
        ui.navigate.to('/login')
        return None
    return session.user


async def request_user() -> User | None:
    """The signed-in, active user of this browser, for a plain route (a download) that no tab serves."""
    session = await auth.session_for(app.storage.user.get(SESSION_SECRET))
    return session.user if session else None


async def current_session() -> auth.SignedIn | None:
    """The live session this tab was opened with, and its user."""
    return await auth.session_for(_tab_secret())


def refused(error: ServiceError) -> None:
    """Tell the user why a service said no; a tab whose user was signed out or deactivated goes to /login."""
    ui.notify(error.message, type='negative')
    if isinstance(error, Unauthorized):
        ui.navigate.to('/login')


async def sign_in(user: User) -> None:
    await auth.close_session(app.storage.user.get(SESSION_SECRET))  # whoever was signed in on this browser before
    secret = await auth.open_session(user, address=client_address())
    app.storage.user.clear()
    app.storage.user.update({SESSION_SECRET: secret, 'email': user.email})


async def sign_out() -> None:
    await auth.close_session(_tab_secret())
    app.storage.user.clear()
    ui.navigate.to('/login')


def client_address() -> str:
    """This tab's address, as the sign-in throttle counts it."""
    return ui.context.client.ip


def safe_redirect(target: str, default: str = DEFAULT_PAGE) -> str:
    """`target` if it is a path on this site, else `default`.

    Browsers read `/\\evil.example` and `/<tab>/evil.example` as `//evil.example`, another site, so a backslash or
    any control character anywhere refuses the target, as does anything with a scheme or a host.
    """
    parts = urlsplit(target)
    if (not target.startswith('/') or target.startswith('//') or '\\' in target or parts.scheme or parts.netloc
            or any(ord(char) < 32 or ord(char) == 127 for char in target)):
        return default
    return target


def _tab_secret() -> str | None:
    """The secret of the session this tab was opened with. Kept with the tab, so that its actions act for that
    session even after the browser signs in as someone else in another tab (which ends this one's)."""
    tab = app.storage.client
    if SESSION_SECRET not in tab:
        tab[SESSION_SECRET] = app.storage.user.get(SESSION_SECRET)
    return tab[SESSION_SECRET]


async def _bearer_user(request: Request) -> User | None:
    scheme, _, token = request.headers.get('authorization', '').partition(' ')
    return await auth.user_for_token(token.strip()) if scheme.lower() == 'bearer' and token else None
