"""In Debian's Chromium: a browser whose session ends elsewhere (a password change, a revoke) leaves its open tabs."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import Server
from tests.test_browser import browser  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.browser


def test_an_open_tab_whose_session_ended_is_sent_to_sign_in_at_once(browser, server: Server) -> None:  # noqa: F811
    """A password changed elsewhere (through the API here) ends the browser's session: its open tab leaves."""
    import httpx
    from playwright.sync_api import expect
    email, password = f'tab-{uuid.uuid4().hex[:8]}@example.com', 'a long password'
    with server.client() as admin:
        assert admin.post('/users', json={'email': email, 'password': password}).status_code == 201
    tab = browser.new_context().new_page()
    tab.goto(f'{server.url}/login')
    tab.get_by_label('Email').fill(email)
    tab.get_by_label('Password').fill(password)
    tab.get_by_role('button', name='Log in').click()
    tab.get_by_role('button', name='New project').wait_for()
    with server.client(server.token(email, password)) as me:
        changed = me.post('/me/password', json={'current_password': password, 'new_password': 'another long one'})
        assert changed.status_code == 204, changed.text
    expect(tab.get_by_role('button', name='Log in')).to_be_visible(timeout=5000)  # without a click of its own
    tab.goto(f'{server.url}/projects')
    expect(tab.get_by_role('button', name='Log in')).to_be_visible()
    tab.context.close()
    assert httpx.get(f'{server.url}/api/v1/health').status_code == 200
