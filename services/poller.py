"""The poller: one batched state query per provider for all its active runs, mapped onto run status and cost.

It owns the fetch and fans out through the hub, like Home Assistant's update coordinator: a provider outage
changes no run's state; it is logged once when it starts and once when it ends, and shown on /status.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from tortoise.expressions import F

from models import Project, Run, RunStatus
from providers.base import JobState, Phase, ProviderError
from services import audit, hub, projects, providers, runs

log = logging.getLogger(__name__)

ACTIVE = [RunStatus.PROVISIONING, RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.STOPPING]
LEFTOVER_GRACE_S = 30.0  # a finished run's job still running this long after the end is terminated


@dataclass(kw_only=True, slots=True)
class Health:
    ok: bool = True
    since: datetime | None = None
    error: str = ''


health: dict[str, Health] = defaultdict(Health)


async def poll_once() -> None:
    """One cycle: every provider's active runs, one state query each."""
    by_provider: dict[str, list[Run]] = defaultdict(list)
    for run in await Run.filter(status__in=ACTIVE, job_ref__isnull=False).exclude(provider='external'):
        by_provider[run.provider].append(run)
    for run in await Run.filter(status__in=[s for s in RunStatus if s.is_finished], job_ref__isnull=False,
                                provider_state__not='released').exclude(provider='external'):
        by_provider[run.provider].append(run)
    for name, provider_runs in by_provider.items():
        provider = providers.get(name)
        try:
            states = await provider.states([run.job_ref for run in provider_runs])
        except ProviderError as error:
            _flip(name, ok=False, error=error.message)
            continue
        _flip(name, ok=True)
        now = time.time()
        for run in provider_runs:
            await _apply(run, states.get(run.job_ref), now)


def status() -> dict[str, dict[str, object]]:
    return {name: {'ok': h.ok, 'since': h.since, 'error': h.error} for name, h in health.items()}


async def _apply(run: Run, state: JobState | None, now: float) -> None:
    if state is None:
        return
    if RunStatus(run.status).is_finished:
        await _release(run, state, now)
        return
    before = (run.status, run.provider_state, float(run.cost_usd))
    added = _accrue(run, state, now)
    run.provider_state = state.raw[:64]
    if state.phase == Phase.RUNNING and run.status == RunStatus.PROVISIONING:
        run.status = RunStatus.RUNNING
        run.started_at = run.started_at or datetime.now(UTC)
    elif state.phase == Phase.PAUSED and run.status == RunStatus.RUNNING:
        run.status = RunStatus.PAUSED
    elif state.phase in {Phase.SUCCEEDED, Phase.FAILED, Phase.GONE}:
        if run.status == RunStatus.STOPPING:
            run.status, run.status_message = RunStatus.STOPPED, run.status_message or 'Stopped on request.'
        elif state.phase == Phase.SUCCEEDED:
            run.status = RunStatus.SUCCEEDED
            run.progress = 1.0
        else:
            run.status = RunStatus.FAILED
            run.status_message = state.message or f'The job ended: {state.raw}.'
        run.ended_at, run.control = datetime.now(UTC), ''
    if (run.status, run.provider_state, float(run.cost_usd)) == before:
        return
    await run.save()
    if added:
        await Project.filter(id=run.project_id).update(used_usd=F('used_usd') + added)
    await hub.publish(hub.Change(kind='run', action='updated', id=run.id, project_id=run.project_id,
                                 data=await runs.snapshot(run)))
    if run.status != before[0] or added:
        await projects.publish_updated(run.project_id)
    if RunStatus(run.status).is_finished:
        await audit.record(None, f'run.{run.status}', 'run', run.id, provider_state=state.raw)


def _accrue(run: Run, state: JobState, now: float) -> Decimal:
    """Price x billable time since the last poll; returns what was added."""
    if not state.billing:
        run.billed_until = None
        return Decimal(0)
    if run.billed_until is None:
        run.billed_until = now
        return Decimal(0)
    hours = Decimal(str(max(0.0, now - run.billed_until) / 3600))
    added = (Decimal(run.price_per_hour) * hours).quantize(Decimal('0.000001'))
    run.cost_usd = Decimal(run.cost_usd) + added
    run.billed_until = now
    return added


async def _release(run: Run, state: JobState, now: float) -> None:
    """A finished run's job: free it once it has ended (or has been left running past the grace period)."""
    ended = run.ended_at.timestamp() if run.ended_at else now
    if state.phase in {Phase.RUNNING, Phase.PAUSED, Phase.PROVISIONING} and now - ended < LEFTOVER_GRACE_S:
        return
    await providers.get(run.provider).terminate(run.job_ref)
    run.provider_state = 'released'
    await run.save(update_fields=['provider_state'])


def _flip(name: str, *, ok: bool, error: str = '') -> None:
    current = health[name]
    if current.ok == ok and (ok or current.since is not None):
        return
    if ok:
        log.info('%s reachable again (unreachable since %s)', name, current.since)
        health[name] = Health()
    else:
        log.warning('%s unreachable: %s', name, error)
        health[name] = Health(ok=False, since=datetime.now(UTC), error=error)
