"""In Debian's Chromium set to Los Angeles: the run page shows its times in Los Angeles (learned from the browser, not
the server's UTC), the log's lines carry their times, searching reads the server, and the download is the whole log
as a text file with Los Angeles times."""

import re
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, Server
from tests.test_browser import browser, signed_in  # noqa: F401  (the module's Chromium)

pytestmark = pytest.mark.browser
LA = ZoneInfo('America/Los_Angeles')


def test_a_browser_in_los_angeles_sees_los_angeles_times(browser, server: Server) -> None:  # noqa: F811
    from playwright.sync_api import expect
    with server.client() as api:
        project = api.post('/projects', json={'name': f'tz {uuid.uuid4().hex[:6]}'}).json()
        run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'west-coast'}).json()
        answer = httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report',
                            headers={'Authorization': f'Bearer {run["token"]}'},
                            json={'progress': {'step': 1, 'total_steps': 10},
                                  'logs': [f'INFO step {n}' for n in range(300)] + ['ERROR the loss is NaN']})
        assert answer.status_code == 200, answer.text
        started = datetime.fromisoformat(api.get(f'/runs/{run["id"]}').json()['started_at'])
        newest = api.get(f'/runs/{run["id"]}/logs', params={'limit': 1}).json()[0]
    tab = signed_in(browser, server.url, ADMIN_EMAIL, ADMIN_PASSWORD, width=1440,
                    timezone_id='America/Los_Angeles', accept_downloads=True)
    context = tab.context
    tab.goto(f'{server.url}/runs/{run["id"]}')

    last = tab.locator('.tb-log-line').last
    last.wait_for()
    assert last.inner_text() == 'ERROR the loss is NaN'
    assert last.get_attribute('data-t') == datetime.fromtimestamp(newest['time'], LA).strftime('%H:%M:%S')
    zone = started.astimezone(LA).strftime('%Z')  # PST or PDT
    assert tab.get_by_text(re.compile('^started ')).get_attribute('title') \
        == started.astimezone(LA).strftime(f'%Y-%m-%d %H:%M:%S {zone}')
    assert tab.locator('.tb-log-line').count() == 200  # the newest page; older ones on asking

    tab.get_by_placeholder('Search the log').fill('step 1')
    expect(tab.locator('.tb-log-line')).to_have_count(111)  # steps 1, 10-19, 100-199: read from the server
    expect(tab.locator('.tb-log-line').first).to_have_text('INFO step 1')

    # scrolling the log to its top in one jump (the Home key, the bar dragged up) reads the page before, keeps the
    # line that was at the top where it was, and ends following; also after Follow was turned off and on again at
    # the bottom (which scrolls nowhere: that once made the box take the reader's next scroll for its own)
    tab.get_by_placeholder('Search the log').fill('')
    expect(tab.locator('.tb-log-line')).to_have_count(200)
    follow = tab.get_by_role('switch', name='Follow')
    follow.click()
    expect(follow).to_have_attribute('aria-checked', 'false')
    follow.click()
    expect(follow).to_have_attribute('aria-checked', 'true')
    tab.wait_for_timeout(300)  # the box has scrolled (nowhere) to the newest line
    tab.locator('.tb-log .q-scrollarea__container').evaluate('box => { box.scrollTop = 0; }')
    expect(tab.locator('.tb-log-line')).to_have_count(301, timeout=15_000)  # a page read on a busy machine
    expect(follow).to_have_attribute('aria-checked', 'false')
    offset = tab.get_by_text('INFO step 101', exact=True).evaluate(
        'line => line.getBoundingClientRect().top - line.closest(".q-scrollarea__container")'
        '.getBoundingClientRect().top')
    assert -40 < offset < 80, offset  # not pushed 101 lines down by the lines above it

    with tab.expect_download() as download:
        tab.get_by_role('link', name='Download').or_(tab.get_by_role('button', name='Download')).first.click()
    text = Path(download.value.path()).read_text(encoding='utf-8').splitlines()
    assert len(text) == 301 and text[-1].endswith(f' {zone} ERROR the loss is NaN')
    assert text[-1].startswith(datetime.fromtimestamp(newest['time'], LA).strftime('%Y-%m-%d %H:%M:%S'))
    context.close()
