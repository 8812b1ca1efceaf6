"""MLflow's tracking protocol on Trainboard's own objects, so that training code written for MLflow reports here
unchanged: an experiment is a project (experiment "0" the caller's "Default"), an MLflow run is a run, params are
its config, tags its tags, and metrics go through the one ingest path (deduplicated on run, name and step).

Shapes are MLflow's protobuf JSON: ids and times as the client sends them (ids are strings, times milliseconds).
Who may do what is Trainboard's: viewers read, editors write, and a run token (what a launched job gets as
MLFLOW_TRACKING_TOKEN) reaches its own run alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from models import LatestMetric, MemberRole, Metric, Project, Run, RunStatus, User
from services import audit, bounds, hub, ingest, projects, run_labels, runs
from services.errors import Conflict, Invalid, NotFound, ServiceError
from services.mlflow_search import matches, parse_filter, parse_order, sort_key

DEFAULT_EXPERIMENT = 'Default'
MAX_METRICS, MAX_PARAMS, MAX_TAGS, MAX_ENTITIES = 1000, 100, 100, 1000
MAX_KEY_CHARS, MAX_PARAM_CHARS, MAX_TAG_CHARS = 250, 6000, 8000
MAX_RESULTS = 50_000
MAX_EXPERIMENTS = 100  # experiment ids in one search of runs
VIEW_TYPES = ('ACTIVE_ONLY', 'DELETED_ONLY', 'ALL')
HISTORY_PAGE = 25_000
SYSTEM_TAG = 'mlflow.'
S = RunStatus
STATUS = {S.QUEUED: 'SCHEDULED', S.PROVISIONING: 'SCHEDULED', S.SUCCEEDED: 'FINISHED', S.FAILED: 'FAILED',
          S.STOPPED: 'KILLED', S.CANCELLED: 'KILLED'}  # every other status is RUNNING
ENDS = {'FINISHED': S.SUCCEEDED, 'FAILED': S.FAILED, 'KILLED': S.STOPPED}


class AlreadyExists(ServiceError):
    status_code = 400
    error_code = 'RESOURCE_ALREADY_EXISTS'


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls: a person (an API key, a login token, an email and password), or a launched run's token, which
    reaches that run alone."""
    user: User | None
    run_id: int | None = None


# --- experiments --------------------------------------------------------------------------------------------------

async def experiment_by_name(caller: Caller, name: str) -> dict[str, Any]:
    for project in await _projects(caller):
        if project.name == name:
            return _experiment(project)
    if name == DEFAULT_EXPERIMENT and caller.user is not None:
        return _experiment(await _default_project(caller))
    raise NotFound(f"Could not find experiment with name '{name}'")


async def experiment(caller: Caller, experiment_id: str) -> dict[str, Any]:
    return _experiment(await _project(caller, experiment_id))


async def create_experiment(caller: Caller, name: str) -> str:
    user = _person(caller)
    if not isinstance(name, str) or not name.strip():
        raise Invalid("Missing value for required parameter 'name'.")
    if any(project.name == name.strip() for project in await projects.visible_projects(user)):
        raise AlreadyExists(f"Experiment '{name}' already exists.")
    return str((await projects.create_project(user, name=name))['id'])


async def search_experiments(caller: Caller, *, max_results: int, page_token: str | None,
                             filter_text: str | None) -> tuple[list[dict[str, Any]], str | None]:
    found = [_experiment(project) for project in await _projects(caller)]
    clauses = parse_filter(_as_attributes(filter_text))
    found = [e for e in found if matches({'attributes': e, 'tags': {}, 'params': {}, 'metrics': {}}, clauses)]
    return _page(found, max_results, page_token)


# --- runs ---------------------------------------------------------------------------------------------------------

