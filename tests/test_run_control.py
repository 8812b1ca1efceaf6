"""Run control writes only what it decides, so it never undoes what the poller wrote at the same time."""

import asyncio
from decimal import Decimal

from models import Run, RunStatus
from services import auth, lifecycle, projects, run_control, runs


async def test_an_action_does_not_put_back_the_cost_the_poller_accrued_meanwhile(orm: str) -> None:
    user = await auth.create_user('ada@example.com', 'a long password')
    project = await projects.create_project(user, name='vision')
    created, _ = await runs.create_run(user, project['id'], name='external')
    await lifecycle.move(await Run.get(id=created['id']), RunStatus.RUNNING, cause=lifecycle.Cause.JOB)
    # the action reads the run, then the poller's cycle commits, then the action saves
    answer, _ = await asyncio.gather(run_control.act(user, created['id'], 'pause'),
                                     Run.filter(id=created['id']).update(cost_usd=Decimal('1.25'), billed_until=99.0))
    assert answer['status'] == 'pausing'
    run = await Run.get(id=created['id'])
    assert (run.status, run.cost_usd, run.billed_until) == (RunStatus.PAUSING, Decimal('1.25'), 99.0)
