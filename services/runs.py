"""Runs: creating them, their run-scoped tokens, who may report to them, and how they are shown."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cryptography.fernet import InvalidToken
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

import settings
from models import Credential, MemberRole, Project, Run, RunStatus, RunStep, UsedSignature, User
from providers import registry
from providers.base import Capabilities, ProviderError
from services import (
    audit,
    auth,
    bounds,
    budget,
    credentials,
    database,
    hub,
    keys,
    lifecycle,
    progress,
    projects,
    providers,
    run_names,
)
from services.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized

RUN_TOKEN_PREFIX = 'tbr_'
SIGNATURE_MAX_AGE_S = 300
SIGNATURE_PRUNE_EVERY_S = 60
EXTERNAL = 'external'  # not a provider: code anywhere reports to the run
_LOCAL_REFUSALS = {
    'admins': 'Only admins may launch runs on this machine (local); TRAINBOARD_LOCAL_RUNS=members lets project '
              'editors launch them too.',
    'off': 'Runs on this machine (local) are turned off; TRAINBOARD_LOCAL_RUNS=admins (or members) allows them.',
}
# stall_grace_s: how long a stalled run goes on once its people hear of the stall (None: the project's, else the
# stall timeout again)
LIMITS = {'max_cost_usd': 'dollars', 'max_duration_s': 'seconds', 'stall_timeout_s': 'seconds',
          'stall_grace_s': 'seconds'}
ENVS_PURPOSE = 'run-envs'  # the services.keys purpose a run's environment is encrypted for
SHOWN_TAIL_MIN_LENGTH = 12  # an env value shows its last 4 characters only when they are a small part of it
_prune_after = 0.0  # when spend_signature next forgets expired signatures


@dataclass(frozen=True, slots=True)
class Signature:
    """A report signature that passed its checks, to be spent once."""
    digest: str  # SHA-256 of the signature: what is kept of it
    expires_at: float  # epoch seconds from which the freshness check alone refuses it


async def create_run(user: User, project_id: int, *, name: str, provider: str = 'external',
                     config: dict[str, Any] | None = None, spec: dict[str, Any] | None = None,
                     limits: dict[str, float | None] | None = None,
                     credential_id: int | None = None) -> tuple[dict[str, Any], str]:
    """A new queued run; returns its snapshot and its token (shown once). An external run is one that code
    anywhere reports to; the others carry a `spec` (command, envs) for run_control.launch. An empty `name` is made up
    (services/run_names). `limits` (LIMITS) stop the run once it passes one of them. A cloud run records the
    credential it launches with (credentials.for_launch: `credential_id`, else the project's, else the workspace's)."""
    project = await projects.get_project(user, project_id, MemberRole.EDITOR)
    limits = _validated_limits(limits or {})
    name = name.strip() or await run_names.generate(project.id)  # none given: a name people can tell apart
    if not 1 <= len(name) <= 200:
        raise Invalid('The run name needs 1 to 200 characters.')
    if problem := bounds.text_problem(name):
        raise Invalid(f'The run name {problem}.')
    if not isinstance(config or {}, dict):
        raise Invalid('config must be a JSON object.')
    if problem := bounds.json_problem(config or {}):
        raise Invalid(f'config {problem}.')
    spec = spec or {}
    launched = await _launch_checked(user, provider, spec)
    gpu_count = int(spec.get('gpu_count') or (1 if launched and launched.rents_gpus else 0))
    if not 0 <= gpu_count <= 8:
        raise Invalid('gpu_count must be from 1 to 8.')
    envs = spec.get('envs', {})
    if not isinstance(envs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in envs.items()):
        raise Invalid('envs must map names to string values.')
    credential = await _credential(project, provider, credential_id)
    price_per_hour = 0.0
    if launched:
        try:
            _, price_per_hour = await providers.offer(provider, str(spec.get('product_id', '')), gpu_count,
                                                      spot=spec.get('billing') == 'spot',
                                                      credential_id=credential.id if credential else None)
        except ProviderError as error:
            raise Invalid(error.message) from None
    budget.check_cost_limit(float(limits['max_cost_usd']) if 'max_cost_usd' in limits else None, price_per_hour)
    user = await auth.refreshed(user)
    nonce = secrets.token_hex(16)
    # the check and the new run's row in one serialised step: the next launch into the project counts this one
    async with budget.launch_guard(project.id) as project:
        budget.check_launch(user, project, price_per_hour, await budget.burn_per_hour(project.id))
        run = await Run.create(project=project, created_by=user, name=name, provider=provider, config=config or {},
                               token_nonce=nonce, spec=sealed(spec), gpu_count=gpu_count, credential=credential,
                               price_per_hour=Decimal(str(price_per_hour)), **limits)
        token = run_token(run.id, nonce)
        run.token_hash = auth.hash_token(token)
        await run.save(update_fields=['token_hash'])
        await audit.record(user, 'run.created', 'run', run.id, project_id=project.id, name=name, provider=provider,
                           price_per_hour=price_per_hour)
    data = await snapshot(run)
    await hub.publish(hub.Change(kind='run', action='created', id=run.id, project_id=project.id, data=data))
    await projects.publish_updated(project.id)
    return data, token


may_launch_local = providers.may_launch_on_server  # TRAINBOARD_LOCAL_RUNS: who may launch on this machine


async def _launch_checked(user: User, provider: str, spec: dict[str, Any]) -> Capabilities | None:
    """What the provider a run launches on can do (None for an external run), once `user` may launch there and
    `spec` has every field it needs."""
    caps = registry.capabilities(provider) if provider != EXTERNAL else None
    if caps is None and provider != EXTERNAL:
        raise Invalid(f'Unknown provider "{provider}"; one of: {", ".join([EXTERNAL, *providers.LAUNCHABLE])}.')
    if caps and caps.runs_on_server and not await may_launch_local(user):
        raise Forbidden(_LOCAL_REFUSALS[settings.current.local_runs])
    if problem := bounds.nested_text_problem(spec):
        raise Invalid(f'The command, image and envs {problem}.')
    if caps is None:
        return None
    if not str(spec.get('command', '')).strip():
        raise Invalid(f'A run on "{provider}" needs a command to run.')
    if any(not spec.get(field) for field in caps.launch_fields):
        needed = [f'{"an" if field[0] in "aeiou" else "a"} {field}' for field in caps.launch_fields]
        listed = ' and '.join([', '.join(needed[:-1]), needed[-1]] if len(needed) > 1 else needed)
        raise Invalid(f'A run on {caps.said} needs {listed}.')
    return caps


async def get_run(user: User, run_id: int, need: MemberRole = MemberRole.VIEWER) -> Run:
    run = await Run.get_or_none(id=run_id) if 1 <= run_id <= bounds.INT_MAX else None
    if run is None:
        raise NotFound(f'Run {run_id} not found.')
    try:
        await projects.get_project(user, run.project_id, need)
    except NotFound:
        raise NotFound(f'Run {run_id} not found.') from None
    return run


async def project_runs(project_id: int) -> list[dict[str, Any]]:
    return [row(run) for run in await Run.filter(project_id=project_id).order_by('-created_at', '-id')]


REPORT_FIELDS = ('id', 'project_id', 'status', 'token_hash', 'token_nonce')  # what a report's check and write read


async def authorize_report(run_id: int, *, authorization: str, timestamp: str, signature: str, body: bytes,
                           fields: tuple[str, ...] | None = None) -> tuple[Run, Signature | None]:
    """The run a report may write to: signed with the run token, or a Bearer run token, or a user who may edit.
    A signature comes back with it, to be spent (spend_signature) in the transaction that stores the report.
    Whoever sends neither a valid token nor a valid signature hears 401 whether the run exists or not: which ids
    exist is not a stranger's to learn. `fields`: only these of the run are read (a report's hot path reads the few
    it needs, not every date and JSON of the run); None: all."""
    run = await (_run_fields(run_id, fields) if fields else Run.get_or_none(id=run_id))
    if signature:
        if run is None:
            raise Unauthorized('The signature does not match this run\'s token.')
        return run, _check_signature(run, timestamp, signature, body)
    scheme, _, token = authorization.partition(' ')
    token = token.strip()
    if scheme.lower() != 'bearer' or not token:
        raise Unauthorized('Send the run token as "Authorization: Bearer <token>", or sign the body.')
    if run is not None and run.token_hash and hmac.compare_digest(auth.hash_token(token), run.token_hash):
        return run, None
    user = await auth.user_for_token(token)
    if user is None:
        raise Unauthorized('That token is neither this run\'s token nor a valid user token.')
    await get_run(user, run_id, MemberRole.EDITOR)  # 404 for a run this user cannot see, as everywhere
    if run is None:  # deleted meanwhile
        raise NotFound(f'Run {run_id} not found.')
    return run, None


async def _run_fields(run_id: int, fields: tuple[str, ...]) -> Run | None:
    """The run with these fields alone, read in plain SQL: a queryset's building cost more than its query here."""
    conn = connections.get('default')
    query = database.in_dialect(conn, f'SELECT {", ".join(fields)} FROM runs WHERE id = ?')
    rows = await conn.execute_query_dict(query, [run_id])
    return Run._init_from_db(**rows[0]) if rows else None


