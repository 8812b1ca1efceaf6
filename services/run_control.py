"""Launching runs on a provider, and what users ask of them: stop, pause, resume, cancel, retry."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from nicegui import background_tasks

import settings
from models import MemberRole, Run, RunStatus, User
from providers.base import DEFAULT_DISK_GB, JobSpec, ProviderError
from services import audit, auth, budget, hub, projects, providers, runs
from services.errors import Conflict, ServiceError, Unavailable

log = logging.getLogger(__name__)

# what launching and control write: only these, so that a save never puts back the cost or the provider state the
# poller wrote while a provider call was under way (the next poll would bill that time again)
LAUNCH_FIELDS = ['job_ref', 'status', 'provider_state', 'gpu_product', 'price_per_hour', 'updated_at']
CONTROL_FIELDS = ['status', 'status_message', 'control', 'ended_at', 'updated_at']
STOP_CHECK_POLLS = 3  # how many poll intervals a stopping job gets to be seen stopped before it is terminated
SDK_DIR = Path(__file__).resolve().parent.parent / 'sdk'
ALLOWED = {  # action -> the statuses it makes sense from
    'stop': {RunStatus.QUEUED, RunStatus.PROVISIONING, RunStatus.RUNNING, RunStatus.PAUSED},
    'pause': {RunStatus.RUNNING},
    'resume': {RunStatus.PAUSED},
    'cancel': {RunStatus.QUEUED, RunStatus.PROVISIONING, RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.STOPPING},
    'retry': {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.STOPPED, RunStatus.CANCELLED},
}


async def start(user: User, project_id: int, *, name: str, provider: str = 'external',
                config: dict[str, Any] | None = None, spec: dict[str, Any] | None = None,
                limits: dict[str, Any] | None = None, credential_id: int | None = None) -> tuple[dict[str, Any], str]:
    """A new run (runs.create_run), launched on its provider unless it is external; its snapshot and its token."""
    data, token = await runs.create_run(user, project_id, name=name, provider=provider, config=config, spec=spec,
                                        limits=limits, credential_id=credential_id)
    if provider == 'external':
        return data, token
    run = await Run.get(id=data['id'])
    await launch(run)
    return await runs.snapshot(run), token


async def launch(run: Run) -> None:
    """Hand the run to its provider; the reference comes back at once, and the poller follows the job from there."""
    launched = runs.launch_spec(run)
    spec = JobSpec(run_id=run.id, name=f'trainboard-run-{run.id}', command=launched.get('command', ''),
                   envs={**launched.get('envs', {}), **job_env(run)}, image=launched.get('image', ''),
                   product_id=launched.get('product_id', ''), gpu_count=run.gpu_count,
                   disk_gb=int(launched.get('disk_gb') or DEFAULT_DISK_GB), cluster=launched.get('cluster', ''),
                   spot=launched.get('billing') == 'spot')
    try:
        product, price_per_hour = await providers.offer(run.provider, spec.product_id, run.gpu_count, spot=spec.spot,
                                                        credential_id=run.credential_id)
        ref = await (await providers.get(run.provider, run.credential_id)).launch(spec)
    except (ProviderError, ServiceError) as error:
        await _finish(run, RunStatus.FAILED, f'Could not launch: {error.message}')
        return
    run.job_ref, run.status, run.provider_state = ref, RunStatus.PROVISIONING, 'launched'
    run.gpu_product = product.name
    run.price_per_hour = Decimal(str(price_per_hour))
    await run.save(update_fields=LAUNCH_FIELDS)
    await _publish(run)


def job_env(run: Run) -> dict[str, str]:
    env = {'TRAINBOARD_URL': settings.current.public_url, 'TRAINBOARD_RUN_ID': str(run.id),
           'TRAINBOARD_RUN_TOKEN': runs.run_token(run.id, run.token_nonce or '')}
    if run.provider == 'local':  # `import trainboard` works in a local job without installing anything
        env['PYTHONPATH'] = str(SDK_DIR)
    return env


async def act(user: User, run_id: int, action: str) -> dict[str, Any]:
    run = await runs.get_run(user, run_id, MemberRole.EDITOR)
    status = RunStatus(run.status)
    if status not in ALLOWED[action]:
        raise Conflict(f'Cannot {action} run {run.id}: it is {status.value}.')
    await audit.record(user, f'run.{action}', 'run', run.id, status=status.value)
    if action == 'retry':
        return (await _retry(user, run))[0]
    try:
        return await _act_on_job(user, run, action)
    except ProviderError as error:  # nothing changed: the provider could not be asked
        raise (Unavailable if error.retryable else Conflict)(error.message) from None


async def retry(user: User, run_id: int) -> tuple[dict[str, Any], str | None]:
    """A new run like a finished one: a launched run relaunches with the same spec (its job gets its token); an
    external one gets a fresh token, returned to be shown once, since its code must be started with it."""
    run = await runs.get_run(user, run_id, MemberRole.EDITOR)
    if RunStatus(run.status) not in ALLOWED['retry']:
        raise Conflict(f'Cannot retry run {run.id}: it is {run.status}.')
    await audit.record(user, 'run.retry', 'run', run.id, status=run.status)
    return await _retry(user, run)


async def _retry(user: User, run: Run) -> tuple[dict[str, Any], str | None]:
    data, token = await start(user, run.project_id, name=f'{run.name} (retry)', provider=run.provider,
                              config=run.config, spec=runs.launch_spec(run), limits=runs.limits_of(run),
                              credential_id=run.credential_id)
    return data, token if run.provider == 'external' else None


async def _act_on_job(user: User, run: Run, action: str) -> dict[str, Any]:
    if action == 'resume':
        await _resume_within_budget(user, run)
    elif run.provider == 'external' or not run.job_ref:
        await _without_job(run, action)
    elif action == 'pause':  # frozen after the grace period (see _after_grace), so that the job can checkpoint
        run.status, run.control = RunStatus.PAUSED, 'pause'
        await run.save(update_fields=CONTROL_FIELDS)
        background_tasks.create(_after_grace(run.id, RunStatus.PAUSED), name=f'pause-run-{run.id}')
    elif action == 'stop':
        run.status, run.control = RunStatus.STOPPING, 'stop'
        await run.save(update_fields=CONTROL_FIELDS)
        background_tasks.create(_after_grace(run.id, RunStatus.STOPPING), name=f'stop-run-{run.id}')
    elif action == 'cancel':
        await _finish(run, RunStatus.CANCELLED, f'Cancelled by {user.email}.')
        try:
            await (await providers.get(run.provider, run.credential_id)).terminate(run.job_ref)
        except (ProviderError, ServiceError) as error:  # cancelled all the same: the poller frees the job once it can
            log.warning('run %s cancelled; its job is freed later (%s)', run.id, error.message)
        return await runs.snapshot(run)
    await _publish(run)
    return await runs.snapshot(run)


async def _resume_within_budget(user: User, run: Run) -> None:
    """A paused job bills nothing, so resuming it spends like a launch: the same serialised budget check, and the run
    counted as billing (running) before the cloud is asked, so that a launch meanwhile counts it too."""
    async with budget.launch_guard(run.project_id) as project:
        burning = await budget.burn_per_hour(project.id)
        budget.check_launch(await auth.refreshed(user), project, float(run.price_per_hour), burning)
        if not await Run.filter(id=run.id, status=RunStatus.PAUSED).update(status=RunStatus.RUNNING, control=''):
            raise Conflict(f'Cannot resume run {run.id}: it changed meanwhile.')
    run.status, run.control = RunStatus.RUNNING, ''
    if run.provider == 'external' or not run.job_ref:
        return  # its code hears it in the answer to its next report
    try:
        await (await providers.get(run.provider, run.credential_id)).resume(run.job_ref)
    except (ProviderError, ServiceError):
        await Run.filter(id=run.id, status=RunStatus.RUNNING).update(status=RunStatus.PAUSED, control='pause')
        raise


async def stop_for(run: Run, reason: str, *, failed: bool = False) -> bool:
    """Stop a run on the system's behalf (a limit, the budget); `failed` ends it at once, with no checkpoint (a job
    that reports nothing would not hear the request). False when the run changed meanwhile and was left alone."""
    before = RunStatus(run.status)
    if failed:
        run.status, run.control, run.ended_at = RunStatus.FAILED, '', datetime.now(UTC)
    else:  # external runs too: their code hears it and may checkpoint
        run.status, run.control = RunStatus.STOPPING, 'stop'
    run.status_message = reason
    if not await Run.filter(id=run.id, status=before).update(status=run.status, control=run.control,
                                                              status_message=reason, ended_at=run.ended_at):
        return False
    await audit.record(None, 'run.limit_stop', 'run', run.id, reason=reason, status=before.value)
    log.info('run %s: %s', run.id, reason)
    if run.status == RunStatus.STOPPING:
        background_tasks.create(_after_grace(run.id, RunStatus.STOPPING), name=f'stop-run-{run.id}')
    elif run.job_ref:  # failed: the job goes now (the poller frees what is left of it)
        try:
            await (await providers.get(run.provider, run.credential_id)).terminate(run.job_ref)
        except (ProviderError, ServiceError) as error:
            log.warning('run %s: could not end its job yet (%s); the poller tries again', run.id, error.message)
    await _publish(run)
    return True


async def resume_pending_actions() -> None:
    """After a restart: runs left stopping or pausing lost their grace-period task, so give them a new one (pausing
    a job that is already frozen changes nothing)."""
    for run in await Run.filter(status__in=[RunStatus.STOPPING, RunStatus.PAUSED]):
        background_tasks.create(_after_grace(run.id, RunStatus(run.status)), name=f'{run.status}-run-{run.id}')


async def _after_grace(run_id: int, status: RunStatus) -> None:
    """The job hears the request (stop or pause) in the answer to its next report and may checkpoint; then its
    process or instance is stopped, or frozen. Retried while the run stays `status`: a run left stopping or pausing
    on a cloud would bill on. A stop that does not take within some polls becomes a terminate."""
    await asyncio.sleep(settings.current.stop_grace_s)
    asked = False
    while (run := await Run.get_or_none(id=run_id)) is not None and run.status == status:
        if not run.job_ref:  # no process of ours (external code): it had its chance to checkpoint and finish
            if status == RunStatus.STOPPING:
                await _finish(run, RunStatus.STOPPED, run.status_message or 'Stopped on request.')
            return
        try:
            provider = await providers.get(run.provider, run.credential_id)
            if status == RunStatus.PAUSED:
                await provider.pause(run.job_ref)
                return
            # a job that never ran has nothing to checkpoint, and a cloud may refuse to stop an instance that is
            # still being created (it would then start, and bill, for a run that is stopping)
            await (provider.stop(run.job_ref) if run.started_at and not asked else provider.terminate(run.job_ref))
            asked = True
        except (ProviderError, ServiceError) as error:
            log.warning('run %s: could not %s its job yet (%s)', run_id, 'pause' if status == RunStatus.PAUSED
                        else 'stop', error.message)
        await asyncio.sleep(STOP_CHECK_POLLS * settings.current.poll_interval_s)


async def _without_job(run: Run, action: str) -> None:
    """An external run (or one not launched yet) has no process of ours: its code hears a stop or pause in the
    answer to its next report; a stop ends the run once the grace period is over (or the code finishes first)."""
    if action == 'stop' and run.status != RunStatus.QUEUED:
        run.status, run.control = RunStatus.STOPPING, 'stop'
        await run.save(update_fields=CONTROL_FIELDS)
        background_tasks.create(_after_grace(run.id, RunStatus.STOPPING), name=f'stop-run-{run.id}')
    elif action in {'stop', 'cancel'}:
        await _finish(run, RunStatus.STOPPED if action == 'stop' else RunStatus.CANCELLED, f'{action} requested')
    elif action == 'pause':
        run.status, run.control = RunStatus.PAUSED, 'pause'
        await run.save(update_fields=CONTROL_FIELDS)


async def _finish(run: Run, status: RunStatus, message: str) -> None:
    run.status, run.status_message, run.control = status, message, ''
    run.ended_at = datetime.now(UTC)
    await run.save(update_fields=CONTROL_FIELDS)
    await _publish(run)


async def _publish(run: Run) -> None:
    await hub.publish(hub.Change(kind='run', action='updated', id=run.id, project_id=run.project_id,
                                 data=await runs.snapshot(run)))
    await projects.publish_updated(run.project_id)
