"""In Debian's Chromium: /audit as an admin filters by action and shows a stop with its reason, and a new entry
appears without a reload; a member who owns no project is told they may not read it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests import helpers
from tests.helpers import Server
from tests.test_browser import browser, signed_in, signed_in_tabs  # noqa: F401  (browser: the module's Chromium fixture)

pytestmark = pytest.mark.browser


def _stopped_run(api, project_id: int, name: str) -> dict:
    run = api.post(f'/projects/{project_id}/runs', json={'name': name}).json()
    assert api.post(f'/runs/{run["id"]}/actions/stop').status_code == 202
    return run


def test_an_admin_filters_by_action_and_sees_the_stop_with_its_reason(browser, server: Server) -> None:  # noqa: F811
    from playwright.sync_api import expect
    tag = uuid.uuid4().hex[:8]
    with server.client() as api:
        project = api.post('/projects', json={'name': f'audited {tag}'}).json()
        _stopped_run(api, project['id'], f'stopped {tag}')
        (tab,) = signed_in_tabs(browser, server.url, 1)
        expect(tab.get_by_role('link', name='Audit', exact=True)).to_be_visible()
        tab.goto(f'{server.url}/audit')
        table = tab.locator('.q-table')
        expect(table.get_by_text('run #', exact=False).first).to_be_visible()

        tab.get_by_label('Action').click()
        tab.get_by_label('Action').fill('Run stopped')
        tab.get_by_role('option', name='Run stopped', exact=True).click()
        row = table.locator('tr', has_text=f'stopped {tag}')
        expect(row).to_have_count(1)
        expect(row).to_contain_text('admin@example.com')
        expect(row).to_contain_text('Run stopped')
        expect(row).to_contain_text(f'audited {tag}')
        expect(row).to_contain_text('Stopped by admin@example.com.')
        expect(table.get_by_text('Run launched')).to_have_count(0)  # the filter holds
        with tab.expect_download() as download:
            tab.get_by_role('button', name='Export CSV').click()
        exported = Path(download.value.path()).read_text()
        assert exported.startswith('id,when_utc,actor,action,label,')
        assert f'stopped {tag}' in exported and 'run.created' not in exported  # the filtered view

        # live: a stop made elsewhere shows without a reload
        _stopped_run(api, project['id'], f'later {tag}')
        expect(table.locator('tr', has_text=f'later {tag}')).to_have_count(1, timeout=3000)
    tab.context.close()


def test_a_member_who_owns_nothing_is_told_not_allowed(browser, server: Server) -> None:  # noqa: F811
    from playwright.sync_api import expect
    email, password = f'{uuid.uuid4().hex[:8]}@example.com', 'member-password'
    with server.client() as api:
        assert api.post('/users', json={'email': email, 'password': password}).status_code == 201
    tab = signed_in(browser, server.url, email, password)
    tab.get_by_role('button', name='New project').wait_for()
    expect(tab.get_by_role('link', name='Projects', exact=True)).to_be_visible()
    expect(tab.get_by_role('link', name='Audit', exact=True)).to_have_count(0)
    tab.goto(f'{server.url}/audit')
    expect(tab.get_by_text('Not allowed: only admins and project owners can read the audit trail.')).to_be_visible()
    expect(tab.locator('.q-table')).to_have_count(0)
    assert helpers.ADMIN_EMAIL not in tab.content()  # nothing of the trail

    with server.client(server.token(email, password)) as own:  # once they own a project, they read its trail
        project = own.post('/projects', json={'name': f'own {uuid.uuid4().hex[:8]}'}).json()
    tab.goto(f'{server.url}/projects')
    tab.get_by_role('link', name='Audit', exact=True).click()
    expect(tab.locator('.q-table tr', has_text='Project created')).to_contain_text(project['name'])
    expect(tab.locator('.q-table tbody tr')).to_have_count(1)
    tab.context.close()