async def create_run(caller: Caller, *, experiment_id: str, run_name: str | None,
                     tags: list[dict[str, Any]], start_time: int | None = None) -> dict[str, Any]:
    """A new run in the experiment's project, running at once as MLflow's are; started when `start_time` says
    (Unix ms), as a run copied from another tracking server was."""
    user = _person(caller)
    project = await _project(caller, experiment_id or '0')
    pairs = _pairs(tags, 'tags', MAX_TAG_CHARS)
    name = (run_name or pairs.get('mlflow.runName') or '').strip()  # none: runs.create_run makes one up
    data, _token = await runs.create_run(user, project.id, name=name[:200])
    run = await Run.get(id=data['id'])
    await _write_tags(run, pairs)
    await ingest.report(run, {'status': {'state': 'running'}})
    if (started := _past_moment(start_time)) is not None:
        await Run.filter(id=run.id).update(started_at=started)
    return await _run(await Run.get(id=run.id))


async def get_run(caller: Caller, run_id: str) -> dict[str, Any]:
    return await _run(await run_of(caller, run_id))


async def update_run(caller: Caller, run_id: str, *, status: str | None, run_name: str | None,
                     end_time: int | None = None) -> dict[str, Any]:
    """End the run (FINISHED, FAILED, KILLED → succeeded, failed, stopped; at `end_time`, Unix ms, when given), mark
    it running, or rename it."""
    run = await run_of(caller, run_id, write=True)
    if run_name and run_name.strip() and run_name.strip() != run.name:
        # (a finished run's end told again, as a script's last end_run may, stays harmless: only the rename is refused)
        _still_running_for_its_token(caller, run)
        name = run_name.strip()[:200]
        if problem := bounds.text_problem(name):
            raise Invalid(f'Invalid value for run_name: it {problem}.')
        await Run.filter(id=run.id).update(name=name)
        await audit.record(caller.user, 'run.renamed', 'run', run.id, project_id=run.project_id, was=run.name,
                           name=name)
        await _publish(run)
    if status in ENDS and not RunStatus(run.status).is_finished:
        await ingest.report(run, {'status': {'state': ENDS[status].value, 'message': _ended_message(status)}})
        ended = _past_moment(end_time)
        if ended is not None and (run.started_at is None or ended >= run.started_at):
            await Run.filter(id=run.id).update(ended_at=ended)
    elif status == 'RUNNING' and RunStatus(run.status).is_finished:
        raise Conflict(f'Run {run.id} has finished ({run.status}); Trainboard does not reopen a finished run: '
                       'start a new one.')
    elif status == 'RUNNING' and run.status in (S.QUEUED, S.PROVISIONING):
        await ingest.report(run, {'status': {'state': 'running'}})
    elif status not in (None, '', 'RUNNING', 'SCHEDULED', *ENDS):
        raise Invalid(f"Invalid run status '{status}'; one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED.")
    return (await _run(await Run.get(id=run.id)))['info']


async def delete_run(caller: Caller, run_id: str, *, deleted: bool = True) -> None:
    """MLflow's delete keeps the run for a restore: Trainboard archives it (hidden from the table, restorable)."""
    run = _still_running_for_its_token(caller, await run_of(caller, run_id, write=True))
    await Run.filter(id=run.id).update(archived_at=datetime.now(UTC) if deleted else None)
    await _publish(run)


async def search_runs(caller: Caller, *, experiment_ids: list[str], filter_text: str | None, view_type: str,
                      max_results: int, order_by: list[str], page_token: str | None
                      ) -> tuple[list[dict[str, Any]], str | None]:
    clauses, orders = parse_filter(filter_text), parse_order(order_by)
    if not 1 <= max_results <= MAX_RESULTS:
        raise Invalid(f'Invalid value {max_results} for parameter max_results: must be from 1 to {MAX_RESULTS:,}.')
    experiment_ids = list(dict.fromkeys(experiment_ids))
    if not 1 <= len(experiment_ids) <= MAX_EXPERIMENTS:
        raise Invalid(f'Search runs of 1 to {MAX_EXPERIMENTS} experiments at a time (got {len(experiment_ids):,}).')
    if view_type not in VIEW_TYPES:
        raise Invalid(f"Invalid run_view_type '{view_type}'; one of {', '.join(VIEW_TYPES)}.")
    visible = await _projects(caller)
    project_ids = [(await _project(caller, experiment_id, visible)).id for experiment_id in experiment_ids]
    query = Run.filter(project_id__in=project_ids)
    if caller.run_id is not None:
        query = query.filter(id=caller.run_id)
    if view_type == 'ACTIVE_ONLY':
        query = query.filter(archived_at__isnull=True)
    elif view_type == 'DELETED_ONLY':
        query = query.filter(archived_at__isnull=False)
    found = await query
    latest = await _latest(run.id for run in found)
    views = [await _run(run, latest.get(run.id, [])) for run in found]
    chosen = [(view, facts) for view, facts in ((view, _facts(view)) for view in views) if matches(facts, clauses)]
    key = sort_key(orders)
    chosen.sort(key=lambda pair: key(pair[1]))
    return _page([view for view, _ in chosen], max_results, page_token)


