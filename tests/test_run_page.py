"""/runs/{id}: everything a run reports shows up live, and charts grow without resending their series."""

import pytest
from nicegui import ElementFilter, ui
from nicegui.testing import User

from components.metric_chart import MetricChart
from components.runs_table import RunsTable
from components.status_badge import IN_BETWEEN, STOP, StatusBadge
from components.step_timeline import StepTimeline
from models import Run, RunStatus
from models import User as UserModel
from services import ingest, lifecycle, projects, run_labels, runs, sample_data
from services.lifecycle import Cause
from tests.helpers import ADMIN_EMAIL, eventually, without_local_jobs


async def new_run() -> dict:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Watched')
    data, _ = await runs.create_run(owner, project['id'], name='mlp', config={'lr': 0.1, 'layers': [64, 64]})
    return data


async def test_a_run_reports_and_the_page_follows(admin: User) -> None:
    run = await new_run()
    await admin.open(f'/runs/{run["id"]}')
    await admin.should_see('queued')
    await admin.should_see('No metrics yet')
    await admin.should_see('"lr": 0.1')

    model = await Run.get(id=run['id'])
    await ingest.report(model, {
        'steps': [{'name': 'training', 'status': 'running', 'description': 'epoch 1 of 2'}],
        'progress': {'step': 50, 'total_steps': 200},
        'metrics': [{'name': 'loss', 'step': s, 'value': 1 / (s + 1)} for s in range(50)],
        'logs': ['epoch 1 starts'],
    })
    await admin.should_see('running')
    await admin.should_see('25% · step 50 of 200')
    await admin.should_see('epoch 1 of 2')
    await admin.should_see(MetricChart, retries=20)  # the first points make a chart
    chart = next(iter(admin.find(MetricChart).elements))
    assert chart.points_shown == 50
    await admin.should_see('epoch 1 starts', retries=20)

    await ingest.report(model, {'metrics': [{'name': 'loss', 'step': s, 'value': 0.01} for s in range(50, 80)]})
    await eventually(lambda: chart.points_shown == 80, every_s=0.1)
    assert chart.points_shown == 80
    assert len(chart.options['series'][0]['data']) == 50  # appended in the browser, not resent from here

    await ingest.report(model, {'status': {'state': 'failed', 'message': 'CUDA out of memory'}})
    await admin.should_see('CUDA out of memory')
    timeline = next(iter(admin.find(StepTimeline).elements))
    assert timeline is not None


async def test_sample_runs_look_the_same(admin: User, monkeypatch: pytest.MonkeyPatch) -> None:
    without_local_jobs(monkeypatch)
    owner = await UserModel.get(email=ADMIN_EMAIL)
    await sample_data.load(owner)
    run = await Run.get(name='resnet50-cosine-lr')
    await admin.open(f'/runs/{run.id}')
    await admin.should_see('stopped')
    charts = admin.find(MetricChart).elements
    assert {c.options['title']['text'] for c in charts} == {'train/loss', 'train/accuracy', 'val/loss', 'val/accuracy',
                                                            'lr', 'system/gpu_utilization'}
    loss = next(c for c in charts if c.options['title']['text'] == 'train/loss')
    assert 100 < len(loss.options['series'][0]['data']) <= 1000  # a few hundred points, or downsampled on the server


async def test_the_run_page_shows_the_team_s_tags_and_note_live(admin: User) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Labels')
    data, _ = await runs.create_run(owner, project['id'], name='tagged')
    await run_labels.set_labels(owner, data['id'], tags=['baseline', 'lr-sweep'], note='Compare everything with it.')
    await admin.open(f'/runs/{data["id"]}')
    await admin.should_see('Compare everything with it.')
    labels = next(iter(admin.find(marker='run-labels').elements))
    assert [chip.text for chip in labels.descendants() if isinstance(chip, ui.chip)] == ['baseline', 'lr-sweep']
    await run_labels.set_labels(owner, data['id'], tags=['best'], note='')  # edited in the table meanwhile
    await admin.should_not_see('Compare everything with it.')
    assert [chip.text for chip in labels.descendants() if isinstance(chip, ui.chip)] == ['best']


async def test_a_run_that_ended_before_it_started_says_so(admin: User) -> None:
    run = await new_run()
    await lifecycle.move(await Run.get(id=run['id']), RunStatus.CANCELLED, cause=Cause.USER)
    await admin.open(f'/runs/{run["id"]}')
    await admin.should_see('never started')  # not 'started —' beside a lone '—' for its duration
    await admin.should_not_see('started —')


async def test_foreign_runs_are_not_shown(admin: User) -> None:
    await admin.open('/runs/999')
    await admin.should_see('Run 999 not found.')


async def test_project_page_lists_runs_live(admin: User) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Table')
    await admin.open(f'/projects/{project["id"]}')
    await admin.should_see('No runs yet')
    data, _ = await runs.create_run(owner, project['id'], name='live-run')
    table = next(iter(admin.find(RunsTable).elements))
    await eventually(lambda: table.rows)
    assert [row['name'] for row in table.rows] == ['live-run']
    await ingest.report(await Run.get(id=data['id']), {'progress': {'fraction': 0.5}})
    await eventually(lambda: table.rows[0]['progress'] == 0.5)
    assert table.rows[0]['status'] == 'running' and table.rows[0]['progress'] == 0.5


