"""The poller: one batched state query per provider account for all its active runs, mapped onto status and cost.

An account is a provider reached through one stored credential: each run is polled, freed and billed through the
credential it launched with, and orphans are looked for in each account. It owns the fetch and fans out through the
hub, like Home Assistant's update coordinator: an account that fails (an outage, a refused or broken key, anything)
changes no run's state, not even its own runs', and stops nothing else of the cycle, enforcement of limits and
budgets included; it is logged once when it starts and once when it ends, and shown on /status and /settings.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.transactions import in_transaction

import settings
from models import Credential, Project, Run, RunStatus
from providers import registry
from providers.base import JobState, Phase, Provider, ProviderError
from services import (
    audit,
    budget,
    credentials,
    hub,
    lifecycle,
    progress,
    projects,
    provider_health,
    providers,
    runs,
)
from services.background import budget_alerts, intents, limits, poll_events
from services.errors import ServiceError
from services.lifecycle import Cause
from services.notifications import announce
from services.provider_health import Account

log = logging.getLogger(__name__)

POLLED_FIELDS = ['provider_state', 'cost_usd', 'billed_until']  # what a poll writes besides a move of the status
# how long a job that ended its run by itself (a free local process, exiting) may go on before it is ended; a job
# that bills goes at once, and so does one whose run a person or a limit ended
LEFTOVER_GRACE_S = 30.0


async def poll_once() -> None:
    """One cycle: every account's active runs, one state query each; then limits and budgets, whatever failed."""
    now = time.time()
    by_account, owned = await _runs_by_account()
    listings: dict[Account, dict[str, JobState]] = {}
    for account, account_runs in by_account.items():
        if (states := await _poll_account(account, account_runs, owned, now)) is not None:
            listings[account] = states
    await _adopt_unassigned(listings)
    _clock.tick(now)
    # enforcement, and launches in this process, look ahead by cycles as far apart as they now are
    budget.cadence.seconds = _clock.interval_s
    await intents.carry_out_external(now)
    await limits.enforce(now)  # on the cost this cycle accrued; the stops it asks for are carried out next cycle
    await _told(budget_alerts.check(now))  # after enforcement, which a failure here must not hold up


async def _runs_by_account() -> tuple[dict[Account, list[Run]], set[str]]:
    """Active runs (and ended ones whose job is not freed yet) by the account they launched through; every stored
    cloud credential too, even with no run, to find its orphans (and tell when it fails). And every job such a run
    owns, whatever its account: none of them is an orphan."""
    by_account: dict[Account, list[Run]] = defaultdict(list)
    active = await Run.filter(status__in=lifecycle.ACTIVE, job_ref__isnull=False).exclude(provider='external')
    unreleased = await Run.filter(status__in=lifecycle.FINISHED_STATUSES, job_ref__isnull=False,
                                  provider_state__not='released').exclude(provider='external')
    for run in [*active, *unreleased]:
        if not _needs_credential(run.provider) or run.credential_id is not None:  # else: _adopt_unassigned first
            by_account[_account_of(run)].append(run)
    for provider, credential_id in await Credential.filter(provider__in=credentials.PROVIDERS) \
            .values_list('provider', 'id'):
        by_account.setdefault(Account(provider, credential_id), [])
    return by_account, {run.job_ref for run in [*active, *unreleased]}


async def _poll_account(account: Account, account_runs: list[Run], owned: set[str],
                        now: float) -> dict[str, JobState] | None:
    """Poll one account; what it listed (None when it failed). Nothing it raises reaches the rest of the cycle."""
    try:
        provider = await providers.get(account.provider, account.credential_id)
        states = await (provider.jobs() if provider.capabilities.lists_jobs else
                        provider.states([run.job_ref for run in account_runs]))
    except Exception as error:  # any failure of one account (bad key, 401, outage, surprise) is that account's alone
        if not isinstance(error, ProviderError | ServiceError) and provider_health.of(account).ok:
            log.warning('polling %s failed unexpectedly', account, exc_info=True)
        if provider_health.flip(account, ok=False, error=_reason(error)) and account.credential_id is not None:
            await _told(poll_events.credential_failing(account, provider_health.of(account)))
        await intents.could_not(account_runs, _reason(error), now)
        return None
    provider_health.flip(account, ok=True)
    try:
        await _apply_states(provider, account_runs, states, now)
        await intents.carry_out(provider, account_runs, now)
        if provider.capabilities.lists_jobs:
            await _orphans(account, provider, states, owned, now)
    except Exception:  # a bug must not stop the other accounts, nor enforcement
        log.exception('polling %s failed after its state query', account)
    return states


