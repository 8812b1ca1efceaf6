"""Reports from training code take a lane of their own past the page stack's middleware.

Every request goes through what NiceGUI adds for its pages (sessions, request tracking, cache headers, a prefix
redirect: three of them BaseHTTPMiddleware, each a task and a stream per request): about 2 ms of the 2.5 ms a
one-point report cost the server, which held single-point ingest near 300 points/s. A report needs none of them: it
is authorised by its run's token, carries no session, and answers JSON. Its lane keeps the app's own guards (the
body's cap, the NUL check, the security headers) and its error handlers: the same route, the same answers.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from api.body_limit import BodyLimit
from api.no_nul import NoNul
from api.security_headers import SecurityHeaders

REPORT = re.compile(r'/api/v1/runs/[^/]+/report')
LANE_MIDDLEWARE = (SecurityHeaders, BodyLimit, NoNul)  # ours, pure ASGI; never a session or sign-in


def install(app: FastAPI) -> None:
    """Build the app's middleware stack (as Starlette does, when the first request comes) with a lane for reports:
    called after every middleware is added, NiceGUI's included, which ui.run adds last."""
    build = app.build_middleware_stack
    if getattr(build, 'has_fast_lane', False):  # once: a `user` test runs main.py again in the same process
        return

    def with_lane() -> ASGIApp:
        everything = build()
        kept = app.user_middleware
        app.user_middleware = [entry for entry in kept if entry.cls in LANE_MIDDLEWARE]
        try:
            lane = build()  # Starlette's error handling and the app's exception handlers around the same router
        finally:
            app.user_middleware = kept
        return FastLane(everything, lane)

    with_lane.has_fast_lane = True  # type: ignore[attr-defined]
    app.build_middleware_stack = with_lane  # type: ignore[method-assign]


class FastLane:
    def __init__(self, everything: ASGIApp, lane: ASGIApp) -> None:
        self.everything = everything
        self.lane = lane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] == 'http' and scope['method'] == 'POST' and REPORT.fullmatch(scope['path']):
            await self.lane(scope, receive, send)
        else:
            await self.everything(scope, receive, send)
