"""A limit looks ahead by the time a stop takes, counted in poll cycles as far apart as they really are: on a busy
machine cycles come later than the poll interval asked for, and a stop asked for on time by the clock would land
past the limit. Time is passed in, not slept."""

import time
from decimal import Decimal

from models import Project, Run, RunStatus
from services import auth, budget, lifecycle, projects, runs
from services.background import limits
from services.background.poller import _Clock
from services.lifecycle import Cause

DOLLAR_A_SECOND_AN_HOUR = Decimal('3.6')  # $0.001 a second: the default look-ahead (10 s grace + 4 x 5 s) is $0.03


async def _billing_run(limits_: dict, budget_usd: float = 0) -> Run:
    owner = await auth.create_user(f'pia{time.monotonic_ns()}@example.com', 'a long password')
    project = await projects.create_project(owner, name='speech')
    data, _token = await runs.create_run(owner, project['id'], name='whisper', limits=limits_)
    run = await Run.get(id=data['id'])
    assert await lifecycle.move(run, RunStatus.RUNNING, cause=Cause.JOB)
    await Run.filter(id=run.id).update(price_per_hour=DOLLAR_A_SECOND_AN_HOUR, cost_usd=Decimal('0.015'))
    await Project.filter(id=project['id']).update(budget_usd=Decimal(str(budget_usd)), used_usd=Decimal('0.015'))
    return run


async def _status(run: Run) -> str:
    return (await Run.get(id=run.id)).status_message or ''


async def test_a_cost_limit_looks_further_ahead_when_cycles_come_late(orm: str) -> None:
    run = await _billing_run({'max_cost_usd': 0.05})
    now = time.time()
    assert await limits.enforce(now) == 0  # $0.015 spent + $0.03 to stop: within $0.05
    assert await limits.enforce(now, poll_s=2.0) == 0  # cycles sooner than asked for change nothing
    assert await limits.enforce(now, poll_s=10.0) == 1  # 10 s + 4 x 10 s: $0.05 more, past the limit
    assert (await _status(run)).startswith('Stopped: cost limit $0.05')


async def test_a_project_budget_looks_further_ahead_when_cycles_come_late(orm: str) -> None:
    run = await _billing_run({}, budget_usd=0.05)
    now = time.time()
    assert await limits.enforce(now) == 0
    assert await limits.enforce(now, poll_s=10.0) == 1
    assert (await _status(run)).startswith('Stopped by the project budget at $0.05')


async def test_a_launch_looks_as_far_ahead_as_enforcement_in_the_polling_process(orm: str) -> None:
    """A run stopped by the budget with late cycles, then a launch checked with the interval asked for, was let by
    (seen in CI): a launch in the process that polls counts in the cycles it measured."""
    run = await _billing_run({}, budget_usd=0.05)
    project = await Project.get(id=run.project_id)
    assert not budget.would_overspend(project, 3.6)  # $0.015 + $0.03: within $0.05
    budget.cadence.seconds = 10.0
    try:
        assert budget.would_overspend(project, 3.6)
    finally:
        budget.cadence.seconds = 0.0


def test_the_poller_clock_tells_how_far_apart_recent_cycles_were() -> None:
    clock = _Clock()
    assert clock.interval_s == 0.0  # no cycle yet: the interval asked for stands
    for at in [100.0, 105.0, 115.0, 120.0]:
        clock.tick(at)
    assert clock.previous == 120.0 and clock.interval_s == 10.0  # the slowest of the recent ones
    for at in range(125, 125 + 5 * _Clock.RECENT, 5):
        clock.tick(float(at))
    assert clock.interval_s == 5.0  # a slow patch long past is forgotten