async def _apply_states(provider: Provider, account_runs: list[Run], states: dict[str, JobState], now: float) -> None:
    cycle = _Cycle()
    async with in_transaction() as conn:  # one commit for the account, not one per run
        for run in account_runs:
            gone = JobState(ref=run.job_ref, phase=Phase.GONE, raw='removed')
            await _apply(run, states.get(run.job_ref) or gone, now, cycle, conn)
        for project_id, added in cycle.spent.items():
            await Project.filter(id=project_id).update(used_usd=F('used_usd') + added)
    for run, state in cycle.releases:
        await _release(provider, run, state, now, cycle)
    await cycle.publish()
    for run in account_runs:
        if (state := states.get(run.job_ref)) is not None and state.reclaim_notice \
                and not lifecycle.is_finished(run.status):
            await _told(poll_events.spot_reclaim(run, state, now))


async def _told(telling: Awaitable[object]) -> None:
    """People hear of what a cycle found; a failure to tell them is logged, and holds up nothing of the cycle."""
    try:
        await telling
    except Exception:
        log.exception('could not store an event of the poll cycle')


def _account_of(run: Run) -> Account:
    # this machine needs no credential: every local run is polled alike
    return Account(run.provider, run.credential_id if _needs_credential(run.provider) else None)


async def _adopt_unassigned(listings: dict[Account, dict[str, JobState]]) -> None:
    """Cloud runs launched before runs recorded their credential: each is given the credential whose account lists
    its instance, once and for good, so that a credential added later never changes it."""
    for run in await Run.filter(credential_id__isnull=True, job_ref__isnull=False, provider__in=credentials.PROVIDERS,
                                provider_state__not='released'):
        found = next((account for account, states in listings.items()
                      if account.provider == run.provider and run.job_ref in states), None)
        if found is not None:
            await Run.filter(id=run.id, credential_id__isnull=True).update(credential_id=found.credential_id)
            log.info('run %s was launched before runs recorded their credential: it is %s', run.id, found)


def _needs_credential(provider: str) -> bool:
    found = registry.capabilities(provider)  # one no longer registered: its account fails, and says so
    return found is None or found.needs_credential


def _reason(error: Exception) -> str:
    if isinstance(error, ProviderError | ServiceError):
        return error.message
    return f'unexpected {type(error).__name__}'  # its text might quote the key: the log has the details


@dataclass(kw_only=True, slots=True)
class _Cycle:
    """What one cycle changed, told to the tabs once it has committed: each run once, each project once."""
    changes: list[hub.Change] = field(default_factory=list)
    spent: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    projects: set[int] = field(default_factory=set)
    releases: list[tuple[Run, JobState]] = field(default_factory=list)
    told: set[int] = field(default_factory=set)  # projects with a run whose end is an event (the bells re-read)

    async def publish(self) -> None:
        for change in self.changes:
            await hub.publish(change)
        for project_id in self.projects:
            await projects.publish_updated(project_id)
        for project_id in self.told:
            await announce(project_id)  # after the commit that stored the events


def status() -> dict[str, dict[str, object]]:
    """Every account polled, by name ('local', 'novita credential 3'): whether it answered, since when not, and why."""
    return {str(account): {'ok': h.ok, 'since': h.since, 'error': h.error, 'provider': account.provider,
                           'credential_id': account.credential_id}
            for account, h in provider_health.all_accounts().items()}


def status_of(provider: str, credential_id: int | None = None) -> dict[str, object] | None:
    """How the account a run is polled through fares (None: not polled yet)."""
    account = Account(provider, credential_id if _needs_credential(provider) else None)
    return status().get(str(account))


