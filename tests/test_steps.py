"""Steps as a timeline: one row per step name spanning its first start to its last end, its cost accrued from the
run's while it ran, and a stop shown as a stop."""

import time
import uuid
from decimal import Decimal

import httpx
import pytest

from models import Project, Run, RunStep, StepStatus, User
from services import progress
from tests import helpers
from tests.fakes.novita import FakeNovita
from tests.helpers import Server


@pytest.fixture
def run(api: httpx.Client) -> dict:
    project = api.post('/projects', json={'name': f'steps-{uuid.uuid4().hex[:8]}'}).json()
    return api.post(f'/projects/{project["id"]}/runs', json={'name': 'mlp'}).json()


def report(server: Server, run: dict, body: dict) -> httpx.Response:
    answer = httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report', json=body,
                        headers={'Authorization': f'Bearer {run["token"]}'})
    assert answer.status_code == 200, answer.text
    return answer


def steps(api: httpx.Client, run: dict) -> dict[str, dict]:
    return {step['name']: step for step in api.get(f'/runs/{run["id"]}').json()['steps']}


def test_a_step_called_each_epoch_is_one_row_from_the_first_call_to_the_last(server: Server, api: httpx.Client,
                                                                             run: dict) -> None:
    began = time.monotonic()
    for epoch in range(1, 4):  # with run.step('training', f'epoch {epoch} of 3'): ... then an evaluation
        report(server, run, {'steps': [{'name': 'training', 'status': 'running',
                                        'description': f'epoch {epoch} of 3'}]})
        time.sleep(0.3)
        report(server, run, {'steps': [{'name': 'training', 'status': 'succeeded'},
                                       {'name': 'evaluation', 'status': 'running'}]})
        if epoch == 2:
            report(server, run, {'steps': [{'name': 'training', 'status': 'running', 'description': 'epoch 3 of 3'}]})
            again = steps(api, run)['training']
            assert again['status'] == 'running' and again['ended_at'] is None  # running again: no end yet
            assert again['duration_s'] >= 0.6
        report(server, run, {'steps': [{'name': 'evaluation', 'status': 'succeeded'}]})
    spent = time.monotonic() - began
    shown = steps(api, run)
    assert list(shown) == ['training', 'evaluation']
    training = shown['training']
    assert training['status'] == 'succeeded' and training['description'] == 'epoch 3 of 3'
    assert 0.9 <= training['duration_s'] <= spent  # from the first epoch's start to the last one's end


def test_a_run_stopped_by_its_user_shows_its_running_step_stopped(server: Server, api: httpx.Client,
                                                                  run: dict) -> None:
    report(server, run, {'steps': [{'name': 'setup', 'status': 'succeeded'},
                                   {'name': 'training', 'status': 'running', 'description': 'epoch 2 of 30'}],
                         'progress': {'step': 20, 'total_steps': 450}})
    assert api.post(f'/runs/{run["id"]}/actions/stop').json()['status'] == 'stopping'
    heard = report(server, run, {'progress': {'step': 21, 'total_steps': 450}}).json()
    assert heard['control'] == {'action': 'stop'}
    # as examples/train_mlp.py does: it leaves the step by returning, and says so when it finishes
    report(server, run, {'logs': ['asked to stop: leaving early'],
                         'status': {'state': 'stopped', 'message': 'stopped on request'}})
    state = api.get(f'/runs/{run["id"]}').json()
    assert state['status'] == 'stopped'
    assert [(step['name'], step['status']) for step in state['steps']] == [('setup', 'succeeded'),
                                                                          ('training', 'stopped')]


async def test_a_running_step_accrues_what_the_run_costs_while_it_runs(orm: str) -> None:
    owner = await User.create(email=f'{uuid.uuid4().hex[:8]}@example.com', name='owner', password_hash='x')
    project = await Project.create(name='costs', owner=owner)
    run = await Run.create(project=project, name='mlp')
    for index, (name, status) in enumerate([('setup', StepStatus.SUCCEEDED), ('training', StepStatus.RUNNING),
                                            ('upload', StepStatus.RUNNING)]):
        await RunStep.create(run=run, index=index, name=name, status=status)
    other = await RunStep.create(run=await Run.create(project=project, name='other'), index=0, name='training',
                                 status=StepStatus.RUNNING)
    await progress.accrue_steps(run.id, Decimal('0.25'))
    await progress.accrue_steps(run.id, Decimal('0.000125'))
    costs = {step.name: step.cost_usd for step in await RunStep.filter(run_id=run.id)}
    # both running steps ran all that time: each cost all of it
    assert costs == {'setup': Decimal(0), 'training': Decimal('0.250125'), 'upload': Decimal('0.250125')}
    assert (await RunStep.get(id=other.id)).cost_usd == 0


def test_a_cloud_run_s_training_step_costs_what_the_run_cost_while_it_ran(cloud_server: Server,
                                                                        novita: FakeNovita) -> None:
    api, run = helpers.running_on_novita(cloud_server, novita)  # $1.34/h, polled every 0.1 s
    try:
        report(cloud_server, run, {'steps': [{'name': 'setup', 'status': 'succeeded'},
                                             {'name': 'training', 'status': 'running'}]})
        at_start = api.get(f'/runs/{run["id"]}').json()['cost_usd']
        time.sleep(1.5)
        report(cloud_server, run, {'steps': [{'name': 'training', 'status': 'succeeded'}]})
        during = api.get(f'/runs/{run["id"]}').json()['cost_usd'] - at_start
        training = steps(api, run)['training']
        time.sleep(0.5)  # the run bills on; the ended step no more
        assert steps(api, run)['training']['cost_usd'] == training['cost_usd']
        # a poll's cost goes to the steps running when it accrues: off by up to a poll interval (0.1 s, more on a
        # loaded machine) at either end
        slack = 1.34 * 0.5 / 3600
        assert training['cost_usd'] > 0
        assert training['cost_usd'] == pytest.approx(during, abs=slack)
        assert training['cost_usd'] == pytest.approx(1.34 * training['duration_s'] / 3600, abs=slack)
        assert steps(api, run)['setup']['cost_usd'] == 0
    finally:  # no instance left behind
        api.post(f'/runs/{run["id"]}/actions/cancel')
        helpers.wait_until(lambda: not novita.live())
