"""A NUL character anywhere in a request's address is refused with one 400 before any route runs.

No path or query value of ours means anything with one, and PostgreSQL refuses it in every text it is handed (a 500
from deep in a query: a log search, a metric's name, an artifact's path); SQLite took it. One check here, rather than
one in every route that passes a path or query value to the database.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

DETAIL = 'The address must not contain the NUL character (%00).'


class NoNul:
    """Pure ASGI, as api/body_limit.BodyLimit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] == 'http' and _has_nul(scope):
            await JSONResponse({'detail': DETAIL}, status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    path = scope.get('raw_path') or scope.get('path', '').encode()
    return b'\x00' in unquote_to_bytes(path) or b'\x00' in unquote_to_bytes(scope.get('query_string', b''))
