"""Run limits and project budgets, enforced after every poll cycle.

A run is stopped before it passes its cost limit or its project's budget, not after: each check looks ahead, at the
prices the running jobs bill, by the time a stop takes to end the billing (services/budget.py). A run past its
duration is stopped the same way.

A run that has reported nothing for its stall timeout is not stopped at once: its people hear of it first
(run.stalled), and it fails only a grace period later (the run's, else its project's, else the stall timeout again)
unless it reports meanwhile (services/ingest clears the notice). It fails rather than stops: a job that does not
report would not hear a request to checkpoint.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models import Project, Run, RunStatus
from services import budget, lifecycle, notifications, projects, run_control
from services.budget import usd
from services.lifecycle import Cause


async def enforce(now: float | None = None, poll_s: float | None = None) -> int:
    """Stop every run past a limit, and every billing run of a project that would pass its budget; how many. Tell
    the people of a run that has just stalled.
    `poll_s`: how far apart poll cycles are (by default, as the poller measured them: budget.cadence)."""
    now = time.time() if now is None else now
    lookahead_h = budget.lookahead_h(poll_s)
    limited = Q(max_cost_usd__isnull=False) | Q(max_duration_s__isnull=False) | Q(stall_timeout_s__isnull=False) \
        | Q(project__budget_usd__gt=0)
    candidates = await Run.filter(limited, status__in=lifecycle.LIMITED).select_related('project')
    stopped = 0
    for run in candidates:
        past = past_limit(run, now, lookahead_h)
        if past and past[1] == Cause.STALL:  # read again: a report may have come in since, and it would stand
            fresh = await Run.get_or_none(id=run.id).select_related('project')
            past = past_limit(fresh, now, lookahead_h) if fresh else None
        if past and await run_control.stop_for(run, *past):
            stopped += 1
        elif not past and (stall := stalled(run, now)) and stall.notified_at is None:
            await _tell_stall(run, stall, now)
    by_project: dict[int, list[Run]] = defaultdict(list)
    for run in candidates:
        if run.status in lifecycle.LIMITED and run.price_per_hour > 0:
            by_project[run.project_id].append(run)
    for project_runs in by_project.values():
        project = project_runs[0].project
        if not budget.would_overspend(project, sum(float(run.price_per_hour) for run in project_runs), poll_s):
            continue
        reason = budget.reason(project)
        for run in project_runs:
            if await run_control.stop_for(run, reason, Cause.BUDGET):
                stopped += 1
    return stopped


def past_limit(run: Run, now: float, lookahead_h: float) -> tuple[str, Cause] | None:
    """Why the run must stop now, and which limit it is (None if it need not). `run.project` must be fetched."""
    if run.max_cost_usd is not None:
        upcoming = float(run.cost_usd) + float(run.price_per_hour) * lookahead_h
        if upcoming >= float(run.max_cost_usd):
            return (f'Stopped: cost limit {usd(run.max_cost_usd)} ({usd(run.cost_usd)} spent, and a stop takes '
                    f'time).'), Cause.COST_LIMIT
    if run.max_duration_s is not None and run.started_at is not None \
            and now - run.started_at.timestamp() >= run.max_duration_s:
        return f'Stopped: duration limit {_duration(run.max_duration_s)}.', Cause.DURATION
    if (stall := stalled(run, now)) and stall.due:
        return (f'Stalled: no report for {span(stall.silent_s)} ({_since(stall.heard)}); its people were told '
                f'{span(now - stall.notified_at)} ago.'), Cause.STALL
    return None


@dataclass(frozen=True, slots=True)
class Stall:
    """A running run that has not reported for its stall timeout."""
    heard: float  # epoch seconds of its last report (or of its start, when it never reported)
    silent_s: float
    grace_s: int  # how long after its people were told it is stopped
    notified_at: float | None  # when they were told of this silence; None: not yet
    due: bool  # told, and the grace period is over: stop it


def stalled(run: Run, now: float) -> Stall | None:
    """The run's stall, if it is running and has been silent for its stall timeout. `run.project` must be fetched."""
    if run.stall_timeout_s is None or run.status != RunStatus.RUNNING:
        return None
    heard = max((t.timestamp() for t in (run.last_report_at, run.started_at) if t is not None), default=None)
    if heard is None or now - heard < run.stall_timeout_s:
        return None
    grace = grace_s(run, run.project)
    # a notice older than the last report is of an earlier silence (a report and the notice crossed): told anew
    notified = run.stall_notified_at if run.stall_notified_at is not None and run.stall_notified_at >= heard else None
    return Stall(heard=heard, silent_s=now - heard, grace_s=grace, notified_at=notified,
                 due=notified is not None and now - notified >= grace)


def grace_s(run: Run, project: Project) -> int:
    """How long a stalled run goes on once its people are told: its own setting, its project's, or its stall timeout
    again."""
    for chosen in (run.stall_grace_s, projects.stall_grace_s(project), run.stall_timeout_s):
        if chosen is not None:
            return int(chosen)
    return 0


async def _tell_stall(run: Run, stall: Stall, now: float) -> None:
    """The run.stalled event, and the notice on the run that starts its grace period, in one transaction. Not a
    move: the run is still running, and the status is lifecycle's to write."""
    where = f'"{run.name}" in {run.project.name}'
    message = (f'{where} has not reported for {span(stall.silent_s)} ({_since(stall.heard)}): it fails in '
               f'{span(stall.grace_s)} unless it reports.')
    details = {'silent_s': round(stall.silent_s), 'stall_timeout_s': run.stall_timeout_s, 'grace_s': stall.grace_s,
               'last_heard': datetime.fromtimestamp(stall.heard, UTC).isoformat(), 'run_name': run.name}
    async with in_transaction() as conn:
        # still running (a report that came in since this cycle read the run is newer than this notice: the next
        # cycle takes the notice for stale, and stops nothing)
        if not await Run.filter(id=run.id, status=RunStatus.RUNNING).using_db(conn).update(stall_notified_at=now):
            return
        event = await notifications.emit('run.stalled', key=f'stall:{run.id}:{int(stall.heard)}', message=message,
                                         project_id=run.project_id, run_id=run.id, details=details, using_db=conn,
                                         announced=False)
    run.stall_notified_at = now
    if event is not None:
        await notifications.announce(run.project_id)


def span(seconds: float) -> str:
    """A length of time as people say it: '45 s', '12 min', '2 h 5 min'."""
    seconds = round(seconds)
    if seconds < 60:
        return f'{seconds} s'
    minutes = round(seconds / 60)
    if minutes < 60:
        return f'{minutes} min'
    return f'{minutes // 60} h' + (f' {minutes % 60} min' if minutes % 60 else '')


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f'{seconds / 3600:g} h'
    return f'{seconds / 60:g} min' if seconds >= 60 else f'{seconds:g} s'


def _since(epoch_s: float) -> str:
    return 'last heard at ' + datetime.fromtimestamp(epoch_s, UTC).strftime('%H:%M:%S UTC')