async def test_launch_a_local_run_from_the_form_and_stop_it(admin: User, tmp_path) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Launch')
    await admin.open(f'/projects/{project["id"]}')
    admin.find('New run').click()
    await admin.should_see('This run will cost $0.00 per hour while it runs.')
    admin.find('Command').clear()
    admin.find('Environment').type('not an env line')
    admin.find(kind=ui.button, content='Launch').click()
    await admin.should_see('Line 1 of the environment is not NAME=value.')
    admin.find('Environment').clear().type('SEED=7')
    admin.find(kind=ui.button, content='Launch').click()
    await admin.should_see('A run on "local" needs a command to run.')
    admin.find('Command').type('sleep 30')
    admin.find('Max cost (USD)').type('-1')
    admin.find(kind=ui.button, content='Launch').click()
    await admin.should_see('Max cost must be a number of dollars above 0, or empty for no limit; "-1" is not.')
    admin.find('Max cost (USD)').clear().type('5')
    admin.find('Max duration (hours)').type('2')
    admin.find(kind=ui.button, content='Launch').click()
    await admin.should_see(marker='run-cancel', retries=20)  # on the new run's page
    await admin.should_see('limits: $5.00 · 2h 00m')
    run = await Run.get(project_id=project['id'])
    assert run.status == 'queued' and run.spec['command'] == 'sleep 30'  # the leader launches it
    assert runs.launch_spec(run)['envs'] == {'SEED': '7'} and run.spec['envs'] == {'SEED': '••••'}
    assert (float(run.max_cost_usd), run.max_duration_s, run.stall_timeout_s) == (5.0, 7200, None)
    admin.find(marker='run-cancel').click()
    await admin.should_see('Cancel this run?')
    admin.find(marker='confirm').click()
    await admin.should_see('Cancel requested')
    await admin.should_see('cancelled')
    assert (await Run.get(id=run.id)).status == 'cancelled'


async def test_a_stop_reads_as_a_stop_with_its_reason(admin: User) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    run = await new_run()
    await admin.open(f'/runs/{run["id"]}')
    await admin.should_see('Watched')  # the breadcrumb names the project
    await admin.should_see('not started yet')
    with admin:  # every label, the hidden ones too
        [duration] = [label for label in ElementFilter(kind=ui.label) if label.props.get('title') == 'duration']
    assert not duration.visible  # no lone '—' beside it
    model = await Run.get(id=run['id'])
    await ingest.report(model, {'steps': [{'name': 'training', 'status': 'running', 'description': 'epoch 1'}]})
    await admin.should_not_see('not started yet')  # it started while the page was open
    await admin.should_see('started just now')

    await lifecycle.move(await Run.get(id=run['id']), RunStatus.PAUSING, cause=Cause.USER, by=owner)
    await admin.should_see('pausing')
    assert _badge(admin)._props['color'] == IN_BETWEEN

    model = await Run.get(id=run['id'])
    await lifecycle.move(model, RunStatus.STOPPING, cause=Cause.BUDGET,
                         reason='Stopped by the project budget at $10.00')
    await admin.should_see('Stopped by the project budget at $10.00')
    await Run.filter(id=run['id']).update(control_error='Novita unreachable since 13:02, retrying')
    await lifecycle.publish(await Run.get(id=run['id']))
    await admin.should_see('stopping — Novita unreachable since 13:02, retrying')

    model = await Run.get(id=run['id'])
    await lifecycle.move(model, RunStatus.STOPPED, cause=Cause.PROVIDER)
    await admin.should_see('Stopped by the project budget at $10.00')
    assert _badge(admin)._props['color'] == STOP
    reason = next(iter(admin.find('Stopped by the project budget at $10.00').elements))
    assert f'text-{STOP}' in reason.classes and 'text-negative' not in reason.classes
    icon = next(e for e in admin.find(ui.icon).elements if e._props.get('title') == 'stopped')
    assert icon._props['name'] == 'stop_circle'  # the step ended with the run: stopped, not failed


def _badge(user: User) -> StatusBadge:
    return next(b for b in user.find(StatusBadge).elements if b.text in RunStatus.__members__.values())


async def test_a_run_that_reports_through_mlflow_offers_stop_but_no_pause(admin: User) -> None:
    run = await new_run()
    model = await Run.get(id=run['id'])
    await ingest.report(model, {'status': {'state': 'running'}})
    await admin.open(f'/runs/{run["id"]}')
    await admin.should_see(marker='run-pause')  # the SDK's code hears a pause
    await Run.filter(id=run['id']).update(mlflow_tags={'mlflow.user': 'ada'})  # as MLflow's client makes a run
    await admin.open(f'/runs/{run["id"]}')
    await admin.should_see(marker='run-stop')
    await admin.should_not_see(marker='run-pause')
