"""In Debian's Chromium: /compare on a phone, with names a run's code chose, and its copy-link button."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests import helpers
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, Server
from tests.test_browser import browser, signed_in  # noqa: F401  (the browser fixture)
from tests.test_hostile_names import ATTRIBUTE_BREAKOUT, HOSTILE

pytestmark = pytest.mark.browser


@pytest.fixture(scope='module')
def compare_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of this module's own: started with time to spare, as two cores shared by many tests can need."""
    tmp = tmp_path_factory.mktemp('compare-server')
    server = Server(helpers.app_env(helpers.database_url('sqlite', tmp), tmp / 'data')).start(timeout=120)
    yield server
    server.stop()


def test_on_a_phone_hostile_names_stay_text_and_the_link_copies(browser, compare_server: Server) -> None:  # noqa: F811
    from playwright.sync_api import expect
    server = compare_server
    with server.client() as api:
        project = api.post('/projects', json={'name': f'compare {uuid.uuid4().hex[:6]}'}).json()
        runs = [api.post(f'/projects/{project["id"]}/runs',
                         json={'name': name, 'config': {name: index, 'lr': 10 ** -index}}).json()
                for index, name in enumerate(HOSTILE)]
    for index, run in enumerate(runs):  # through the run token, as code on a rented GPU would
        report = {'metrics': [{'name': name, 'step': step, 'value': step * 0.5 + index} for name in HOSTILE[:2]
                              for step in range(1, 20)]}
        answer = httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report', json=report,
                            headers={'Authorization': f'Bearer {run["token"]}'})
        assert answer.status_code == 200, answer.text

    tab = signed_in(browser, server.url, ADMIN_EMAIL, ADMIN_PASSWORD, width=390)
    tab.context.grant_permissions(['clipboard-read', 'clipboard-write'], origin=server.url)
    errors: list[str] = []
    tab.on('pageerror', lambda error: errors.append(str(error)))
    link = f'/compare?runs={",".join(str(run["id"]) for run in runs)}'
    tab.goto(server.url + link)
    expect(tab.get_by_text(f'Compare {len(HOSTILE)} runs')).to_be_visible(timeout=10_000)
    expect(tab.locator('[data-metric]')).to_have_count(2, timeout=10_000)
    for chart in [*tab.locator('[data-metric]').all(), tab.locator('[_echarts_instance_]').last]:
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        for fraction in (0.2, 0.5, 0.8):  # tooltips render run names, config keys and values as HTML
            tab.mouse.move(box['x'] + box['width'] * fraction, box['y'] + box['height'] * 0.6)
            tab.wait_for_timeout(100)
    parallel = tab.locator('[_echarts_instance_]').last
    parallel.scroll_into_view_if_needed()
    box = parallel.bounding_box()
    for x in range(0, int(box['width']), 6):  # a parallel line is thin: sweep the chart to cross every run's
        for y in range(0, int(box['height']), 12):
            tab.mouse.move(box['x'] + x, box['y'] + y)
    expect(tab.get_by_text(ATTRIBUTE_BREAKOUT).first).to_be_attached()  # as text
    # the page keeps to the phone's width: wide tables and the parallel view scroll inside their own boxes
    assert tab.evaluate('document.documentElement.scrollWidth') <= 390

    tab.get_by_role('button', name='Copy link').click()
    expect(tab.get_by_text('Link copied')).to_be_visible()
    assert tab.evaluate('navigator.clipboard.readText()') == server.url + link
    assert tab.evaluate('window.__xss') is None
    assert not errors, errors
    tab.context.close()