async def spend_signature(conn: BaseDBAsyncClient, signature: Signature) -> None:
    """Record an accepted signature inside the transaction that stores its report. A replay, even one sent at the
    same moment, then fails the insert (its hash is the key) and is refused; a report that fails stores nothing,
    its signature included, so its sender may send it again."""
    global _prune_after
    try:
        await UsedSignature.create(signature_hash=signature.digest, expires_at=signature.expires_at, using_db=conn)
    except IntegrityError:
        raise Conflict('This signed report was accepted already; a replay is refused. Sign each report anew, '
                       'with the time of sending.') from None
    if time.time() >= _prune_after:
        _prune_after = time.time() + SIGNATURE_PRUNE_EVERY_S
        await prune_signatures(conn)


async def prune_signatures(conn: BaseDBAsyncClient | None = None) -> int:
    """Forget used signatures whose timestamps the freshness check refuses anyway; how many went."""
    return await UsedSignature.filter(expires_at__lt=time.time()).using_db(conn).delete()


def run_token(run_id: int, nonce: str) -> str:
    """The run's token, derived from the server secret, so the database alone never holds it."""
    digest = hmac.new(keys.server_secret().encode(), f'run:{run_id}:{nonce}'.encode(), hashlib.sha256).digest()
    return RUN_TOKEN_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip('=')


