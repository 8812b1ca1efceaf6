"""A run's pace, what is left of it, and what it will cost: pure decisions, plus the step cost accrual.

The pace is the progress made over a window of recent reports that advanced it, divided by the time the window
spans: one slope between two real reports, not an average of per-report rates. Reports that carry no progress, or
the same progress again (metrics-only batches, step changes, a resent report), neither enter the window nor move its
clock, and a burst of reports a few milliseconds apart (a step change right after a flush, a spool sent after an
outage) weighs no more than the time it spans.

The window spans the later half of the run so far, at least ten seconds and at most half an hour:
- half of the run so far, so that the pace averages over half of the evaluation pauses seen, yet forgets a slow
  start (warm-up, compilation, a cold data cache) once the run is twice as old as the slow part was;
- at least ten seconds: ten of the SDK's one-second flushes, so that one late flush moves the ETA little;
- at most half an hour: a run that changes pace (resumed on another GPU, a later phase) is followed within that.
Progress 0 ("step 0 of n" while data loads) opens no window: the time before the first step is not the pace.
The points in it are thinned to at most MAX_POINTS, evenly spread, so that the stored JSON stays about 2 KB.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F

from models import RunStep, StepStatus

WINDOW_SHARE = 0.5  # of the time since the run started
WINDOW_MIN_S = 10.0
WINDOW_MAX_S = 1800.0
MAX_POINTS = 48
MIN_SPAN_S = 0.25  # reports closer than this (a step change just after a flush) say little: the rate since the start

Window = list[list[float]]  # [[epoch seconds, fraction], ...], oldest first, each fraction above the one before


@dataclass(frozen=True, slots=True)
class Pace:
    rate: float | None  # fraction of the run per second
    eta_s: float | None  # seconds left, as of the newest report in the window


def advance(window: Window | None, now: float, fraction: float, *, started_at: float | None) -> Window | None:
    """The window with a report of `fraction` at `now` in it; None when the report did not advance progress (the
    window, and the ETA's clock, stand). Progress that went back (a job restarted from an older checkpoint, a new
    phase counted from zero) starts the window anew: the pace before says nothing about the pace after."""
    points = [list(point) for point in window or []]
    last = points[-1][1] if points else 0.0
    if fraction == last:  # none more, or none yet ("step 0 of n" while it loads data)
        return None
    if fraction < last:
        points = []
    if points and now < points[-1][0]:  # the clock went back (another process's clock): keep the order
        now = points[-1][0]
    points.append([round(now, 3), fraction])
    span = window_span(now, started_at)
    while len(points) > 2 and points[1][0] <= now - span:  # the oldest point is the one at or before the span
        points.pop(0)
    while len(points) > MAX_POINTS:
        points.pop(_closest(points))
    return points


def window_span(now: float, started_at: float | None) -> float:
    """How far back the window reaches: half of the run so far, at least ten seconds, at most half an hour."""
    elapsed = now - started_at if started_at is not None else 0.0
    return min(WINDOW_MAX_S, max(WINDOW_MIN_S, WINDOW_SHARE * elapsed))


def pace(window: Window | None, *, started_at: float | None) -> Pace:
    """The rate over the window and the time left at it, as of its newest report. With a single report (the first,
    or the first after progress went back), the rate since the run started: slow, but better than no ETA."""
    if not window:
        return Pace(None, None)
    (t_old, f_old), (t_new, f_new) = window[0], window[-1]
    if t_new - t_old < MIN_SPAN_S:
        if started_at is None or t_new - started_at < MIN_SPAN_S:
            return Pace(None, None)
        t_old, f_old = started_at, 0.0
    gained = f_new - f_old
    if gained <= 0:
        return Pace(None, None)
    rate = gained / (t_new - t_old)
    return Pace(rate, (1.0 - f_new) / rate)


def eta_now(eta_at_report: float | None, report_at: float | None, now: float) -> float | None:
    """The ETA as of `now`: counted down from the report that set it, never below zero."""
    if eta_at_report is None:
        return None
    since = max(0.0, now - report_at) if report_at is not None else 0.0
    return max(0.0, eta_at_report - since)


def without_pause(window: Window | None, paused_s: float) -> Window | None:
    """The window as if a pause had not happened: its reports moved later by the time the run stood paused, so that
    the pace after a resume is not slowed by it (move `progress_at` by as much, and the ETA counts on from there)."""
    return [[at + paused_s, fraction] for at, fraction in window] if window else window


def _closest(points: Window) -> int:
    """The inner point whose neighbours are closest together in time: dropping it loses the least."""
    return min(range(1, len(points) - 1), key=lambda i: points[i + 1][0] - points[i - 1][0])


# --- the forecast ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Forecast:
    cost_usd: float  # what the run will have cost when it finishes, at its price and ETA
    capped: bool  # something stops it before: the budget or its own cost limit
    note: str  # '' or, when capped, what stops it and at about what cost


def forecast(*, cost_usd: float, price_per_hour: float, eta_s: float | None, budget_usd: float, used_usd: float,
             burn_per_hour: float, max_cost_usd: float | None) -> Forecast:
    """The cost to finish, and whether the project's budget (spent by all its billing runs, `burn_per_hour`
    together) or the run's cost limit stops the run first. Never a figure above the budget without saying so."""
    to_finish = price_per_hour * (eta_s or 0.0) / 3600
    total = cost_usd + to_finish
    stops: list[tuple[float, str]] = []
    if max_cost_usd is not None and total > max_cost_usd:
        stops.append((max_cost_usd, f'Its cost limit stops the run first, at about ${max_cost_usd:,.2f}'))
    if budget_usd > 0 and price_per_hour > 0:
        left = max(0.0, budget_usd - used_usd)
        # the project's runs spend what is left together: this one's share is its part of what they burn
        share = price_per_hour / max(burn_per_hour, price_per_hour)
        if to_finish > left * share:
            at = cost_usd + left * share
            stops.append((at, f'The project budget (${budget_usd:,.2f}) stops the run first, at about ${at:,.2f}'))
    if not stops:
        return Forecast(total, False, '')
    return Forecast(total, True, min(stops)[1])


# --- step cost -------------------------------------------------------------------------------------------------------

async def accrue_steps(run_id: int, added: Decimal, using_db: BaseDBAsyncClient | None = None) -> None:
    """Add what the run cost since the last accrual to each of its running steps: a step's cost is what the run cost
    while the step ran. Two steps running at once each get it whole (each ran all that time), so steps may add up to
    more than the run. Call it where the run's own cost accrues, in the same transaction."""
    if added > 0:
        await RunStep.filter(run_id=run_id, status=StepStatus.RUNNING).using_db(using_db) \
            .update(cost_usd=F('cost_usd') + added)
