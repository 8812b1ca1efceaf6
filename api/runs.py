from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api import report_schema
from api.deps import CurrentUser
from api.schema import Id, Input, StorableJson
from services import bounds, ingest, metric_store, projects, run_control, run_labels, run_logs, runs
from services.errors import Invalid, NotFound
from services.stores import attachment

router = APIRouter(tags=['runs'])
report_router = APIRouter(tags=['report'])  # authorised by the run's own token, see services/runs.py


class RunCreate(Input):
    name: str = Field('', max_length=200, description='empty or left out: a generated name like brave-otter-3')
    provider: str = 'external'
    config: StorableJson = Field(default_factory=dict)
    command: str = Field('', max_length=10_000, description='what the job runs (local and cloud providers)')
    envs: dict[str, str] = Field(default_factory=dict)
    product_id: str = Field('', max_length=100, description='Novita: the GPU product, from /providers/novita/products')
    gpu_count: int = Field(1, ge=1, le=8)
    image: str = Field('', max_length=500, description='Novita: the Docker image to run')
    billing: Literal['on-demand', 'spot'] = Field('on-demand', description='Novita: spot is cheaper, can be reclaimed')
    disk_gb: int | None = Field(None, ge=10, le=2000, description='Novita: the container disk in GB (default 50)')
    cluster: str = Field('', max_length=100, description='Novita: a cluster (region) id; any when empty')
    max_cost_usd: float | None = Field(None, gt=0, le=bounds.USD_MAX, allow_inf_nan=False,
                                       description='stop the run before it costs more than this')
    max_duration_s: int | None = Field(None, gt=0, le=bounds.INT_MAX,
                                       description='stop the run after it has run this long')
    stall_timeout_s: int | None = Field(None, gt=0, le=bounds.INT_MAX,
                                        description='tell the run\'s people when its code has not reported for '
                                                    'this long, and fail it `stall_grace_s` later unless it reports')
    stall_grace_s: int | None = Field(None, gt=0, le=bounds.INT_MAX,
                                      description='with stall_timeout_s: how long a stalled run goes on once its '
                                                  'people hear (default: the project\'s, else the stall timeout '
                                                  'again)')
    credential_id: int | None = Field(None, ge=1, le=2**31 - 1,
                                      description='cloud runs: the credential to launch with, the project\'s or a '
                                                  'workspace one (GET /providers lists them); needed when several '
                                                  'could be used')


class Step(BaseModel):
    name: str
    status: str
    description: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    cost_usd: float


class RunOut(BaseModel):
    id: int
    project_id: int
    name: str
    status: str
    status_message: str = ''  # why it is in that status, in words ("Stopped by the project budget at $10.00 ...")
    status_cause: str | None = Field(None, description='who or what moved it there: user, budget, cost_limit, '
                                                       'duration, stall, provider, job or system')
    control_error: str | None = Field(None, description='why a stop, pause or resume asked for is not carried out '
                                                        'yet (e.g. the cloud is unreachable); retried')
    progress: float
    step: int | None
    total_steps: int | None
    eta_seconds: float | None
    cost_usd: float
    forecast_cost_usd: float = 0.0
    forecast_capped: bool = False  # the project's budget or the run's cost limit stops it before it finishes
    forecast_note: str = ''  # then: which, and at about what cost
    provider: str
    gpu_product: str = ''
    gpu_count: int = 0
    price_per_hour: float = 0.0  # what the job bills while it runs, all its GPUs together
    billing: str | None = None  # 'on-demand' or 'spot' for a cloud run
    config: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime | None
    ended_at: datetime | None
    steps: list[Step] = Field(default_factory=list)
    limits: dict[str, int | float | None] = Field(default_factory=dict)
    credential_id: int | None = None  # the credential a cloud run launched with (and is polled and billed through)
    envs: dict[str, str] = Field(default_factory=dict, description='its environment, values masked')
    command: str = Field('', description='what a launched run runs (empty for an external run)')
    image: str = Field('', description='the image a cloud run runs in')
    tags: list[str] = Field(default_factory=list, description='the team\'s tags (PATCH /runs/{id} sets them)')
    note: str = Field('', description='the team\'s note on the run (PATCH /runs/{id} sets it)')
    archived: bool = Field(False, description='hidden from the project\'s runs table unless shown on purpose')
    pausable: bool = Field(True, description='false for code that cannot hear a pause (a run that reports through '
                                             'MLflow\'s client, outside Trainboard): it can only be stopped')


