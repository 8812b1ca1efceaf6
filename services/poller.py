"""The poller: one batched state query per provider for all its active runs, mapped onto run status and cost.

It owns the fetch and fans out through the hub, like Home Assistant's update coordinator: a provider outage
changes no run's state; it is logged once when it starts and once when it ends, and shown on /status.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

import settings
from models import Project, Run, RunStatus
from providers.base import JobState, Phase, ProviderError
from providers.novita import INSTANCE_PREFIX
from services import audit, credentials, hub, limits, projects, providers, runs
from services.errors import ServiceError

log = logging.getLogger(__name__)

POLLED_FIELDS = ['status', 'status_message', 'provider_state', 'cost_usd', 'billed_until', 'started_at', 'ended_at',
                 'progress', 'control']
ACTIVE = [RunStatus.PROVISIONING, RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.STOPPING]
# how long a finished run's job may go on (a local process exiting by itself) before it is ended; a cloud instance
# bills for every second, so it goes at once
LEFTOVER_GRACE_S = {'local': 30.0}


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
    now = time.time()
    if await credentials.secret_for('novita'):
        by_provider.setdefault('novita', [])  # polled even with no active run, to find orphans
    for name, provider_runs in by_provider.items():
        try:
            provider = await providers.get(name)
            states = await (provider.instances() if name == 'novita' else
                            provider.states([run.job_ref for run in provider_runs]))
        except (ProviderError, ServiceError) as error:
            _flip(name, ok=False, error=error.message)
            continue
        _flip(name, ok=True)
        owned = {run.job_ref for run in provider_runs}
        cycle = _Cycle()
        async with in_transaction():  # one commit for the cycle, not one per run
            for run in provider_runs:
                gone = JobState(ref=run.job_ref, phase=Phase.GONE, raw='removed')
                await _apply(run, states.get(run.job_ref) or gone, now, cycle)
            for project_id, added in cycle.spent.items():
                await Project.filter(id=project_id).update(used_usd=F('used_usd') + added)
        for run, state in cycle.releases:
            await _release(run, state, now, cycle)
        await cycle.publish()
        if name == 'novita':
            await _orphans(provider, states, owned, now)
    _clock.previous = now
    await limits.enforce(now)  # on the cost this cycle accrued


@dataclass(kw_only=True, slots=True)
class _Cycle:
    """What one cycle changed, told to the tabs once it has committed: each run once, each project once."""
    changes: list[hub.Change] = field(default_factory=list)
    spent: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    projects: set[int] = field(default_factory=set)
    releases: list[tuple[Run, JobState]] = field(default_factory=list)

    async def publish(self) -> None:
        for change in self.changes:
            await hub.publish(change)
        for project_id in self.projects:
            await projects.publish_updated(project_id)


def status() -> dict[str, dict[str, object]]:
    return {name: {'ok': h.ok, 'since': h.since, 'error': h.error} for name, h in health.items()}


async def _apply(run: Run, state: JobState, now: float, cycle: _Cycle) -> None:
    if RunStatus(run.status).is_finished:
        cycle.releases.append((run, state))  # after the commit: no cloud call inside a transaction
        return
    before = (run.status, run.provider_state, float(run.cost_usd))
    added = _accrue(run, state, now)
    run.provider_state = state.raw[:64]
    if state.phase == Phase.RUNNING and run.status == RunStatus.PROVISIONING:
        run.status = RunStatus.RUNNING
        run.started_at = run.started_at or datetime.now(UTC)
    elif state.phase == Phase.PAUSED and run.status == RunStatus.RUNNING:
        run.status = RunStatus.PAUSED
    elif state.phase == Phase.EXITED and run.status == RunStatus.PAUSED:
        pass  # stopped because we paused it
    elif state.phase in {Phase.SUCCEEDED, Phase.FAILED, Phase.GONE, Phase.EXITED}:
        if run.status == RunStatus.STOPPING:
            run.status, run.status_message = RunStatus.STOPPED, run.status_message or 'Stopped on request.'
        elif state.phase == Phase.SUCCEEDED:
            run.status = RunStatus.SUCCEEDED
            run.progress = 1.0
        else:
            run.status = RunStatus.FAILED
            run.status_message = state.message or (
                'The instance stopped before the run reported success.' if state.phase == Phase.EXITED
                else f'The job ended: {state.raw}.')
        run.ended_at, run.control = datetime.now(UTC), ''
    if (run.status, run.provider_state, float(run.cost_usd)) == before:
        return
    # only if no report or user changed the run meanwhile (the next cycle sees what they did)
    if not await Run.filter(id=run.id, status=before[0]).update(**{f: getattr(run, f) for f in POLLED_FIELDS}):
        return
    cycle.spent[run.project_id] += added
    status_changed = run.status != before[0]
    cycle.changes.append(hub.Change(kind='run', action='updated', id=run.id, project_id=run.project_id,
                                    data=await runs.snapshot(run) if status_changed else runs.row(run)))
    if status_changed or added:
        cycle.projects.add(run.project_id)
    if RunStatus(run.status).is_finished:
        await audit.record(None, f'run.{run.status}', 'run', run.id, provider_state=state.raw)


def _accrue(run: Run, state: JobState, now: float) -> Decimal:
    """Price x billable time since the last poll; returns what was added. Billing that started or stopped between
    two polls is counted from (or to) the midpoint between them, which halves the error a poll interval makes."""
    edge = (_clock.previous + now) / 2 if _clock.previous else now
    if not state.billing:
        added = _bill(run, edge) if run.billed_until is not None else Decimal(0)
        run.billed_until = None
        return added
    if run.billed_until is None:
        run.billed_until = edge
    return _bill(run, now)


def _bill(run: Run, until: float) -> Decimal:
    hours = Decimal(str(max(0.0, until - run.billed_until) / 3600))
    added = (Decimal(run.price_per_hour) * hours).quantize(Decimal('0.000001'))
    run.cost_usd = Decimal(run.cost_usd) + added
    run.billed_until = until
    return added


class _Clock:
    previous: float | None = None  # when the previous cycle polled


_clock = _Clock()


async def _release(run: Run, state: JobState, now: float, cycle: _Cycle) -> None:
    """A finished run's job: free it once it has ended (or has been left running past the grace period)."""
    ended = run.ended_at.timestamp() if run.ended_at else now
    if state.phase in {Phase.RUNNING, Phase.PAUSED, Phase.PROVISIONING} \
            and now - ended < LEFTOVER_GRACE_S.get(run.provider, 0.0):
        return
    try:
        await (await providers.get(run.provider)).terminate(run.job_ref)
    except ProviderError as error:  # kept as it is: the next cycle tries again
        log.warning('could not free %s job %s of run %s: %s', run.provider, run.job_ref, run.id, error.message)
        return
    # the cloud bills until the instance is deleted, which is now, after the call (not the cycle's start)
    added = _bill(run, time.time()) if run.billed_until is not None and state.billing else Decimal(0)
    run.provider_state, run.billed_until = 'released', None
    await run.save(update_fields=['provider_state', 'cost_usd', 'billed_until'])
    if added:  # the cloud bills until the instance is gone, after the run itself has ended
        await Project.filter(id=run.project_id).update(used_usd=F('used_usd') + added)
        cycle.projects.add(run.project_id)


_orphans_seen: dict[str, float] = {}


async def _orphans(provider: Any, states: dict[str, JobState], owned: set[str], now: float) -> None:
    """Instances named like ours that no active run owns are terminated once they outlive the grace period."""
    for ref, state in states.items():
        if ref in owned or not state.name.startswith(INSTANCE_PREFIX) or state.phase == Phase.GONE:
            _orphans_seen.pop(ref, None)
            continue
        first_seen = _orphans_seen.setdefault(ref, now)
        if now - first_seen >= settings.current.orphan_grace_s:
            await provider.terminate(ref)
            _orphans_seen.pop(ref, None)
            log.warning('terminated orphan instance %s (%s)', ref, state.name)
            await audit.record(None, 'instance.orphan_terminated', 'instance', ref, name=state.name, state=state.raw)


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
