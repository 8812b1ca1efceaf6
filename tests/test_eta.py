"""ETA and forecast through a real server: examples/train_mlp.py run for real on the local provider, its ETA against
the time it really took; a run whose forecast passes its project's budget says so in the API and on its page."""

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from nicegui.testing import User

from components.new_run_dialog import EXAMPLE
from models import Project, Run
from models import User as UserModel
from services import ingest, projects, runs
from tests import helpers
from tests.fakes.novita import FakeNovita
from tests.helpers import Server


@pytest.fixture
def polling_server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    server = Server(helpers.app_env(database_url, tmp_path / 'data', TRAINBOARD_SCHEDULER_ENABLED='true',
                                    TRAINBOARD_POLL_INTERVAL_S='0.3')).start()
    yield server
    server.stop()


def test_the_example_s_eta_is_within_20_percent_after_a_tenth_of_the_run(polling_server: Server) -> None:
    api = polling_server.client()
    project = api.post('/projects', json={'name': 'eta'}).json()
    # 20 epochs of 15 batches at 0.08 s: about 25 s, with a setup and an evaluation after each epoch
    run = api.post(f'/projects/{project["id"]}/runs', json={
        'name': 'mlp', 'provider': 'local', 'command': EXAMPLE.replace('--epochs 20', '') + ' --epochs 20 --delay 0.08',
    }).json()
    seen: list[tuple[float, float | None]] = []  # (when, the ETA the page would show then)
    deadline = time.time() + 120
    while (state := api.get(f'/runs/{run["id"]}').json())['status'] in {'queued', 'provisioning', 'running'}:
        assert time.time() < deadline, state
        if state['status'] == 'running':
            seen.append((time.time(), state['eta_seconds']))
        time.sleep(0.25)
    assert state['status'] == 'succeeded', api.get(f'/runs/{run["id"]}/logs').json()
    began, ended = (datetime.fromisoformat(state[name]).timestamp() for name in ('started_at', 'ended_at'))
    checked = [(when - began, eta, ended - when) for when, eta in seen
               if 0.1 <= (when - began) / (ended - began) <= 0.9]
    assert len(checked) >= 20
    wrong = [f'{at:.1f} s in: ETA {eta} s, truly {left:.1f} s' for at, eta, left in checked
             # a second's floor: near the end 20 % is less than the step of one report and one poll
             if eta is None or abs(eta - left) > max(0.2 * left, 1.0)]
    assert not wrong, wrong


def test_a_forecast_past_the_budget_says_the_budget_stops_the_run_first(cloud_server: Server,
                                                                        novita: FakeNovita) -> None:
    api, run = helpers.running_on_novita(cloud_server, novita)  # $1.34/h in a project with a $10 budget
    try:
        def report(step: int) -> None:
            httpx.post(f'{cloud_server.url}/api/v1/runs/{run["id"]}/report', headers={
                'Authorization': f'Bearer {run["token"]}'}, json={'progress': {'step': step, 'total_steps': 100_000}})
        report(1)
        time.sleep(1.0)
        report(2)  # a step a second: about 28 hours left, $37 at $1.34/h
        state = api.get(f'/runs/{run["id"]}').json()
        assert state['eta_seconds'] > 20 * 3600 and state['forecast_cost_usd'] > 30
        assert state['forecast_capped'] is True
        assert state['forecast_note'].startswith('The project budget ($10.00) stops the run first, at about $10.0')
        report(100_000 - 1)  # nearly done: it finishes well within the budget
        state = api.get(f'/runs/{run["id"]}').json()
        assert state['forecast_capped'] is False and state['forecast_note'] == ''
        assert state['forecast_cost_usd'] == pytest.approx(state['cost_usd'], abs=0.01)
    finally:  # no instance left behind
        api.post(f'/runs/{run["id"]}/actions/cancel')
        helpers.wait_until(lambda: not novita.live())


async def test_the_run_page_says_the_budget_stops_the_run_first(admin: User) -> None:
    owner = await UserModel.get(email=helpers.ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Budgeted')
    data, _ = await runs.create_run(owner, project['id'], name='big')
    # as if launched on a $36/h machine into a $10 budget (an external run bills nothing of itself)
    await Run.filter(id=data['id']).update(price_per_hour=Decimal(36))
    await Project.filter(id=project['id']).update(budget_usd=Decimal(10))
    await ingest.report(await Run.get(id=data['id']), {'progress': {'step': 1, 'total_steps': 100_000}})
    await asyncio.sleep(0.5)
    await ingest.report(await Run.get(id=data['id']), {'progress': {'step': 2, 'total_steps': 100_000}})
    await admin.open(f'/runs/{data["id"]}')
    await admin.should_see('The project budget ($10.00) stops the run first, at about $10.00')