class RunLabels(Input):
    tags: list[str] | None = Field(None, max_length=run_labels.MAX_TAGS,
                                   description=f'replaces the run\'s tags: at most {run_labels.MAX_TAGS}, each 1 to '
                                               f'{run_labels.MAX_TAG_LENGTH} letters, digits or . _ - : / + = @')
    note: str | None = Field(None, max_length=run_labels.MAX_NOTE_LENGTH, description='replaces the run\'s note')


class RunCreated(RunOut):
    token: str


class RunRetried(RunOut):
    token: str | None = Field(description='an external run\'s new token, shown once: its code reports with it '
                                          '(the old token does not); null for a launched run, whose job gets its own')


class ReportAnswer(BaseModel):
    metrics_accepted: int
    metrics_duplicate: int
    control: dict[str, str] | None = None  # {"action": "stop" | "pause"}: checkpoint and return


@router.post('/projects/{project_id}/runs', status_code=201)
async def create_run(project_id: Id, body: RunCreate, user: CurrentUser) -> RunCreated:
    """Create a run that code anywhere reports to. The answer carries its token: shown once, stored hashed."""
    spec = body.model_dump(include={'command', 'envs', 'image', 'product_id', 'gpu_count', 'billing', 'disk_gb',
                                    'cluster'})
    data, token = await run_control.start(user, project_id, name=body.name, provider=body.provider,
                                          config=body.config, spec=spec if body.provider != 'external' else None,
                                          limits=body.model_dump(include=set(runs.LIMITS)),
                                          credential_id=body.credential_id)
    return RunCreated(**data, token=token)


@router.post('/runs/{run_id}/actions/retry', status_code=202)  # before the route below, which it would match
async def retry(run_id: Id, user: CurrentUser) -> RunRetried:
    """A new run like this finished one, 202 with it: a launched run relaunches with the same spec; an external one
    answers with a fresh token for its code. 409 while the run has not finished."""
    data, token = await run_control.retry(user, run_id)
    return RunRetried(**data, token=token)


@router.post('/runs/{run_id}/actions/{action}', status_code=202)
async def act(run_id: Id, action: Literal['stop', 'pause', 'resume', 'cancel'], user: CurrentUser) -> RunOut:
    """Ask a run to stop, pause, resume or cancel: 202 with its new status, 409 when that makes no sense."""
    return RunOut(**await run_control.act(user, run_id, action))


@router.get('/projects/{project_id}/runs')
async def list_runs(project_id: Id, user: CurrentUser) -> list[RunOut]:
    await projects.get_project(user, project_id)
    return [RunOut(**run) for run in await runs.snapshots(project_id)]


@router.get('/runs/{run_id}')
async def get_run(run_id: Id, user: CurrentUser) -> RunOut:
    return RunOut(**await runs.snapshot(await runs.get_run(user, run_id)))


@router.patch('/runs/{run_id}')
async def update_run(run_id: Id, body: RunLabels, user: CurrentUser) -> RunOut:
    """Set the run's tags and/or note (editors and owners); what is left out stays as it is."""
    return RunOut(**await run_labels.set_labels(user, run_id, tags=body.tags, note=body.note))


@router.get('/runs/{run_id}/metrics')
async def list_metrics(run_id: Id, user: CurrentUser) -> list[dict[str, Any]]:
    """Every metric of the run with its latest value and number of points."""
    await runs.get_run(user, run_id)
    return await metric_store.metric_names(run_id)


