"""The 404 page: a path no page has, or a page's address with a malformed id (/projects/abc), shows "Not found" in
the app's frame (the sign-in guard has sent whoever is not signed in to /login already). /api/* keeps JSON."""

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from nicegui.page import page
from starlette.exceptions import HTTPException

from components import session
from components.frame import not_found

NOT_PAGES = ('/api/', '/_nicegui/')


def register(app: FastAPI) -> None:
    """Answer 404s and malformed page addresses with the page; anything else as before (API JSON included). Call it
    after the API's handlers are registered: they answer what is not a page."""
    api_invalid = app.exception_handlers[RequestValidationError]
    nicegui_404 = app.exception_handlers[404]

    async def on_404(request: Request, error: Exception) -> Response:
        endpoint = request.scope.get('endpoint')  # a route that is no page said 404 itself: its answer stands
        answered = endpoint is not None and endpoint is not app and not request.scope.get('nicegui_page_path')
        if request.url.path.startswith('/api/') and isinstance(error, HTTPException):  # JSON, like the rest of it
            return await http_exception_handler(request, error)
        return await _page(request) if _is_page(request) and not answered else await nicegui_404(request, error)

    async def on_invalid(request: Request, error: Exception) -> Response:
        return await _page(request) if _is_page(request) else await api_invalid(request, error)

    app.add_exception_handler(404, on_404)
    app.add_exception_handler(RequestValidationError, on_invalid)


def _is_page(request: Request) -> bool:
    return request.method == 'GET' and not request.url.path.startswith(NOT_PAGES) \
        and 'text/html' in request.headers.get('accept', 'text/html')


async def _page(request: Request) -> Response:
    response = await page('')._wrap(_content)(request=request)  # built like any page: a client, its socket
    response.status_code = 404
    return response


async def _content(request: Request) -> None:
    user = await session.current_user()
    if user is None:
        return
    not_found(user, f'There is no page at {request.url.path[:200]}.')