def sign(token: str, timestamp: str, body: bytes) -> str:
    """The X-Trainboard-Signature value for a body: HMAC-SHA256 of '<timestamp>.<body>' keyed with the run token."""
    mac = hmac.new(token.encode(), timestamp.encode() + b'.' + body, hashlib.sha256)
    return 'sha256=' + mac.hexdigest()


async def snapshot(run: Run) -> dict[str, Any]:
    """The run with its steps, as the API answers and the run page shows."""
    return await _snapshot(run, await RunStep.filter(run_id=run.id).order_by('index'))


async def snapshots(project_id: int) -> list[dict[str, Any]]:
    """Every run of a project as `snapshot` shows it, newest first, their steps read in one query."""
    found = await Run.filter(project_id=project_id).order_by('-created_at', '-id')
    steps: dict[int, list[RunStep]] = {run.id: [] for run in found}
    for step in await RunStep.filter(run_id__in=list(steps)).order_by('run_id', 'index'):
        steps[step.run_id].append(step)
    return [await _snapshot(run, steps[run.id]) for run in found]


async def _snapshot(run: Run, steps: list[RunStep]) -> dict[str, Any]:
    outlook = await forecast(run)
    return {**row(run), 'config': run.config, 'status_message': run.status_message,
            'status_cause': run.status_cause, 'control_error': run.control_error,
            'deadline': _iso(datetime.fromtimestamp(run.deadline, UTC)) if run.deadline else None,
            'gpu_product': run.gpu_product, 'gpu_count': run.gpu_count, 'billing': (run.spec or {}).get('billing'),
            'price_per_hour': float(run.price_per_hour), 'forecast_cost_usd': outlook.cost_usd,
            'forecast_capped': outlook.capped, 'forecast_note': outlook.note,
            'last_report_at': _iso(run.last_report_at), 'created_at': _iso(run.created_at),
            'limits': limits_of(run), 'credential_id': run.credential_id, 'envs': shown_envs(run),
            'command': str((run.spec or {}).get('command', '')), 'image': str((run.spec or {}).get('image', '')),
            'steps': [step_row(step) for step in steps]}


