"""Launching runs on a provider, and what users and limits ask of them: stop, pause, resume, cancel, retry.

A request writes intent through services/lifecycle (a `queued` run to launch, `stopping`, `pausing` with a deadline,
`resuming`); the leader's poll cycle carries it out (services/background/intents.py), `launch` included: nothing here
talks to a cloud on a request's behalf.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from tortoise import connections

import settings
from models import MemberRole, Run, RunStatus, User
from providers.base import DEFAULT_DISK_GB, JOB_NAME_PREFIX, JobSpec, ProviderError
from services import auth, budget, lifecycle, providers, runs
from services.errors import Conflict, ServiceError
from services.lifecycle import Cause

log = logging.getLogger(__name__)

S = RunStatus


async def start(user: User, project_id: int, *, name: str, provider: str = 'external',
                config: dict[str, Any] | None = None, spec: dict[str, Any] | None = None,
                limits: dict[str, Any] | None = None, credential_id: int | None = None) -> tuple[dict[str, Any], str]:
    """A new run (runs.create_run), queued: the leader launches it on its provider unless it is external; its
    snapshot and its token."""
    return await runs.create_run(user, project_id, name=name, provider=provider, config=config, spec=spec,
                                 limits=limits, credential_id=credential_id)


async def launch(run: Run) -> None:
    """Hand a queued run to its provider (the leader does); the reference comes back at once, and the poller follows
    the job from there. A launch the provider refuses fails the run; one it could not be asked (ProviderError,
    retryable) leaves it queued, and raises."""
    launched = runs.launch_spec(run)
    spec = JobSpec(run_id=run.id, name=f'{JOB_NAME_PREFIX}{run.id}', command=launched.get('command', ''),
                   envs={**launched.get('envs', {}), **job_env(run)}, image=launched.get('image', ''),
                   product_id=launched.get('product_id', ''), gpu_count=run.gpu_count,
                   disk_gb=int(launched.get('disk_gb') or DEFAULT_DISK_GB), cluster=launched.get('cluster', ''),
                   spot=launched.get('billing') == 'spot')
    try:
        product, price_per_hour = await providers.offer(run.provider, spec.product_id, run.gpu_count, spot=spec.spot,
                                                        credential_id=run.credential_id)
        ref = await (await providers.get(run.provider, run.credential_id)).launch(spec)
    except ProviderError as error:
        if error.retryable:  # the cloud is down or busy: the run stays queued for the next round (the caller says so)
            raise
        await lifecycle.move(run, S.FAILED, cause=Cause.PROVIDER, reason=f'Could not launch: {error.message}')
        return
    except ServiceError as error:
        await lifecycle.move(run, S.FAILED, cause=Cause.PROVIDER, reason=f'Could not launch: {error.message}')
        return
    moved = await lifecycle.move(run, S.PROVISIONING, cause=Cause.SYSTEM, reason='', job_ref=ref,
                                 provider_state='launched', gpu_product=product.name,
                                 price_per_hour=Decimal(str(price_per_hour)))
    if not moved:  # stopped or cancelled while the cloud was asked: the job is the leader's to free
        await Run.filter(id=run.id).update(job_ref=ref, provider_state='launched')


def job_env(run: Run) -> dict[str, str]:
    token = runs.run_token(run.id, run.token_nonce or '')
    env = {'TRAINBOARD_URL': settings.current.public_url, 'TRAINBOARD_RUN_ID': str(run.id),
           'TRAINBOARD_RUN_TOKEN': token,
           # `mlflow.start_run()` in the job reports into this run (services/mlflow_tracking), with its token alone
           'MLFLOW_TRACKING_URI': settings.current.public_url, 'MLFLOW_TRACKING_TOKEN': token,
           'MLFLOW_RUN_ID': str(run.id)}
    return env  # a job on this machine also finds the SDK on its PYTHONPATH (providers/local_sandbox)


async def act(user: User, run_id: int, action: str) -> dict[str, Any]:
    """Do what a user asks of a run; its snapshot after. Conflict when it makes no sense from the run's status."""
    if action == 'retry':
        return (await retry(user, run_id))[0]
    run = await runs.get_run(user, run_id, MemberRole.EDITOR)
    user = await auth.refreshed(user)
    _check_allowed(run, action)
    if action == 'resume' and run.status == S.PAUSING:  # called off before billing ended: nothing to budget
        if not await lifecycle.move(run, _resumed(run), cause=Cause.USER, by=user, reason=f'Resumed by {user.email}.'):
            raise Conflict(f'Cannot resume run {run.id}: it changed meanwhile; look again.')
    elif action == 'resume':
        await _resume_within_budget(user, run)
    elif not await lifecycle.move(run, _target(run, action), cause=Cause.USER, by=user, reason=_reason(action, user)):
        raise Conflict(f'Cannot {action} run {run.id}: it changed meanwhile; look again.')
    return await runs.snapshot(run)