@router.get('/runs/{run_id}/metrics/{name:path}')
async def metric_points(run_id: Id, name: str, user: CurrentUser,
                        max_points: int = Query(1000, ge=2, le=100_000),
                        min_step: int | None = Query(None, ge=0, le=bounds.BIGINT_MAX),
                        max_step: int | None = Query(None, ge=0, le=bounds.BIGINT_MAX)) -> Any:
    """`{"points": [[step, value], ...], "total": N, "downsampled": bool}`, or the full history as CSV for
    `<name>.csv`. Downsampling keeps each bucket's minimum and maximum, so spikes stay visible."""
    await runs.get_run(user, run_id)
    names = {m['name'] for m in await metric_store.metric_names(run_id)}
    if name not in names and name.endswith('.csv') and name[:-4] in names:
        return StreamingResponse(metric_store.export_csv(run_id, name[:-4]), media_type='text/csv',
                                 headers={'Content-Disposition': attachment(name[:-4].replace('/', '_') + '.csv')})
    if name not in names:
        raise NotFound(f'Run {run_id} has no metric "{name}".')
    return await metric_store.series(run_id, name, max_points=max_points, min_step=min_step, max_step=max_step)


@router.get('/runs/{run_id}/logs')
async def logs(run_id: Id, user: CurrentUser, limit: int = Query(200, ge=1, le=run_logs.MAX_PAGE),
               after_id: int | None = Query(None, ge=0, le=bounds.BIGINT_MAX),
               before_id: int | None = Query(None, ge=1, le=bounds.BIGINT_MAX,
                                             description='the `limit` lines before this line id (older pages)'),
               q: str = Query('', max_length=run_logs.MAX_QUERY_CHARS,
                              description='only lines holding this text, in any case'),
               level: Literal['debug', 'info', 'warning', 'error', 'critical'] | None = Query(
                   None, description='only lines that say at least this level')) -> list[dict[str, Any]]:
    """Lines of the run's log, oldest first, each `{"id", "time" (epoch seconds), "line", "level"}` (`level` read
    from the line's text, null when it says none): the newest `limit`, the `limit` before `before_id`, or the first
    `limit` after `after_id`."""
    page = await run_logs.read(user, run_id, limit=limit, after_id=after_id, before_id=before_id,
                               where=run_logs.Filter(q, level))
    return [line.as_dict() for line in page.lines]


@router.get('/runs/{run_id}/logs.txt')
async def download_logs(run_id: Id, user: CurrentUser,
                        tz: str = Query('UTC', max_length=64, description='the IANA zone its times are in')) -> Any:
    """The run's whole log as a text file, one `<time> <zone> <line>` per line, streamed."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f'Unknown time zone "{tz}"; use an IANA name such as Europe/Berlin.') from None
    filename, body = await run_logs.download(user, run_id, zone)
    return StreamingResponse(body, media_type='text/plain; charset=utf-8',
                             headers={'Content-Disposition': attachment(filename)})


@report_router.post('/runs/{run_id}/report', response_model_exclude_none=True, openapi_extra=report_schema.OPENAPI)
async def report(run_id: Id, request: Request, authorization: str = Header(''),
                 x_trainboard_timestamp: str = Header(''), x_trainboard_signature: str = Header('')) -> ReportAnswer:
    """Metrics, progress, steps, logs and status from training code, all optional, stored all or nothing. At most
    4 MB (services/ingest.MAX_BODY_BYTES): api/body_limit.py answers 413 before reading past that."""
    async with ingest.arriving():
        # a Bearer token is checked before the body is read, so strangers cannot make the server hold 4 MB bodies
        signed = bool(x_trainboard_signature)
        body = await request.body() if signed else b''
        run, signature = await runs.authorize_report(run_id, authorization=authorization,
                                                     timestamp=x_trainboard_timestamp,
                                                     signature=x_trainboard_signature, body=body,
                                                     fields=runs.REPORT_FIELDS)
        if not signed:
            body = await request.body()
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise Invalid(f'The body is not valid JSON: {error}.') from None
        return ReportAnswer(**await ingest.report(run, payload, signature=signature))
