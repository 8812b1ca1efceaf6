"""A NUL character anywhere in a request's address is refused with one 422 before any route runs.

No path or query value of ours means anything with one, and PostgreSQL refuses it in every text it is handed (a 500
from deep in a query: a log search, a metric's name, an artifact's path); SQLite took it. One check here, rather than
one in every route that passes a path or query value to the database.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote_to_bytes

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

ADDRESS = 'The address must not contain the NUL character (%00).'


class NoNul:
    """Pure ASGI, as api/body_limit.BodyLimit. A 422 naming the query parameter, as the API's validation does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] == 'http' and (problem := _nul_in(scope)):
            await JSONResponse({'detail': problem}, status_code=422)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _nul_in(scope: Scope) -> str | None:
    path = scope.get('raw_path') or scope.get('path', '').encode()
    if b'\x00' in unquote_to_bytes(path):
        return ADDRESS
    for name, value in parse_qsl(scope.get('query_string', b'').decode('latin-1'), keep_blank_values=True):
        if '\x00' in name or '\x00' in value:
            return f'{name.replace(chr(0), "")[:40]} must not contain the NUL character (\\u0000).'
    return None
