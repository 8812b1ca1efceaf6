"""Security headers on every answer: a Content-Security-Policy that NiceGUI works under, and no framing."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# NiceGUI renders with inline scripts and compiles Vue templates in the browser, hence 'unsafe-inline' and
# 'unsafe-eval'; everything else (its bundles, fonts, the socket.io websocket) comes from this origin
PAGE_POLICY = {
    'default-src': "'self'",
    'script-src': "'self' 'unsafe-inline' 'unsafe-eval'",
    'style-src': "'self' 'unsafe-inline'",
    'img-src': "'self' data: blob:",
    'font-src': "'self' data:",
    'connect-src': "'self'",
    'worker-src': "'self' blob:",
    'frame-ancestors': "'none'",
    'object-src': "'none'",
    'base-uri': "'self'",
    'form-action': "'self'",
}
# FastAPI's /docs (Swagger UI) and /redoc load their bundles from a CDN
DOCS_PATHS = {'/docs', '/docs/oauth2-redirect', '/redoc'}
DOCS_POLICY = {
    **PAGE_POLICY,
    'script-src': "'self' 'unsafe-inline' https://cdn.jsdelivr.net",
    'style-src': "'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
    'img-src': "'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
    'font-src': "'self' https://fonts.gstatic.com",
}
COMMON = {'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'same-origin', 'X-Frame-Options': 'DENY'}


class SecurityHeaders:
    """Pure ASGI (like components.session.SignInRequired), so report bodies stream through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        added = _DOCS_HEADERS if scope.get('path') in DOCS_PATHS else _PAGE_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message['type'] == 'http.response.start':
                headers = MutableHeaders(scope=message)
                for name, value in added.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _headers(policy: dict[str, str]) -> dict[str, str]:
    return {'Content-Security-Policy': '; '.join(f'{name} {value}' for name, value in policy.items()), **COMMON}


_PAGE_HEADERS = _headers(PAGE_POLICY)
_DOCS_HEADERS = _headers(DOCS_POLICY)
