"""The REST API under /api/v1: thin FastAPI routers that validate, call services and shape answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api import auth, health, projects, providers, runs, sdk, users
from services.errors import ServiceError

PREFIX = '/api/v1'


def register(app: FastAPI) -> None:
    app.include_router(health.router, prefix=PREFIX)
    app.include_router(auth.router, prefix=PREFIX)
    app.include_router(projects.router, prefix=PREFIX)
    app.include_router(users.router, prefix=PREFIX)
    app.include_router(runs.router, prefix=PREFIX)
    app.include_router(runs.report_router, prefix=PREFIX)
    app.include_router(providers.router, prefix=PREFIX)
    app.include_router(sdk.router)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


async def _service_error(_request: Request, error: ServiceError) -> JSONResponse:
    headers = {'WWW-Authenticate': 'Bearer'} if error.status_code == 401 else None
    return JSONResponse({'detail': error.message}, status_code=error.status_code, headers=headers)


async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    """422 with one readable sentence per problem ('budget_usd: Input should be greater than or equal to 0')."""
    problems = []
    for item in error.errors():
        where = '.'.join(str(part) for part in item.get('loc', ()) if part not in {'body', 'query', 'path'})
        problems.append(f'{where}: {item.get("msg")}' if where else str(item.get('msg')))
    return JSONResponse({'detail': '; '.join(problems), 'errors': problems}, status_code=422)
