"""The REST API under /api/v1: thin FastAPI routers that validate, call services and shape answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

import settings
from api import (
    artifacts,
    audit,
    auth,
    fast_lane,
    health,
    mlflow,
    notification_targets,
    notifications,
    projects,
    providers,
    runs,
    sdk,
    users,
)
from api.body_limit import MULTIPART_OVERHEAD, UPLOAD_ROUTE, BodyLimit
from api.no_nul import NoNul
from services import ingest
from services.errors import ServiceError

PREFIX = '/api/v1'


def register(app: FastAPI) -> None:
    app.include_router(health.router, prefix=PREFIX)
    app.include_router(auth.router, prefix=PREFIX)
    app.include_router(projects.router, prefix=PREFIX)
    app.include_router(users.router, prefix=PREFIX)
    app.include_router(runs.router, prefix=PREFIX)
    app.include_router(runs.report_router, prefix=PREFIX)
    app.include_router(artifacts.router, prefix=PREFIX)
    app.include_router(providers.router, prefix=PREFIX)
    app.include_router(audit.router, prefix=PREFIX)
    app.include_router(notification_targets.router, prefix=PREFIX)
    app.include_router(notifications.router, prefix=PREFIX)
    app.include_router(sdk.router)
    for prefix in mlflow.PREFIXES:  # the client's REST calls, and the ajax-api paths its UI and some clients use
        app.include_router(mlflow.router, prefix=prefix)
    for prefix in mlflow.ARTIFACT_PREFIXES:
        app.include_router(mlflow.artifact_router, prefix=prefix)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(NoNul)
    fast_lane.install(app)  # reports past the pages' middleware, with the guards above and below
    # every route of the app, NiceGUI's too: no stranger's body is read past its cap
    app.add_middleware(BodyLimit, cap=settings.current.max_body_bytes,
                       caps={f'{PREFIX}/runs/[^/]+/report': ingest.MAX_BODY_BYTES,
                             '/(ajax-)?api/2.0/mlflow/runs/log-batch': 2 * mlflow.MAX_BATCH_BYTES,
                             '/(ajax-)?api/2.0/mlflow-artifacts/artifacts/.+': settings.current.max_artifact_bytes,
                             f'{PREFIX}/runs/[^/]+/artifacts/[^/]+/content': settings.current.max_artifact_bytes,
                             UPLOAD_ROUTE: settings.current.max_artifact_bytes + MULTIPART_OVERHEAD})


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
