"""In Debian's Chromium: the pages work under the Content-Security-Policy, and a browser session leaves only files
that the server's user alone may read."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests import helpers
from tests.helpers import Server
from tests.test_browser import browser, signed_in_tabs  # noqa: F401  (browser: the module's Chromium fixture)

pytestmark = pytest.mark.browser
REPORT_VIOLATIONS = """document.addEventListener('securitypolicyviolation',
    event => console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`))"""


def test_pages_render_and_stay_live_under_the_content_security_policy(browser, server: Server) -> None:  # noqa: F811
    from playwright.sync_api import expect
    context = browser.new_context()
    context.add_init_script(REPORT_VIOLATIONS)
    messages: list[str] = []
    context.on('console', lambda message: messages.append(message.text))
    tab = context.new_page()
    sockets: list = []
    tab.on('websocket', lambda socket: sockets.append(socket))
    tab.goto(f'{server.url}/login')  # signing in needs Vue's templates and the websocket
    tab.get_by_label('Email').fill(helpers.ADMIN_EMAIL)
    tab.get_by_label('Password').fill(helpers.ADMIN_PASSWORD)
    tab.get_by_role('button', name='Log in').click()
    name = f'under the policy {helpers.free_port()}'
    tab.get_by_role('button', name='New project').click()  # on /projects
    tab.get_by_label('Name').fill(name)
    tab.get_by_role('button', name='Create').click()
    expect(tab.get_by_role('link', name=name, exact=True)).to_be_visible(timeout=2000)  # pushed over the socket
    context.close()
    assert not [m for m in messages if 'Content Security Policy' in m or 'CSP violation' in m], messages
    assert any('/_nicegui_ws/' in socket.url for socket in sockets)


def test_a_browser_session_leaves_only_private_files(browser, tmp_path: Path, backend: str,  # noqa: F811
                                                     database_url: str) -> None:
    data_dir = tmp_path / 'data'
    sessions = data_dir / 'sessions'
    sessions.mkdir(parents=True)
    (sessions / 'storage-user-older.json').write_text('{}')
    for path, loose in ((data_dir, 0o755), (sessions, 0o755), (sessions / 'storage-user-older.json', 0o644)):
        path.chmod(loose)  # as an earlier version left them
    server = Server(helpers.app_env(database_url, data_dir)).start()
    try:
        (tab,) = signed_in_tabs(browser, server.url, 1)
        helpers.wait_until(lambda: len(list(sessions.glob('storage-user-*.json'))) == 2)  # the new session's
        tab.context.close()
    finally:
        server.stop()
    paths = [data_dir, data_dir / 'secret.key', sessions, *sessions.iterdir()]
    if backend == 'sqlite':
        paths += list(tmp_path.glob('trainboard.sqlite3*'))  # the database and its -wal and -shm
    modes = {str(path): oct(stat.S_IMODE(path.stat().st_mode)) for path in paths}
    assert all(mode == ('0o700' if Path(path).is_dir() else '0o600') for path, mode in modes.items()), modes