# --- logging ------------------------------------------------------------------------------------------------------

async def log_batch(caller: Caller, run_id: str, *, metrics: list[Any], params: list[Any],
                    tags: list[Any]) -> None:
    """The one write path of every logging call (log-metric, log-parameter, set-tag are batches of one), checked
    whole before anything is written, as MLflow's own store does."""
    for kind, items, limit in (('metrics', metrics, MAX_METRICS), ('params', params, MAX_PARAMS),
                               ('tags', tags, MAX_TAGS)):
        if not isinstance(items, list):
            raise Invalid(f'{kind} must be a list.')
        if len(items) > limit:
            raise Invalid(f'A batch logging request can contain at most {limit} {kind}. Got {len(items)} {kind}. '
                          f'Please split up {kind} across multiple requests and try again.')
    if (total := len(metrics) + len(params) + len(tags)) > MAX_ENTITIES:
        raise Invalid(f'A batch logging request can contain at most {MAX_ENTITIES} metrics, params, and tags in '
                      f'total. Received {total} metrics, params, and tags. Please split up across multiple '
                      'requests and try again.')
    run = _still_running_for_its_token(caller, await run_of(caller, run_id, write=True))
    points = [_point(index, item) for index, item in enumerate(metrics)]
    new_params = _pairs(params, 'params', MAX_PARAM_CHARS)
    new_tags = _pairs(tags, 'tags', MAX_TAG_CHARS)
    if points and (new_params or new_tags):  # refused before params and tags are written, if a point is bad
        ingest.parse({'metrics': points})  # (metrics alone, the hot path, are checked once, by report)
    if RunStatus(run.status).is_finished and points:
        raise Conflict(f'Run {run.id} has finished ({run.status}); it takes no more metrics.')
    if new_params:
        await _write_params(run, new_params)
    if new_tags:
        await _write_tags(run, new_tags)
    if points:
        await ingest.report(run, {'metrics': points})


async def delete_tag(caller: Caller, run_id: str, key: str) -> None:
    run = _still_running_for_its_token(caller, await run_of(caller, run_id, write=True))
    async with in_transaction() as conn:
        locked = await Run.select_for_update().using_db(conn).get(id=run.id)
        kept = dict(locked.mlflow_tags or {})
        labels = [label for label in locked.tags or [] if _label_key(label) != key]
        if key not in kept and len(labels) == len(locked.tags or []):
            raise NotFound(f"No tag with name: {key} in run with id {run.id}")
        kept.pop(key, None)
        await Run.filter(id=run.id).using_db(conn).update(mlflow_tags=kept, tags=labels)
    await _publish(run)


