"""A cap on every request body: 413 with a readable detail before more than the cap is read.

Starlette's own RequestBodyLimitMiddleware answers a bare 'Content Too Large', has one cap for every path, and
refuses a too-large Content-Length only once the route reads the body; this one names the cap, lets a route have
its own (reports take 4 MB), and refuses a declared length at once, before the route runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# NiceGUI's upload routes (ui.upload; the artifacts panel's is the one): max_file_size is a prop of the browser's
# uploader alone, and the route is outside the sign-in guard, so it has a cap here like every route (api/__init__.py)
UPLOAD_ROUTE = r'/_nicegui/client/[^/]+/upload/[^/]+'
MULTIPART_OVERHEAD = 2**20  # a file's multipart boundaries and headers, beside its bytes


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body passes its cap. An HTTPException, so a FastAPI route that was reading its
    body answers it with the detail (FastAPI re-raises HTTPExceptions from body parsing instead of a 400)."""

    def __init__(self, cap: int) -> None:
        super().__init__(status_code=413, detail=f'The request body is larger than {_size(cap)}, the most this '
                                                 'route takes; send less at once.')


class BodyLimit:
    """Pure ASGI (as components/session.SignInRequired): bodies stream through as they come, counted, never copied."""

    def __init__(self, app: ASGIApp, *, cap: int, caps: Mapping[str, int] | None = None) -> None:
        """`cap` bytes for every route, or `caps[pattern]` for a path that fully matches the regex `pattern`."""
        self.app = app
        self.cap = cap
        self.caps = [(re.compile(pattern), limit) for pattern, limit in (caps or {}).items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get('path', '')
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        cap = next((limit for pattern, limit in self.caps if pattern.fullmatch(path)), self.cap)
        declared = Headers(scope=scope).get('content-length', '')
        if declared.isdigit() and int(declared) > cap:
            await _refuse(BodyTooLarge(cap), scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message['type'] == 'http.request':
                received += len(message.get('body', b''))
                if received > cap:
                    raise BodyTooLarge(cap)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message['type'] == 'http.response.start':
                started = True
                if received > cap:  # the route answered the refusal: close, rather than read the rest to skip it
                    message = {**message, 'headers': [*message.get('headers', []), (b'connection', b'close')]}
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as error:  # a route or app that does not answer HTTPExceptions itself
            if started:
                raise
            await _refuse(error, scope, receive, send)


async def _refuse(error: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
    # the connection closes after the answer, so the rest of the body is never read
    await JSONResponse({'detail': error.detail}, status_code=413, headers={'Connection': 'close'})(scope, receive, send)


def _size(count: int) -> str:
    return f'{count / 2**20:g} MB' if count % 2**18 == 0 else f'{count:,} bytes'
