"""Load sample data: finished runs with logs, live runs only as real jobs on this machine for those who may launch
them, no run left in a status nothing moves it out of, and a second load changes nothing."""

import asyncio
import hashlib
import json
import struct
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from models import LatestMetric, LogLine, Metric, Project, Role, Run, RunStep, StepStatus
from services import artifacts, auth, ingest, lifecycle, projects, run_table, sample_data
from services.background import logs_kept
from tests import helpers
from tests.helpers import Server, without_local_jobs


async def counts() -> tuple[int, ...]:
    return (await Project.all().count(), await Run.all().count(), await Metric.all().count(),
            await LogLine.all().count(), await RunStep.all().count())


async def test_a_member_gets_finished_runs_with_logs_and_a_second_load_changes_nothing(orm: str) -> None:
    member = await auth.create_user('ada@example.com', 'a long password')  # TRAINBOARD_LOCAL_RUNS=admins: no jobs
    created = await sample_data.load(member)
    assert [p.name for p in created] == [s.name for s in sample_data.SAMPLES]
    for run in await Run.all():
        # finished, by lifecycle's move: no sample run waits in a status nothing would move it out of
        assert lifecycle.is_finished(run.status) and run.ended_at and run.status_cause, run.name
        assert run.provider != 'local'  # there is no live run: the member may not launch on this machine
        lines = [line['line'] for line in await ingest.log_tail(run.id)]
        assert lines[0] == sample_data.SAMPLE_NOTE and len(lines) >= 2, run.name
        steps = await RunStep.filter(run_id=run.id)
        assert not [s for s in steps if s.status in {StepStatus.RUNNING, StepStatus.PENDING}], run.name
    failed = await Run.get(name='resnet50-bs1024')
    assert failed.status == 'failed' and failed.status_cause == 'system'
    assert (await ingest.log_tail(failed.id))[-1]['line'] == failed.status_message == 'CUDA out of memory at step 900'
    before = await counts()

    assert await sample_data.load(member) == []  # loading again changes nothing
    assert await counts() == before
    seen = sorted(p.name for p in await projects.visible_projects(member))
    assert seen == sorted(s.name for s in sample_data.SAMPLES)


async def test_every_view_has_something_to_show(orm: str) -> None:
    """Last week's runs and today's, configs that differ, tags and notes, every way a run ends with its reason, metrics
    grouped by prefix with a few hundred points, log lines of several levels: what the table, the charts, the
    comparison and the log viewer need to show something."""
    member = await auth.create_user('ada@example.com', 'a long password')
    await sample_data.load(member)
    every = await Run.all()
    now = datetime.now(UTC)
    ages = [(now - run.created_at).days for run in every]
    assert min(ages) == 0 and any(6 <= age <= 8 for age in ages) and max(ages) <= 14  # today's, last week's
    assert all(len(run.config) >= 8 for run in every)
    for project in await Project.all():  # a sweep: some config keys differ within each project
        configs = [run.config for run in every if run.project_id == project.id]
        assert len({key for key in configs[0] if len({json.dumps(c.get(key)) for c in configs}) > 1}) >= 2
    assert sum(bool(run.tags) for run in every) >= len(every) // 2 and sum(bool(run.note) for run in every) >= 5
    causes = {(run.status, run.status_cause) for run in every}
    assert {('succeeded', 'system'), ('failed', 'system'), ('stopped', 'user'), ('stopped', 'cost_limit'),
            ('stopped', 'duration'), ('cancelled', 'user')} <= causes
    assert all(run.status_message for run in every if run.status != 'succeeded')
    limited = next(run for run in every if run.status_cause == 'cost_limit')
    assert limited.status_message.startswith('Stopped: cost limit $') and limited.max_cost_usd == limited.cost_usd
    best = await Run.get(name='resnet50-randaug')
    names = {m.name: m for m in await LatestMetric.filter(run_id=best.id)}
    assert {'train/loss', 'train/accuracy', 'val/loss', 'val/accuracy', 'lr', 'system/gpu_utilization'} == set(names)
    assert 200 <= await Metric.filter(run_id=best.id, name='train/loss').count() <= 1000
    levels = {line.level for line in await LogLine.filter(run_id=(await Run.get(name='resnet50-bs1024')).id)}
    assert {20, 40} <= levels  # INFO and ERROR (its traceback), which the log viewer's level filter picks
    assert await LogLine.filter(level=30).exists()  # and a WARNING somewhere
    vision = await Project.get(name=sample_data.SAMPLES[0].name)
    view = await run_table.saved_view(member, vision.id)  # the table shows what tells the runs apart
    assert view.config_columns == ['augment', 'lr'] and view.metric_columns == ['max:val/accuracy', 'min:val/loss']
    # by a config value and a metric: last week's best, and today's run of the same config below it
    found = run_table.apply(await run_table.load(member, vision.id, view.metric_keys),
                            replace(view, search='augment=randaugment', sort='max:val/accuracy'))
    assert [row.name for row in found.rows][:2] == ['resnet50-randaug', 'resnet50-randaug-seed7']


