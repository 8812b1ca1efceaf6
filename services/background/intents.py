"""Carrying out what users and limits asked of runs: the leader's part of stopping, pausing and resuming.

Each poll cycle, after an account's states are applied, every run of it in an intent status gets its next step
(services/lifecycle.next_step): wait for the job to checkpoint until the deadline, then stop, freeze or wake it, and
ask again (a stop: terminate) when the provider has not done it a few polls later. The poller moves the run on when
the provider shows the job stopped, frozen or running. A call that fails is shown on the run ("Novita unreachable
since 13:02 UTC, retrying") and tried again next cycle; so is an account that cannot be polled at all.

External code has no job of ours: it hears the request in the answer to its reports, and the run moves on by itself
at the deadline. A queued run is one to launch: that is carried out here too, first thing in a cycle.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import settings
from models import Run, RunStatus
from providers.base import Provider, ProviderError
from services import lifecycle, providers, run_control
from services.errors import ServiceError
from services.lifecycle import Cause, Step

log = logging.getLogger(__name__)

S = RunStatus
EXTERNAL_OUTCOME = {S.STOPPING: S.STOPPED, S.PAUSING: S.PAUSED, S.RESUMING: S.RUNNING}


async def carry_out(provider: Provider, account_runs: list[Run], now: float) -> None:
    """The next step of every intent among one account's runs (after their states were applied this cycle)."""
    for run in account_runs:
        if run.status not in lifecycle.INTENTS:
            continue
        step = lifecycle.next_step(RunStatus(run.status), now=now, deadline=run.deadline,
                                   carried_out_at=run.carried_out_at, has_job=True,
                                   started=run.started_at is not None,
                                   poll_interval_s=settings.current.poll_interval_s)
        if step == Step.WAIT:
            continue
        try:
            await _call(provider, step, run.job_ref)
        except (ProviderError, ServiceError) as error:
            log.warning('run %s: could not %s its job yet (%s)', run.id, step.value, error.message)
            await could_not([run], error.message, now)
            continue
        asked_before = run.carried_out_at is not None
        await Run.filter(id=run.id, status=run.status).update(carried_out_at=now, control_error=None)
        if asked_before:  # taken, but not carried out in several polls: say so, and go on asking
            run.control_error = None
            await could_not([run], f'{provider.capabilities.label} has not done it yet', now)
        elif run.control_error:  # it had been shown as failing
            run.control_error = None
            await lifecycle.publish(run)


async def launch_queued() -> int:
    """Launch every queued run that has a provider to launch on, a few at a time; how many were handed over. A run
    whose launch was cut short by a restart is queued still, and launched now (an instance the cloud made for it
    meanwhile has no run that owns it: the orphan sweep frees it)."""
    queued = await Run.filter(status=RunStatus.QUEUED, job_ref__isnull=True).exclude(provider='external') \
        .order_by('id')

    async def launch(run: Run) -> int:
        try:
            await run_control.launch(run)
        except ProviderError as error:  # retryable: queued still, shown as held up, launched when the cloud answers
            log.warning('run %s: could not launch it yet (%s)', run.id, error.message)
            await could_not([run], error.message, time.time())
            return 0
        return 1
    return await providers.each_job(queued, launch)


async def carry_out_external(now: float) -> None:
    """Runs with no job of ours (external code, or a launch that never happened) move on at their deadline."""
    for run in await Run.filter(status__in=lifecycle.INTENTS, job_ref__isnull=True):
        step = lifecycle.next_step(RunStatus(run.status), now=now, deadline=run.deadline, carried_out_at=None,
                                   has_job=False, started=run.started_at is not None,
                                   poll_interval_s=settings.current.poll_interval_s)
        if step == Step.FINISH:
            await lifecycle.move(run, EXTERNAL_OUTCOME[RunStatus(run.status)], cause=Cause.SYSTEM)


async def could_not(account_runs: list[Run], message: str, now: float) -> None:
    """Show on each run with an intent why it is not carried out yet, from when: the time of the first failure is
    kept while it goes on failing, the reason follows the latest (a missing key, then an outage, reads as the
    outage, not as the key that has since been added)."""
    for run in account_runs:
        if not (run.status in lifecycle.INTENTS or run.status == RunStatus.QUEUED):
            continue
        was = run.control_error
        since = was.rpartition(' since ')[2] if was and ' since ' in was else \
            f'{datetime.fromtimestamp(now, UTC):%H:%M UTC}, retrying'
        text = f'{message.rstrip(".")} since {since}'
        if text == was:
            continue
        changed = Run.filter(id=run.id, status=run.status)
        changed = changed.filter(control_error=was) if was else changed.filter(control_error__isnull=True)
        if await changed.update(control_error=text):
            run.control_error = text
            await lifecycle.publish(run)


async def _call(provider: Provider, step: Step, ref: str) -> None:
    action = {Step.STOP: provider.stop, Step.TERMINATE: provider.terminate, Step.PAUSE: provider.pause,
              Step.RESUME: provider.resume}[step]
    await action(ref)
