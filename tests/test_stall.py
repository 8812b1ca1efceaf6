"""A run that stops reporting: its people hear first, and it fails only a grace period later, unless it reports
meanwhile; a later silence is told anew. Time is passed in (`now=`), not slept."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from models import Event, Notification, Run, RunStatus
from services import auth, ingest, lifecycle, projects, runs
from services.background import limits
from services.errors import Invalid
from services.lifecycle import Cause

S = RunStatus
HOUR = 3600


async def _running(limits_: dict, *, project_settings: dict | None = None) -> tuple[Run, float]:
    """A running external run of 'vision' that last heard from its code an hour ago; and now."""
    owner = await auth.create_user(f'olga{time.monotonic_ns()}@example.com', 'a long password')
    project = await projects.create_project(owner, name='vision')
    if project_settings:
        await projects.update_project(owner, project['id'], **project_settings)
    data, _token = await runs.create_run(owner, project['id'], name='bert', limits=limits_)
    run = await Run.get(id=data['id'])
    assert await lifecycle.move(run, S.RUNNING, cause=Cause.JOB)
    now = time.time()
    await Run.filter(id=run.id).update(started_at=datetime.now(UTC) - timedelta(seconds=HOUR))
    return await Run.get(id=run.id), now


async def _state(run: Run) -> Run:
    return await Run.get(id=run.id)


async def test_a_stall_is_told_first_and_fails_the_run_after_the_grace(orm: str) -> None:
    run, now = await _running({'stall_timeout_s': 600})
    assert await limits.enforce(now=now) == 0
    stored = await _state(run)
    assert stored.status == S.RUNNING and stored.stall_notified_at == pytest.approx(now)
    event = await Event.get(kind='run.stalled')
    assert event.run_id == run.id and event.key == f'stall:{run.id}:{int(run.started_at.timestamp())}'
    assert event.message.startswith('"bert" in vision has not reported for 1 h (last heard at ')
    assert event.message.endswith('it fails in 10 min unless it reports.')
    assert await Notification.filter(event_id=event.id).count() == 1  # its owner

    await limits.enforce(now=now + 599)  # within the grace: told once, left running
    assert (await _state(run)).status == S.RUNNING and await Event.filter(kind='run.stalled').count() == 1
    assert await limits.enforce(now=now + 600) == 1
    failed = await _state(run)
    assert failed.status == S.FAILED and failed.status_cause == Cause.STALL
    assert failed.status_message.startswith('Stalled: no report for 1 h 10 min (last heard at ')
    assert failed.status_message.endswith('its people were told 10 min ago.')


async def test_a_report_during_the_grace_keeps_the_run_and_a_later_stall_is_told_anew(orm: str) -> None:
    run, now = await _running({'stall_timeout_s': 600})
    await limits.enforce(now=now)
    await ingest.report(await _state(run), {'progress': {'fraction': 0.5}})  # heard from, at about `now`
    assert (await _state(run)).stall_notified_at is None
    await limits.enforce(now=now + 570)  # past the first grace, but not silent long enough again
    assert (await _state(run)).status == S.RUNNING
    assert await Event.filter(kind='run.stalled').count() == 1

    await limits.enforce(now=now + 630)  # silent for the stall timeout again: told again, not failed
    assert (await _state(run)).status == S.RUNNING
    assert await Event.filter(kind='run.stalled').count() == 2
    await limits.enforce(now=now + 630 + 600)
    assert (await _state(run)).status == S.FAILED


async def test_a_job_s_own_output_is_not_a_report(orm: str) -> None:
    run, now = await _running({'stall_timeout_s': 600})
    await limits.enforce(now=now)
    await ingest.record_output(await _state(run), logs=['still printing'])  # a log copy: no word from its code
    assert (await _state(run)).stall_notified_at == pytest.approx(now)
    await limits.enforce(now=now + 600)
    assert (await _state(run)).status == S.FAILED


@pytest.mark.parametrize(('run_grace', 'project_grace', 'expected'), [
    (60, 120, 60),  # the run's own
    (None, 120, 120),  # else its project's
    (None, None, 600),  # else the stall timeout again
])
async def test_the_grace_period_is_the_run_s_then_the_project_s_then_the_timeout(
        orm: str, run_grace: int | None, project_grace: int | None, expected: int) -> None:
    run, now = await _running({'stall_timeout_s': 600, 'stall_grace_s': run_grace},
                              project_settings={'stall_grace_s': project_grace} if project_grace else None)
    await limits.enforce(now=now)
    await limits.enforce(now=now + expected - 1)
    assert (await _state(run)).status == S.RUNNING
    await limits.enforce(now=now + expected)
    assert (await _state(run)).status == S.FAILED


async def test_a_run_s_grace_needs_a_stall_timeout_and_bounds(orm: str) -> None:
    owner = await auth.create_user('olga@example.com', 'a long password')
    project = await projects.create_project(owner, name='vision')
    with pytest.raises(Invalid, match='stall_grace_s .* needs a stall_timeout_s'):
        await runs.create_run(owner, project['id'], name='x', limits={'stall_grace_s': 60})
    with pytest.raises(Invalid, match='stall_grace_s must be a number of seconds above 0'):
        await runs.create_run(owner, project['id'], name='x', limits={'stall_timeout_s': 60, 'stall_grace_s': 0})
    assert not await Run.exists()
    data, _ = await runs.create_run(owner, project['id'], name='x', limits={'stall_timeout_s': 60,
                                                                             'stall_grace_s': 90})
    assert data['limits']['stall_grace_s'] == 90


def test_the_run_api_takes_a_grace_period(api) -> None:
    project = api.post('/projects', json={'name': f'stall-{time.monotonic_ns()}'}).json()
    runs_url = f'/projects/{project["id"]}/runs'
    refused = api.post(runs_url, json={'name': 'x', 'stall_grace_s': 60})
    assert refused.status_code == 422 and 'stall_timeout_s' in refused.json()['detail']
    refused = api.post(runs_url, json={'name': 'x', 'stall_timeout_s': 60, 'stall_grace_s': 0})
    assert refused.status_code == 422 and 'stall_grace_s' in str(refused.json()['detail'])
    made = api.post(runs_url, json={'name': 'x', 'stall_timeout_s': 60, 'stall_grace_s': 300}).json()
    assert made['limits'] == {'max_cost_usd': None, 'max_duration_s': None, 'stall_timeout_s': 60,
                              'stall_grace_s': 300}
