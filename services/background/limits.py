"""Run limits and project budgets, enforced after every poll cycle.

A run is stopped before it passes its cost limit or its project's budget, not after: each check looks ahead, at the
prices the running jobs bill, by the time a stop takes to end the billing (services/budget.py). A run past its
duration is stopped the same way; a run that has reported nothing for its stall timeout fails at once, since a job
that does not report would not hear a request to checkpoint.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime

from tortoise.expressions import Q

from models import Run, RunStatus
from services import budget, lifecycle, run_control
from services.budget import usd
from services.lifecycle import Cause


async def enforce(now: float | None = None) -> int:
    """Stop every run past a limit, and every billing run of a project that would pass its budget; how many."""
    now = time.time() if now is None else now
    lookahead_h = budget.lookahead_h()
    limited = Q(max_cost_usd__isnull=False) | Q(max_duration_s__isnull=False) | Q(stall_timeout_s__isnull=False) \
        | Q(project__budget_usd__gt=0)
    candidates = await Run.filter(limited, status__in=lifecycle.LIMITED).select_related('project')
    stopped = 0
    for run in candidates:
        past = past_limit(run, now, lookahead_h)
        if past and await run_control.stop_for(run, *past):
            stopped += 1
    by_project: dict[int, list[Run]] = defaultdict(list)
    for run in candidates:
        if run.status in lifecycle.LIMITED and run.price_per_hour > 0:
            by_project[run.project_id].append(run)
    for project_runs in by_project.values():
        project = project_runs[0].project
        if not budget.would_overspend(project, sum(float(run.price_per_hour) for run in project_runs)):
            continue
        reason = budget.reason(project)
        for run in project_runs:
            if await run_control.stop_for(run, reason, Cause.BUDGET):
                stopped += 1
    return stopped


def past_limit(run: Run, now: float, lookahead_h: float) -> tuple[str, Cause] | None:
    """Why the run must stop now, and which limit it is (None if it need not)."""
    if run.max_cost_usd is not None:
        upcoming = float(run.cost_usd) + float(run.price_per_hour) * lookahead_h
        if upcoming >= float(run.max_cost_usd):
            return (f'Stopped: cost limit {usd(run.max_cost_usd)} ({usd(run.cost_usd)} spent, and a stop takes '
                    f'time).'), Cause.COST_LIMIT
    if run.max_duration_s is not None and run.started_at is not None \
            and now - run.started_at.timestamp() >= run.max_duration_s:
        return f'Stopped: duration limit {_duration(run.max_duration_s)}.', Cause.DURATION
    if run.stall_timeout_s is not None and run.status == RunStatus.RUNNING:
        heard = max((t.timestamp() for t in (run.last_report_at, run.started_at) if t is not None), default=None)
        if heard is not None and now - heard >= run.stall_timeout_s:
            return f'Stalled: no report for {_duration(run.stall_timeout_s)} ({_since(heard)}).', Cause.STALL
    return None


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f'{seconds / 3600:g} h'
    return f'{seconds / 60:g} min' if seconds >= 60 else f'{seconds:g} s'


def _since(epoch_s: float) -> str:
    return 'last heard at ' + datetime.fromtimestamp(epoch_s, UTC).strftime('%H:%M:%S UTC')
