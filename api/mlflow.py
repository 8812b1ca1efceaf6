"""MLflow's tracking REST API under /api/2.0/mlflow (and /ajax-api/2.0/mlflow), for the real `mlflow` client:
thin routes over services/mlflow_tracking, answers and errors in MLflow's JSON shapes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute

from api.deps import ClientAddress
from services import mlflow_access, mlflow_artifacts
from services import mlflow_tracking as tracking
from services.errors import Invalid, ServiceError
from services.mlflow_tracking import Caller

PREFIXES = ('/api/2.0/mlflow', '/ajax-api/2.0/mlflow')
ARTIFACT_PREFIXES = ('/api/2.0/mlflow-artifacts', '/ajax-api/2.0/mlflow-artifacts')
MAX_BATCH_BYTES = 1_000_000  # MLflow's own limit of a log-batch request
ERROR_CODES = {400: 'INVALID_PARAMETER_VALUE', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED',
               404: 'RESOURCE_DOES_NOT_EXIST', 409: 'INVALID_STATE', 413: 'INVALID_PARAMETER_VALUE',
               422: 'INVALID_PARAMETER_VALUE', 429: 'REQUEST_LIMIT_EXCEEDED', 503: 'TEMPORARILY_UNAVAILABLE'}
MLFLOW_STATUS = {'INVALID_STATE': 400, 'INVALID_PARAMETER_VALUE': 400}  # MLflow answers these with 400


class MlflowRoute(APIRoute):
    """Errors as MLflow sends them: `{"error_code": ..., "message": ...}` with the matching HTTP status."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ServiceError as error:
                code = getattr(error, 'error_code', None) or ERROR_CODES.get(error.status_code, 'INTERNAL_ERROR')
                return JSONResponse({'error_code': code, 'message': error.message},
                                    status_code=MLFLOW_STATUS.get(code, error.status_code))
        return handle


async def caller(request: Request, address: ClientAddress) -> Caller:
    return await mlflow_access.caller_for(request.headers.get('authorization', ''), address)


Who = Annotated[Caller, Depends(caller)]
router = APIRouter(route_class=MlflowRoute, tags=['mlflow'], include_in_schema=False)
artifact_router = APIRouter(route_class=MlflowRoute, tags=['mlflow'], include_in_schema=False)


# --- experiments --------------------------------------------------------------------------------------------------

@router.get('/experiments/get-by-name')
async def experiment_by_name(request: Request, who: Who) -> dict[str, Any]:
    return {'experiment': await tracking.experiment_by_name(who, _query(request, 'experiment_name'))}


@router.get('/experiments/get')
async def get_experiment(request: Request, who: Who) -> dict[str, Any]:
    return {'experiment': await tracking.experiment(who, _query(request, 'experiment_id'))}


@router.post('/experiments/create')
async def create_experiment(request: Request, who: Who) -> dict[str, Any]:
    body = await _body(request)
    return {'experiment_id': await tracking.create_experiment(who, _required(body, 'name'))}


@router.api_route('/experiments/search', methods=['GET', 'POST'])
async def search_experiments(request: Request, who: Who) -> dict[str, Any]:
    body = await _body(request) if request.method == 'POST' else dict(request.query_params)
    found, following = await tracking.search_experiments(
        who, max_results=_int(body, 'max_results', 1000, top=tracking.MAX_RESULTS),
        page_token=_text(body, 'page_token'), filter_text=_text(body, 'filter'))
    return {'experiments': found, **({'next_page_token': following} if following else {})}


LAST_MILLISECOND = 253_402_300_799_999  # the end of the year 9999, the last a datetime holds

# --- runs ---------------------------------------------------------------------------------------------------------

@router.post('/runs/create')
async def create_run(request: Request, who: Who) -> dict[str, Any]:
    body = await _body(request)
    return {'run': await tracking.create_run(who, experiment_id=str(_text(body, 'experiment_id') or '0'),
                                             run_name=_text(body, 'run_name'), tags=body.get('tags') or [],
                                             start_time=_millis(body, 'start_time'))}


@router.get('/runs/get')
async def get_run(request: Request, who: Who) -> dict[str, Any]:
    return {'run': await tracking.get_run(who, _query(request, 'run_id', 'run_uuid'))}


@router.post('/runs/update')
async def update_run(request: Request, who: Who) -> dict[str, Any]:
    body = await _body(request)
    return {'run_info': await tracking.update_run(who, _run_id(body), status=_text(body, 'status'),
                                                  run_name=_text(body, 'run_name'), end_time=_millis(body, 'end_time'))}


@router.post('/runs/delete')
async def delete_run(request: Request, who: Who) -> dict[str, Any]:
    await tracking.delete_run(who, _run_id(await _body(request)))
    return {}


@router.post('/runs/restore')
async def restore_run(request: Request, who: Who) -> dict[str, Any]:
    await tracking.delete_run(who, _run_id(await _body(request)), deleted=False)
    return {}


@router.post('/runs/search')
async def search_runs(request: Request, who: Who) -> dict[str, Any]:
    body = await _body(request)
    ids = body.get('experiment_ids') or []
    if not isinstance(ids, list):
        raise Invalid('experiment_ids must be a list.')
    found, following = await tracking.search_runs(
        who, experiment_ids=[str(i) for i in ids], filter_text=_text(body, 'filter'),
        view_type=_text(body, 'run_view_type') or 'ACTIVE_ONLY', max_results=_int(body, 'max_results', 1000),
        order_by=[str(item) for item in _list(body, 'order_by')], page_token=_text(body, 'page_token'))
    return {'runs': found, **({'next_page_token': following} if following else {})}