async def retry(user: User, run_id: int) -> tuple[dict[str, Any], str | None]:
    """A new run like a finished one: a launched run relaunches with the same spec (its job gets its token); an
    external one gets a fresh token, returned to be shown once, since its code must be started with it."""
    run = await runs.get_run(user, run_id, MemberRole.EDITOR)
    _check_allowed(run, 'retry')
    data, token = await start(user, run.project_id, name=f'{run.name} (retry)', provider=run.provider,
                              config=run.config, spec=runs.launch_spec(run), limits=runs.limits_of(run),
                              credential_id=run.credential_id)
    return data, token if run.provider == 'external' else None


async def stop_for(run: Run, reason: str, cause: Cause) -> bool:
    """Stop a run on the system's behalf (a limit, the budget). A stalled run fails at once: a job that does not
    report would not hear a request to checkpoint. False when the run changed meanwhile and was left alone."""
    to = S.FAILED if cause == Cause.STALL else S.STOPPING
    if not await lifecycle.move(run, to, cause=cause, reason=reason):
        return False
    log.info('run %s: %s', run.id, reason)
    return True


def _check_allowed(run: Run, action: str) -> None:
    if RunStatus(run.status) not in lifecycle.ACTIONS[action]:
        raise Conflict(f'Cannot {action} run {run.id}: it is {run.status}.')
    if action == 'pause' and not lifecycle.hears_pause(run):
        raise Conflict(f'Cannot pause run {run.id}: it reports through MLflow\'s client, which cannot hear a pause '
                       '(its code would run on while the run said paused). Stop it instead, or pause it where it '
                       'runs.')


def _target(run: Run, action: str) -> RunStatus:
    """Where a user's request moves the run: intent where a job (or code) must hear it, the end where none will."""
    if action == 'cancel':
        return S.CANCELLED
    if action == 'stop':
        # nothing runs yet: no job of ours, and external code that never reported cannot be told
        return S.STOPPED if run.status == S.QUEUED else S.STOPPING
    return S.PAUSING


def _resumed(run: Run) -> RunStatus:
    """External code has no job to wake: it runs on once its next report's answer no longer says pause."""
    return S.RUNNING if run.provider == 'external' or not run.job_ref else S.RESUMING


def _reason(action: str, user: User) -> str:
    return {'stop': f'Stopped by {user.email}.', 'pause': f'Paused by {user.email}.',
            'cancel': f'Cancelled by {user.email}.'}[action]


async def _resume_within_budget(user: User, run: Run) -> None:
    """A paused job bills nothing, so resuming it spends like a launch: the same serialised budget check, and the run
    counted as billing (resuming) before the leader asks the cloud, so that a launch meanwhile counts it too. External
    code has no job to wake: it runs on as soon as its next report's answer no longer says pause."""
    to = _resumed(run)
    async with budget.launch_guard(run.project_id) as project:
        burning = await budget.burn_per_hour(project.id)
        budget.check_launch(user, project, float(run.price_per_hour), burning)
        # in the guard's transaction (the current connection here): counted by the next launch once committed
        if not await lifecycle.move(run, to, cause=Cause.USER, by=user, reason=f'Resumed by {user.email}.',
                                    using_db=connections.get('default')):
            raise Conflict(f'Cannot resume run {run.id}: it changed meanwhile; look again.')
    await lifecycle.publish(run)
