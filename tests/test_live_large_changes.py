"""Live updates across processes when a change is too big for PostgreSQL's NOTIFY (8000 bytes): a run with a 20 KB
config, a project with a long description. The other process's tabs re-read what they show; nothing crashes."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import helpers
from tests.helpers import Server
from tests.test_browser import (
    SEEN_WITHIN_MS,
    browser,  # noqa: F401  (the module's Chromium fixture)
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not helpers.POSTGRES_URL, reason='cross-process updates need PostgreSQL: set '
                                 'TRAINBOARD_TEST_POSTGRES_URL (.ci/run does); SQLite is single-process by design')]
MEMBER, MEMBER_PASSWORD = 'mia@example.com', 'a long password for mia'


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    url = helpers.database_url('postgres', tmp_path)
    env = helpers.app_env(url, tmp_path / 'data', TRAINBOARD_SECRET_KEY='shared between the two processes')
    first = Server(env).start()
    second = Server(env).start()
    yield first, second
    first.stop()
    second.stop()
    helpers.drop_schema(url)


def test_big_changes_made_on_one_process_update_the_other_s_tabs(browser, two_processes) -> None:  # noqa: F811
    from playwright.sync_api import expect
    first, second = two_processes
    config = {'tokens': [f'token-{i:05d}' for i in range(1600)], 'lr': 0.001}  # about 20 KB
    with first.client() as api:
        assert api.post('/users', json={'email': MEMBER, 'password': MEMBER_PASSWORD}).status_code == 201
        # a project whose snapshot, members and all, is over the limit too: 5,000 characters of 3 bytes each
        project = api.post('/projects', json={'name': 'big', 'description': '€' * 5000}).json()
        assert api.post(f'/projects/{project["id"]}/members', json={'email': MEMBER, 'role': 'editor'}) \
            .status_code == 201
        run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'wide-config', 'config': config}).json()
    assert len(str(config)) > 20_000

    context = browser.new_context()
    run_tab = _signed_in(context, second.url)
    run_tab.goto(f'{second.url}/runs/{run["id"]}')
    expect(run_tab.get_by_text('token-01599')).to_be_visible()  # the config is shown whole
    project_tab = context.new_page()
    project_tab.goto(f'{second.url}/projects/{project["id"]}')
    expect(project_tab.get_by_role('link', name='wide-config')).to_be_visible()
    projects_tab = context.new_page()
    projects_tab.goto(f'{second.url}/projects')
    expect(projects_tab.get_by_role('link', name='big', exact=True)).to_be_visible()

    report = {'steps': [{'name': 'training', 'status': 'running', 'description': 'epoch 1 of 4'}],
              'progress': {'step': 50, 'total_steps': 200},
              # 600 points: too big for NOTIFY as well, so the chart catches up by reading them
              'metrics': [{'name': 'loss', 'step': s, 'value': 1 / (s + 1)} for s in range(600)]}
    httpx.post(f'{first.url}/api/v1/runs/{run["id"]}/report', json=report,
               headers={'Authorization': f'Bearer {run["token"]}'}).raise_for_status()

    expect(run_tab.get_by_text('25% · step 50 of 200')).to_be_visible(timeout=SEEN_WITHIN_MS)
    expect(run_tab.get_by_text('epoch 1 of 4')).to_be_visible(timeout=SEEN_WITHIN_MS)
    expect(run_tab.locator('[data-metric="loss"]')).to_be_visible(timeout=SEEN_WITHIN_MS)
    expect(project_tab.locator('tbody tr', has_text='wide-config')).to_contain_text('running', timeout=SEEN_WITHIN_MS)
    expect(projects_tab.get_by_text('1 run: 1 running')).to_be_visible(timeout=SEEN_WITHIN_MS)

    with first.client() as api:  # a change to the project itself, as big as before
        api.patch(f'/projects/{project["id"]}', json={'name': 'big renamed'}).raise_for_status()
    expect(projects_tab.get_by_role('link', name='big renamed', exact=True)).to_be_visible(timeout=SEEN_WITHIN_MS)
    expect(project_tab.get_by_text('big renamed', exact=True)).to_be_visible(timeout=SEEN_WITHIN_MS)

    httpx.post(f'{first.url}/api/v1/runs/{run["id"]}/report', json={'status': {'state': 'succeeded'}},
               headers={'Authorization': f'Bearer {run["token"]}'}).raise_for_status()
    expect(run_tab.get_by_text('succeeded', exact=True)).to_be_visible(timeout=SEEN_WITHIN_MS)
    expect(project_tab.locator('tbody tr', has_text='wide-config')).to_contain_text('succeeded', timeout=SEEN_WITHIN_MS)
    expect(projects_tab.get_by_text('1 run: 1 succeeded')).to_be_visible(timeout=SEEN_WITHIN_MS)
    context.close()
    for server in (first, second):
        log = server.log()
        assert 'Traceback' not in log and ' ERROR ' not in log, log


def _signed_in(context, url: str):
    page = context.new_page()
    page.goto(f'{url}/login')
    page.get_by_label('Email').fill(MEMBER)
    page.get_by_label('Password').fill(MEMBER_PASSWORD)
    page.get_by_role('button', name='Log in').click()
    page.get_by_role('button', name='New project').wait_for()
    return page