def row(run: Run) -> dict[str, Any]:
    """A run as a table row: plain JSON-able values."""
    return {
        'id': run.id,
        'project_id': run.project_id,
        'name': run.name,
        'status': RunStatus(run.status).value,
        'progress': run.progress,
        'step': run.step,
        'total_steps': run.total_steps,
        'eta_seconds': eta_seconds(run),
        'cost_usd': float(run.cost_usd),
        'provider': run.provider,
        'started_at': _iso(run.started_at),
        'ended_at': _iso(run.ended_at),
        'tags': list(run.tags or []),
        'note': run.note or '',
        'archived': run.archived_at is not None,
        'pausable': lifecycle.hears_pause(run),
    }


def step_row(step: RunStep) -> dict[str, Any]:
    return {'name': step.name, 'status': step.status.value if hasattr(step.status, 'value') else step.status,
            'description': step.description, 'started_at': _iso(step.started_at), 'ended_at': _iso(step.ended_at),
            'duration_s': step.duration_s, 'cost_usd': float(step.cost_usd)}


def eta_seconds(run: Run) -> float | None:
    """Seconds left while the run runs: the ETA its last advancing report set (services/progress), counted down
    since. None when it is not running (a paused job makes no progress, a stopping one will not finish)."""
    if run.status != RunStatus.RUNNING:
        return None
    return progress.eta_now(run.eta_seconds, run.progress_at, time.time())


async def forecast(run: Run) -> progress.Forecast:
    """Cost so far plus the price of the time the ETA says is left, and whether the project's budget or the run's
    cost limit stops it first (then the note says so, and where)."""
    eta, price = eta_seconds(run), float(run.price_per_hour)
    budget_usd = used_usd = burn = 0.0
    if eta and price > 0:  # only then can the budget stop it before the end: spare the queries otherwise
        project = await Project.get(id=run.project_id).only('id', 'budget_usd', 'used_usd')
        budget_usd, used_usd = float(project.budget_usd), float(project.used_usd)
        burn = await budget.burn_per_hour(run.project_id) if budget_usd > 0 else 0.0
    return progress.forecast(cost_usd=float(run.cost_usd), price_per_hour=price, eta_s=eta, budget_usd=budget_usd,
                             used_usd=used_usd, burn_per_hour=burn,
                             max_cost_usd=None if run.max_cost_usd is None else float(run.max_cost_usd))


def launch_spec(run: Run) -> dict[str, Any]:
    """What the run was launched with, its environment in the clear: for its job (and a retry) only, never shown."""
    spec = {name: value for name, value in (run.spec or {}).items() if name != 'envs_encrypted'}
    if token := (run.spec or {}).get('envs_encrypted'):
        try:
            spec['envs'] = json.loads(keys.decrypt(token, ENVS_PURPOSE))
        except InvalidToken:
            raise Invalid(f'Run {run.id}\'s environment was encrypted under another server secret '
                          '(TRAINBOARD_SECRET_KEY); launch a new run instead.') from None
    return spec  # a run stored before envs were encrypted has them in the clear (until seal_stored_envs)