async def metric_history(caller: Caller, run_id: str, key: str, *, max_results: int | None,
                         page_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Every point of one metric, by step, a page at a time (the page token is the next step to read)."""
    run = await run_of(caller, run_id)
    if max_results is not None and not 1 <= max_results <= bounds.INT_MAX:
        raise Invalid(f'Invalid value {max_results} for parameter max_results: must be a whole number from 1.')
    limit = min(max_results or HISTORY_PAGE, HISTORY_PAGE)
    query = Metric.filter(run_id=run.id, name=key).order_by('step')
    if page_token:
        try:
            step = int(page_token)
            if not 0 <= step <= bounds.BIGINT_MAX:
                raise ValueError
        except (TypeError, ValueError):
            raise Invalid(f"Invalid page token '{page_token}'.") from None
        query = query.filter(step__gte=step)
    rows = await query.limit(limit + 1)
    following = str(rows[limit].step) if len(rows) > limit else None
    return [_metric(key, row.value, row.special, row.timestamp, row.step) for row in rows[:limit]], following


# --- reading and writing runs ---------------------------------------------------------------------------------------

async def run_of(caller: Caller, run_id: str, *, write: bool = False) -> Run:
    """The run `run_id` names, if the caller may read it (or write it): NotFound in MLflow's words otherwise."""
    number = _number(run_id, 'run')
    if caller.run_id is not None:
        if number != caller.run_id:
            raise NotFound(f"Run with id={run_id} not found")  # a run token reaches its own run alone
        run = await Run.get_or_none(id=number)
        if run is None:
            raise NotFound(f"Run with id={run_id} not found")
        return run
    try:
        return await runs.get_run(_person(caller), number, MemberRole.EDITOR if write else MemberRole.VIEWER)
    except NotFound:
        raise NotFound(f"Run with id={run_id} not found") from None


def _past_moment(millis: int | None) -> datetime | None:
    """A time MLflow sent (Unix ms), if it is not in the future (a minute's clock skew allowed)."""
    if millis is None:
        return None
    moment = datetime.fromtimestamp(millis / 1000, UTC)
    return moment if moment <= datetime.now(UTC) + timedelta(minutes=1) else None


def _still_running_for_its_token(caller: Caller, run: Run) -> Run:
    """A finished run's token changes nothing more of it (as it sends no more reports): whoever holds a leaked one
    cannot rewrite what the run recorded. People who may edit the run still can."""
    if caller.run_id is not None and RunStatus(run.status).is_finished:
        raise Conflict(f'Run {run.id} has finished ({run.status}); its token changes nothing more of it.')
    return run


async def _run(run: Run, latest: list[LatestMetric] | None = None) -> dict[str, Any]:
    if latest is None:
        latest = (await _latest([run.id])).get(run.id, [])
    info = {
        'run_id': str(run.id), 'run_uuid': str(run.id), 'run_name': run.name, 'experiment_id': str(run.project_id),
        'user_id': (run.mlflow_tags or {}).get('mlflow.user', ''),
        'status': STATUS.get(RunStatus(run.status), 'RUNNING'),
        'start_time': _ms(run.started_at or run.created_at), 'artifact_uri': f'mlflow-artifacts:/runs/{run.id}',
        'lifecycle_stage': 'deleted' if run.archived_at else 'active',
    }
    if run.ended_at:
        info['end_time'] = _ms(run.ended_at)
    params = [{'key': key, 'value': _param_text(value)} for key, value in sorted((run.config or {}).items())]
    metrics = [_metric(m.name, m.value, m.special, m.timestamp, m.step) for m in latest]
    return {'info': info, 'data': {'metrics': metrics, 'params': params, 'tags': _tags(run)},
            'inputs': {}, 'outputs': {}}


async def _write_params(run: Run, new: dict[str, str]) -> None:
    """Params become the run's config; MLflow refuses to change a logged one, and so does this. The row is locked
    while it is merged: an async client sends several batches at once."""
    async with in_transaction() as conn:
        locked = await Run.select_for_update().using_db(conn).get(id=run.id)
        config = dict(locked.config or {})
        for key, value in new.items():
            if key in config and _param_text(config[key]) != value:
                raise Invalid(f"Changing param values is not allowed. Param with key='{key}' was already logged "
                              f"with value='{_param_text(config[key])}' for run ID='{run.id}'. Attempted logging new "
                              f"value '{value}'.")
            config[key] = value
        if config == (locked.config or {}):
            return
        if problem := bounds.json_problem(config):
            raise Invalid(f'The params {problem}.')
        await Run.filter(id=run.id).using_db(conn).update(config=config)
    await _publish(run)


async def _write_tags(run: Run, new: dict[str, str]) -> None:
    """User tags that read as Trainboard tags (`key:value`, or `key` when empty) are kept as such, so the table
    shows and searches them; system tags (`mlflow.*`), keys with a colon (the label could not be split back) and
    those that do not fit are kept beside them."""
    async with in_transaction() as conn:
        locked = await Run.select_for_update().using_db(conn).get(id=run.id)
        kept, labels = dict(locked.mlflow_tags or {}), list(locked.tags or [])
        for key, value in new.items():
            label = f'{key}:{value}' if value else key
            labels = [existing for existing in labels if _label_key(existing) != key]
            kept.pop(key, None)
            if key.startswith(SYSTEM_TAG) or ':' in key or not _fits_label(label) \
                    or len(labels) >= run_labels.MAX_TAGS:
                kept[key] = value
            else:
                labels.append(label)
        if problem := bounds.json_problem(kept):
            raise Invalid(f'The tags {problem}.')
        await Run.filter(id=run.id).using_db(conn).update(mlflow_tags=kept, tags=labels)
    await _publish(run)


def _tags(run: Run) -> list[dict[str, str]]:
    pairs = dict(run.mlflow_tags or {})
    for label in run.tags or []:
        key, _, value = label.partition(':')
        pairs.setdefault(key, value)
    pairs.setdefault('mlflow.runName', run.name)
    return [{'key': key, 'value': value} for key, value in sorted(pairs.items())]


def _label_key(label: str) -> str:
    return label.partition(':')[0]


def _fits_label(label: str) -> bool:
    try:
        return run_labels.checked_tags([label]) == [label]
    except Invalid:
        return False


async def _latest(run_ids: Any) -> dict[int, list[LatestMetric]]:
    found: dict[int, list[LatestMetric]] = {}
    for metric in await LatestMetric.filter(run_id__in=list(run_ids)).order_by('name'):
        found.setdefault(metric.run_id, []).append(metric)
    return found


def _facts(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A run view as the search language sees it."""
    info, data = view['info'], view['data']
    return {'attributes': {**info, 'created': info['start_time']},
            'metrics': {m['key']: m['value'] for m in data['metrics'] if isinstance(m['value'], int | float)},
            'params': {p['key']: p['value'] for p in data['params']},
            'tags': {t['key']: t['value'] for t in data['tags']}}


async def _publish(run: Run) -> None:
    await hub.publish(hub.Change(kind='run', action='updated', id=run.id, project_id=run.project_id))


# --- experiments, helpers -------------------------------------------------------------------------------------------

async def _projects(caller: Caller) -> list[Project]:
    if caller.run_id is not None:
        run = await Run.get_or_none(id=caller.run_id)
        return [await Project.get(id=run.project_id)] if run else []
    return list(reversed(await projects.visible_projects(_person(caller))))


async def _project(caller: Caller, experiment_id: str, visible: list[Project] | None = None) -> Project:
    if str(experiment_id) == '0' and caller.user is not None:
        return await _default_project(caller)
    number = _number(experiment_id, 'experiment')
    for project in visible if visible is not None else await _projects(caller):
        if project.id == number:
            return project
    raise NotFound(f"No Experiment with id={experiment_id} exists")


async def _default_project(caller: Caller) -> Project:
    """Experiment "0": the caller's project named Default, made on first use where they may make projects."""
    user = _person(caller)
    for project in await _projects(caller):  # their own: another team's "Default" is not where their runs go
        if project.name == DEFAULT_EXPERIMENT and project.owner_id == user.id:
            return project
    created = await projects.create_project(_person(caller), name=DEFAULT_EXPERIMENT,
                                            description='Runs reported through MLflow with no experiment set.')
    return await Project.get(id=created['id'])


def _experiment(project: Project) -> dict[str, Any]:
    return {'experiment_id': str(project.id), 'name': project.name,
            'artifact_location': f'mlflow-artifacts:/projects/{project.id}', 'lifecycle_stage': 'active',
            'creation_time': _ms(project.created_at), 'last_update_time': _ms(project.updated_at),
            'tags': [{'key': 'mlflow.note.content', 'value': project.description}] if project.description else []}


def _person(caller: Caller) -> User:
    if caller.user is None:
        raise NotFound("A run's token reaches its own run alone.")
    return caller.user


def _point(index: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get('key'), str):
        raise Invalid(f"Invalid value for metrics[{index}]: each metric needs a key, a value and a timestamp.")
    key, value = item['key'], item.get('value')
    if len(key) > MAX_KEY_CHARS:
        raise Invalid(f"Metric key '{key[:50]}…' had length {len(key)}, which exceeded length limit of "
                      f"{MAX_KEY_CHARS}")
    if isinstance(value, str) and value.lower() in {'nan', 'infinity', '-infinity', 'inf', '-inf'}:
        value = {'nan': 'NaN', 'infinity': 'Infinity', 'inf': 'Infinity'}.get(value.lower(), '-Infinity')
    timestamp = item.get('timestamp', time.time() * 1000)
    step = item.get('step', 0)
    try:  # int64 fields come as numbers or, in protobuf's JSON, as strings of digits
        if isinstance(step, bool | float) or isinstance(timestamp, bool):
            raise ValueError
        step = int(step)
        timestamp = float(timestamp) / 1000
    except (TypeError, ValueError):
        raise Invalid(f"Invalid value for metric '{key}': step and timestamp must be whole numbers.") from None
    return {'name': key, 'step': step, 'value': value, 'time': timestamp}


def _pairs(items: Any, kind: str, max_value: int) -> dict[str, str]:
    pairs: dict[str, str] = {}
    if not isinstance(items, list):
        raise Invalid(f'{kind} must be a list of {{"key": ..., "value": ...}}.')
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get('key'), str) or not item['key']:
            raise Invalid(f"Invalid value for {kind}[{index}]: each needs a key and a value.")
        key, value = item['key'], item.get('value', '')
        value = '' if value is None else value if isinstance(value, str) else json.dumps(value)
        if len(key) > MAX_KEY_CHARS:
            raise Invalid(f"{kind[:-1].capitalize()} key '{key[:50]}…' had length {len(key)}, which exceeded length "
                          f"limit of {MAX_KEY_CHARS}")
        if len(value) > max_value:
            raise Invalid(f"{kind[:-1].capitalize()} value '{value[:50]}…' had length {len(value)}, which exceeded "
                          f"length limit of {max_value}")
        for text in (key, value):
            if problem := bounds.text_problem(text):
                raise Invalid(f'{kind}[{index}] {problem}.')
        if kind == 'params' and pairs.get(key, value) != value:
            raise Invalid(f"Duplicate parameter keys have been submitted: '{key}' with values '{pairs[key]}' and "
                          f"'{value}'. Please ensure the request contains only one param value per param key.")
        pairs[key] = value
    return pairs


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _metric(key: str, value: float | None, special: str | None, timestamp: float, step: int) -> dict[str, Any]:
    return {'key': key, 'value': value if special is None else special, 'timestamp': int(timestamp * 1000),
            'step': step}


def _number(text: Any, what: str) -> int:
    try:
        number = int(str(text))
    except ValueError:
        number = 0
    if not 1 <= number <= bounds.INT_MAX:
        raise NotFound(f"No {what} with id={text} exists" if what == 'experiment' else f"Run with id={text} not found")
    return number


def _ms(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment else None


def _ended_message(status: str) -> str:
    return {'FINISHED': 'Finished (MLflow end_run).', 'FAILED': 'Failed (reported through MLflow).',
            'KILLED': 'Killed (reported through MLflow).'}[status]


def _as_attributes(filter_text: str | None) -> str | None:
    """Experiment filters name attributes bare (`name LIKE 'x%'`)."""
    if not filter_text:
        return filter_text
    return ' '.join(f'attributes.{word}' if word in {'name', 'experiment_id'} else word
                    for word in filter_text.split(' '))


def _page(items: list[Any], max_results: int, page_token: str | None) -> tuple[list[Any], str | None]:
    try:
        start = int(page_token) if page_token else 0
        if not 0 <= start <= bounds.INT_MAX:
            raise ValueError
    except (TypeError, ValueError):
        raise Invalid(f"Invalid page token '{page_token}'.") from None
    end = start + max(1, max_results)
    return items[start:end], (str(end) if end < len(items) else None)