# --- logging ------------------------------------------------------------------------------------------------------

@router.post('/runs/log-batch')
async def log_batch(request: Request, who: Who) -> dict[str, Any]:
    body = await _body(request)
    await tracking.log_batch(who, _run_id(body), metrics=body.get('metrics') or [], params=body.get('params') or [],
                             tags=body.get('tags') or [])
    return {}


@router.post('/runs/log-metric')
async def log_metric(request: Request, who: Who) -> dict[str, Any]:
    return await _log_one(request, who, 'metrics', ('key', 'value', 'timestamp', 'step'))


@router.post('/runs/log-parameter')
async def log_parameter(request: Request, who: Who) -> dict[str, Any]:
    return await _log_one(request, who, 'params', ('key', 'value'))


@router.post('/runs/set-tag')
async def set_tag(request: Request, who: Who) -> dict[str, Any]:
    return await _log_one(request, who, 'tags', ('key', 'value'))


@router.post('/runs/delete-tag')
async def delete_tag(request: Request, who: Who) -> dict[str, Any]:
    body = await _body(request)
    await tracking.delete_tag(who, _run_id(body), _required(body, 'key'))
    return {}


@router.post('/runs/log-inputs')
async def log_inputs(request: Request, who: Who) -> dict[str, Any]:
    """Accepted, and not kept: Trainboard has no datasets yet; the run must still be the caller's to write."""
    await tracking.run_of(who, _run_id(await _body(request)), write=True)
    return {}


@router.get('/metrics/get-history')
async def metric_history(request: Request, who: Who) -> dict[str, Any]:
    query = request.query_params
    found, following = await tracking.metric_history(
        who, _query(request, 'run_id', 'run_uuid'), _query(request, 'metric_key'),
        max_results=_int(dict(query), 'max_results', 0) or None, page_token=query.get('page_token'))
    return {'metrics': found, **({'next_page_token': following} if following else {})}


# --- artifacts (the run's artifact_uri, mlflow-artifacts:/runs/<id>) -----------------------------------------------

@artifact_router.put('/artifacts/{path:path}')
async def upload_artifact(path: str, request: Request, who: Who) -> dict[str, Any]:
    await mlflow_artifacts.upload(who, path, request.stream())
    return {}


@artifact_router.get('/artifacts')
async def list_artifacts(request: Request, who: Who) -> dict[str, Any]:
    return {'files': await mlflow_artifacts.listed(who, request.query_params.get('path', ''))}


@artifact_router.get('/artifacts/{path:path}', response_model=None)
async def download_artifact(path: str, who: Who) -> Response:
    where = await mlflow_artifacts.download(who, path)
    if where.url:
        return RedirectResponse(where.url, status_code=307)
    return FileResponse(where.path, media_type='application/octet-stream')


async def _log_one(request: Request, who: Caller, kind: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """A one-item call (log-metric, log-parameter, set-tag) as the batch of one it is: one write path."""
    body = await _body(request)
    item = {name: body[name] for name in fields if name in body}
    await tracking.log_batch(who, _run_id(body), **{'metrics': [], 'params': [], 'tags': [], kind: [item]})
    return {}


# --- reading requests -----------------------------------------------------------------------------------------------

async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BATCH_BYTES and request.url.path.endswith('/log-batch'):
        raise Invalid(f'Batched logging API requests must be at most 1 MB in size. Got {len(raw)} bytes.')
    try:
        body = orjson.loads(raw or b'{}')
    except orjson.JSONDecodeError as error:
        raise Invalid(f'The body is not valid JSON: {error}.') from None
    if not isinstance(body, dict):
        raise Invalid('The body must be a JSON object.')
    return body


def _query(request: Request, *names: str) -> str:
    for name in names:
        if value := request.query_params.get(name):
            return value
    raise Invalid(f"Missing value for required parameter '{names[0]}'.")


def _required(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise Invalid(f"Missing value for required parameter '{name}'.")
    return value


def _run_id(body: dict[str, Any]) -> str:
    value = body.get('run_id') or body.get('run_uuid')
    if not value:
        raise Invalid("Missing value for required parameter 'run_id'.")
    return str(value)


def _int(body: dict[str, Any], name: str, default: int, top: int | None = None) -> int:
    value = body.get(name, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(f"Invalid value {value!r} for parameter '{name}': must be a whole number.") from None
    if top is not None and not 1 <= number <= top:
        raise Invalid(f"Invalid value {number} for parameter '{name}': must be from 1 to {top:,}.")
    return number


def _millis(body: dict[str, Any], name: str) -> int | None:
    """An optional time in Unix milliseconds, as MLflow sends them."""
    if body.get(name) is None:
        return None
    value = _int(body, name, 0)
    if not 0 <= value <= LAST_MILLISECOND:
        raise Invalid(f"Invalid value {value} for parameter '{name}': must be Unix milliseconds.")
    return value


def _text(body: dict[str, Any], name: str) -> str | None:
    """An optional text field; ids and tokens may come as numbers."""
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise Invalid(f"Invalid value {str(value)[:50]!r} for parameter '{name}': must be a string.")


def _list(body: dict[str, Any], name: str) -> list[Any]:
    value = body.get(name) or []
    if not isinstance(value, list):
        raise Invalid(f"Invalid value for parameter '{name}': must be a list.")
    return value