def sealed(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as stored: the environment encrypted under the server secret, and its values masked for display."""
    envs = spec.get('envs') or {}
    stored = {name: value for name, value in spec.items() if name != 'envs_encrypted'}
    stored['envs'] = {name: _masked(value) for name, value in envs.items()}
    if envs:
        stored['envs_encrypted'] = keys.encrypt(json.dumps(envs), ENVS_PURPOSE)
    return stored


def shown_envs(run: Run) -> dict[str, str]:
    """The run's env names, values masked (already so in a sealed spec)."""
    spec = run.spec or {}
    envs = spec.get('envs') or {}
    return dict(envs) if 'envs_encrypted' in spec else {name: _masked(value) for name, value in envs.items()}


async def seal_stored_envs() -> None:
    """Encrypt the environments that runs stored before they were encrypted (once, at start-up)."""
    for run_id, spec in await Run.exclude(provider='external').values_list('id', 'spec'):
        if spec and spec.get('envs') and 'envs_encrypted' not in spec:
            await Run.filter(id=run_id).update(spec=sealed(spec))


def limits_of(run: Run) -> dict[str, float | None]:
    values = {name: getattr(run, name) for name in LIMITS}
    return {name: None if value is None else float(value) if name == 'max_cost_usd' else int(value)
            for name, value in values.items()}


async def _credential(project: Project, provider: str, credential_id: int | None) -> Credential | None:
    """The credential a run on `provider` launches with (None for a provider that needs none)."""
    if provider not in credentials.PROVIDERS:  # external, or a provider that needs none
        if credential_id is not None:
            raise Invalid(f'A run on "{provider}" takes no credential_id.')
        return None
    return await credentials.for_launch(project, provider, credential_id)


def _validated_limits(limits: dict[str, float | None]) -> dict[str, Any]:
    unknown = set(limits) - set(LIMITS)
    if unknown:
        raise Invalid(f'Unknown limit {", ".join(sorted(unknown))}; one of: {", ".join(LIMITS)}.')
    checked: dict[str, Any] = {}
    for name, value in limits.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise Invalid(f'{name} must be a number of {LIMITS[name]} above 0, or left out for no limit.')
        most = bounds.USD_MAX if name == 'max_cost_usd' else bounds.INT_MAX  # what its column holds
        if value > most:
            raise Invalid(f'{name} must be at most {most:,} {LIMITS[name]}.')
        checked[name] = Decimal(str(round(value, 4))) if name == 'max_cost_usd' else max(1, round(value))
    if 'stall_grace_s' in checked and 'stall_timeout_s' not in checked:
        raise Invalid('stall_grace_s is how long a stalled run goes on once its stall is told: it needs a '
                      'stall_timeout_s.')
    return checked


def _check_signature(run: Run, timestamp: str, signature: str, body: bytes) -> Signature:
    try:
        sent_at = float(timestamp)
    except ValueError:
        raise Unauthorized('X-Trainboard-Timestamp must be Unix seconds.') from None
    if not math.isfinite(sent_at):  # nan is never "older than" anything: it would pass the age check
        raise Unauthorized('X-Trainboard-Timestamp must be a finite number of Unix seconds.')
    if abs(time.time() - sent_at) > SIGNATURE_MAX_AGE_S:
        raise Unauthorized('The signature is older than 5 minutes (or the clocks disagree): sign again.')
    if not run.token_nonce or not hmac.compare_digest(sign(run_token(run.id, run.token_nonce), timestamp, body),
                                                      signature.strip()):
        raise Unauthorized('The signature does not match this run\'s token.')
    return Signature(digest=hashlib.sha256(signature.strip().encode()).hexdigest(),
                     expires_at=sent_at + SIGNATURE_MAX_AGE_S)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _masked(value: str) -> str:
    return '' if not value else '••••' + (value[-4:] if len(value) >= SHOWN_TAIL_MIN_LENGTH else '')