async def test_sample_artifacts_are_real_files_that_download(orm: str) -> None:
    member = await auth.create_user('ada@example.com', 'a long password')
    started = time.monotonic()
    await sample_data.load(member)
    assert time.monotonic() - started < 20  # files and all, on a busy test machine
    baseline = await Run.get(name='resnet50-baseline')
    found = {a.name: a for a in await artifacts.listed(member, baseline.id)}
    assert set(found) == {'config.json', 'model.safetensors', 'output.log'}
    assert all(a.status == 'ready' and a.sha256 for a in found.values())
    for artifact in found.values():
        _view, where = await artifacts.download(member, baseline.id, artifact.id)
        data = where.path.read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (artifact.size_bytes, artifact.sha256)
    config = json.loads((await artifacts.download(member, baseline.id, found['config.json'].id))[1].path.read_bytes())
    assert config == baseline.config
    weights = (await artifacts.download(member, baseline.id, found['model.safetensors'].id))[1].path.read_bytes()
    header = json.loads(weights[8:8 + struct.unpack('<Q', weights[:8])[0]])
    assert header['weight']['shape'] == [32, 32] and len(weights) < 8 * 1024
    log = (await artifacts.download(member, baseline.id, found['output.log'].id))[1].path.read_text()
    assert log.splitlines()[0].endswith(sample_data.SAMPLE_NOTE)
    assert (await Run.get(id=baseline.id)).logs_kept_at  # kept: the leader's log keeper has nothing more to do
    assert await logs_kept.keep_due() == 0
    never_ran = await Run.get(name='resnet50-mixup')
    assert {a.name for a in await artifacts.listed(member, never_ran.id)} == {'config.json', 'output.log'}


async def test_a_sample_shared_with_a_member_is_not_made_again_in_their_view(
        orm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    without_local_jobs(monkeypatch)
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    member = await auth.create_user('ada@example.com', 'a long password')
    vision = next(p for p in await sample_data.load(admin) if p.name.startswith('Vision'))
    await projects.add_member(admin, vision.id, member.email, 'viewer')
    created = await sample_data.load(member)
    assert [p.name for p in created] == [s.name for s in sample_data.SAMPLES[1:]]
    names = [p.name for p in await projects.visible_projects(member)]
    assert sorted(names) == sorted(s.name for s in sample_data.SAMPLES)  # each once
    assert await sample_data.load(member) == [] and await sample_data.load(admin) == []
    assert await Project.all().count() == 5


async def test_two_loads_at_once_make_one_set(orm: str) -> None:
    member = await auth.create_user('ada@example.com', 'a long password')
    first, second = await asyncio.gather(sample_data.load(member), sample_data.load(member))
    assert len(first) + len(second) == len(sample_data.SAMPLES)
    assert await Project.all().count() == len(sample_data.SAMPLES)


@pytest.fixture
def polling_server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    env = helpers.app_env(database_url, tmp_path / 'data', TRAINBOARD_SCHEDULER_ENABLED='true',
                          TRAINBOARD_POLL_INTERVAL_S='0.3', TRAINBOARD_STOP_GRACE_S='2',
                          TRAINBOARD_JOB_LOGS_INTERVAL_S='0.3')
    server = Server(env).start()
    yield server
    server.stop()


@pytest.mark.browser
def test_an_admin_s_sample_has_live_runs_on_this_machine_that_report(polling_server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, signed_in_tabs
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        (tab,) = signed_in_tabs(browser, polling_server.url, 1)
        tab.get_by_role('button', name='Load sample data').click()
        expect(tab.get_by_text('Loaded 3 sample projects')).to_be_visible(timeout=30_000)
        browser.close()
    api = polling_server.client()
    every = [run for project in api.get('/projects').json()
             for run in api.get(f'/projects/{project["id"]}/runs').json()]
    live = [run for run in every if run['name'] == sample_data.LIVE_RUN]
    assert len(live) == 2 and all(run['provider'] == 'local' for run in live)
    # the rest ended; the live ones are jobs that the poller and their reports move on
    assert all(lifecycle.is_finished(run['status']) for run in every if run not in live)
    try:
        for run in live:
            helpers.wait_until(lambda run=run: api.get(f'/runs/{run["id"]}').json()['progress'] > 0, timeout=60)
            state = api.get(f'/runs/{run["id"]}').json()
            assert state['status'] == 'running' and state['total_steps'] == sample_data.LIVE_STEPS
            names = {m['name'] for m in api.get(f'/runs/{run["id"]}/metrics').json()}
            assert names >= {'train/loss', 'lr'}  # named as the sample's finished runs are: their charts overlay
            helpers.wait_until(lambda run=run: any(line['line'].startswith('sample job:')
                                                   for line in api.get(f'/runs/{run["id"]}/logs').json()))
    finally:  # the jobs end with the test
        for run in live:
            api.post(f'/runs/{run["id"]}/actions/cancel')
        for run in live:
            helpers.wait_for_status(api, run, 'cancelled', 'stopped', 'failed', 'succeeded')