async def _apply(run: Run, state: JobState, now: float, cycle: _Cycle, conn: BaseDBAsyncClient) -> None:
    if lifecycle.is_finished(run.status):
        cycle.releases.append((run, state))  # after the commit: no cloud call inside a transaction
        return
    before = (run.status, run.provider_state, float(run.cost_usd))
    added = _accrue(run, state, now)
    run.provider_state = state.raw[:64]
    polled = {name: getattr(run, name) for name in POLLED_FIELDS}
    decision = lifecycle.from_phase(RunStatus(run.status), state.phase, raw=state.raw, message=state.message)
    if added:  # before a move that ends the run closes its steps; what the run cost while each step ran
        # the run's row first, as a report takes it (then its steps): locked the other way round, the two deadlock
        await Run.filter(id=run.id).select_for_update().using_db(conn).values_list('id', flat=True)
        await progress.accrue_steps(run.id, added, using_db=conn)
    # either way only if no report or user changed the run meanwhile (the next cycle sees what they did)
    if decision is not None:
        if not await lifecycle.move(run, decision.to, cause=decision.cause, reason=decision.reason, using_db=conn,
                                    **polled):
            return
    elif (run.status, run.provider_state, float(run.cost_usd)) == before \
            or not await Run.filter(id=run.id, status=run.status).using_db(conn).update(**polled):
        return
    cycle.spent[run.project_id] += added
    status_changed = decision is not None
    if status_changed and decision.to in lifecycle.ENDS_TOLD:
        cycle.told.add(run.project_id)
    cycle.changes.append(hub.Change(kind='run', action='updated', id=run.id, project_id=run.project_id,
                                    data=runs.row(run)))
    if status_changed or added:
        cycle.projects.add(run.project_id)


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
    """When the previous cycle polled, and how far apart recent cycles are: on a busy machine (or a slow provider)
    further than the poll interval asked for, and a budget must look that much further ahead to stop in time."""
    RECENT = 8

    def __init__(self) -> None:
        self.previous: float | None = None
        self.gaps: deque[float] = deque(maxlen=self.RECENT)

    def tick(self, now: float) -> None:
        if self.previous is not None:
            self.gaps.append(now - self.previous)
        self.previous = now

    @property
    def interval_s(self) -> float:
        return max(self.gaps, default=0.0)


_clock = _Clock()


async def _release(provider: Provider, run: Run, state: JobState, now: float, cycle: _Cycle) -> None:
    """A finished run's job: free it once it has ended (or has been left running past the grace period)."""
    ended = run.ended_at.timestamp() if run.ended_at else now
    exiting_by_itself = run.status_cause == Cause.JOB and not run.price_per_hour
    if state.phase in {Phase.RUNNING, Phase.PAUSED, Phase.PROVISIONING} and exiting_by_itself \
            and now - ended < LEFTOVER_GRACE_S:
        return
    try:
        await provider.terminate(run.job_ref)
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


_orphans_seen: dict[tuple[Account, str], float] = {}


async def _orphans(account: Account, provider: Any, states: dict[str, JobState], owned: set[str], now: float) -> None:
    """Instances of this account named like ours that no run owns are terminated once they outlive the grace period.
    `owned` is every run's job, whatever its credential: two keys may open one account, and a run launched through
    one is not the other's orphan."""
    for ref, state in states.items():
        seen = (account, ref)
        prefix = provider.capabilities.job_prefix
        if ref in owned or not prefix or not state.name.startswith(prefix) or state.phase == Phase.GONE:
            _orphans_seen.pop(seen, None)
            continue
        first_seen = _orphans_seen.setdefault(seen, now)
        if now - first_seen >= settings.current.orphan_grace_s:
            await provider.terminate(ref)
            _orphans_seen.pop(seen, None)
            log.warning('terminated orphan instance %s (%s) of %s', ref, state.name, account)
            await audit.record(None, 'instance.orphan_terminated', 'instance', ref, name=state.name, state=state.raw,
                               credential_id=account.credential_id)
            await _told(poll_events.orphan_terminated(account, ref, state))
