"""Retry: an external run's retry answers a fresh token (shown once in the UI, with the SDK lines), which its code
reports with; a launched run's retry relaunches it with the same spec."""

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from nicegui import ui
from nicegui.testing import User

from components.token_dialog import sdk_lines
from models import Run, RunStatus
from models import User as UserModel
from services import auth, lifecycle, projects, runs
from tests import helpers
from tests.helpers import ADMIN_EMAIL, Server


def report(server: Server, run_id: int, token: str, body: dict) -> httpx.Response:
    return httpx.post(f'{server.url}/api/v1/runs/{run_id}/report', json=body,
                      headers={'Authorization': f'Bearer {token}'})


def test_an_external_run_s_retry_answers_a_fresh_token_that_reports_to_the_new_run(api: httpx.Client,
                                                                                    server: Server) -> None:
    project = api.post('/projects', json={'name': f'retry-{uuid.uuid4().hex[:8]}'}).json()
    created = api.post(f'/projects/{project["id"]}/runs', json={'name': 'elsewhere', 'config': {'lr': 0.1}}).json()
    old_token = created['token']
    assert report(server, created['id'], old_token, {'status': {'state': 'failed'}}).status_code == 200

    answer = api.post(f'/runs/{created["id"]}/actions/retry')
    assert answer.status_code == 202, answer.text
    retried = answer.json()
    assert retried['id'] != created['id'] and retried['name'] == 'elsewhere (retry)'
    assert retried['status'] == 'queued' and retried['config'] == {'lr': 0.1} and retried['provider'] == 'external'
    assert set(retried) == set(created)  # RunOut's fields, and the token
    token = retried['token']
    assert token.startswith(runs.RUN_TOKEN_PREFIX) and token != old_token

    refused = report(server, retried['id'], old_token, {'logs': ['from the old code']})
    assert refused.status_code == 401  # the old run's token is not the new run's
    assert report(server, retried['id'], token, {'progress': {'fraction': 0.25}, 'logs': ['hi']}).status_code == 200
    state = api.get(f'/runs/{retried["id"]}').json()
    assert state['status'] == 'running' and state['progress'] == 0.25
    assert [line['line'] for line in api.get(f'/runs/{retried["id"]}/logs').json()] == ['hi']

    stopped = api.post(f'/runs/{retried["id"]}/actions/cancel')  # the other actions answer as they did
    assert stopped.status_code == 202 and 'token' not in stopped.json()
    unfinished = api.post(f'/projects/{project["id"]}/runs', json={'name': 'still going'}).json()
    conflict = api.post(f'/runs/{unfinished["id"]}/actions/retry')
    assert conflict.status_code == 409 and 'queued' in conflict.json()['detail']
    assert api.post('/runs/999999/actions/retry').status_code == 404


@pytest.fixture
def polling_server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    env = helpers.app_env(database_url, tmp_path / 'data', TRAINBOARD_SCHEDULER_ENABLED='true',
                          TRAINBOARD_POLL_INTERVAL_S='0.3', TRAINBOARD_JOB_LOGS_INTERVAL_S='0.2')
    server = Server(env).start()
    yield server
    server.stop()


def test_a_local_run_s_retry_relaunches_the_same_command(polling_server: Server) -> None:
    api = polling_server.client()
    project = api.post('/projects', json={'name': f'local-{time.time_ns()}'}).json()
    command = 'echo "run $TRAINBOARD_RUN_ID says $GREETING"'
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'hello', 'provider': 'local', 'command': command,
                                                            'envs': {'GREETING': 'hi'}}).json()
    assert helpers.wait_for_status(api, run, 'succeeded', 'failed')['status'] == 'succeeded'

    answer = api.post(f'/runs/{run["id"]}/actions/retry')
    assert answer.status_code == 202, answer.text
    retried = answer.json()
    assert retried['token'] is None  # its job is handed its own
    assert retried['provider'] == 'local' and retried['name'] == 'hello (retry)'
    assert helpers.wait_for_status(api, retried, 'succeeded', 'failed')['status'] == 'succeeded'
    said = f'run {retried["id"]} says hi'  # the same command and environment, for the new run
    helpers.wait_until(lambda: said in [line['line'] for line in api.get(f'/runs/{retried["id"]}/logs').json()])


async def finished_run(provider: str = 'external', **spec: str) -> Run:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name=f'Retried {provider}')
    data, _ = await runs.create_run(owner, project['id'], name='first', provider=provider, spec=spec or None)
    run = await Run.get(id=data['id'])
    assert await lifecycle.move(run, RunStatus.FAILED, cause=lifecycle.Cause.SYSTEM, reason='it broke')
    return run


async def test_retry_in_the_page_shows_an_external_run_s_token_once_then_opens_the_new_run(admin: User) -> None:
    run = await finished_run()
    await admin.open(f'/runs/{run.id}')
    admin.find(marker='run-retry').click()
    await admin.should_see(marker='run-token', retries=50)
    new = await Run.get(name='first (retry)')
    shown = next(iter(admin.find(marker='run-token').elements)).content
    token = shown.split('TRAINBOARD_RUN_TOKEN=')[1].split()[0]
    assert auth.hash_token(token) == new.token_hash  # the new run's token, which only this dialog shows
    assert shown == sdk_lines(new.id, token) and f'TRAINBOARD_RUN_ID={new.id}' in shown
    admin.find(marker='run-token-done').click()
    await admin.should_see('first (retry)', retries=50)  # the new run's page
    await admin.should_not_see(marker='run-token')


async def test_retry_in_the_page_relaunches_a_launched_run_without_a_token(admin: User) -> None:
    run = await finished_run('local', command='true')
    await admin.open(f'/runs/{run.id}')
    admin.find(marker='run-retry').click()
    await admin.should_see('first (retry)', retries=50)
    await admin.should_not_see(marker='run-token')
    new = await Run.get(name='first (retry)')
    assert new.provider == 'local' and runs.launch_spec(new)['command'] == 'true'
    assert new.status == 'queued'  # to be launched, as the first was, by the leader's next poll
    await admin.should_see(kind=ui.button, marker='run-cancel')  # its page, with what a launched run may do
