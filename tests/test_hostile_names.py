"""In Debian's Chromium: names and text that training code or a teammate controls are shown as text, never run.

Code on a rented GPU box holds a run token; whatever it reports (metric names, log lines, step names, config) and
whatever a member types (project and run names) is put in front of everyone who opens the project or the run.
"""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import Server
from tests.test_browser import browser, signed_in_tabs  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.browser

# each payload, if it ever becomes markup or an attribute, sets window.__xss
ATTRIBUTE_BREAKOUT = 'acc" tabindex="0" autofocus onfocus="window.__xss=1" x="'
TAG = '<img src=x onerror="window.__xss=2">'
SCRIPT = '</script><script>window.__xss=3</script>'
TEMPLATE = "{{ (window.__xss = 4) }}"
HOSTILE = [ATTRIBUTE_BREAKOUT, TAG, SCRIPT, TEMPLATE]


def test_hostile_names_reported_through_a_run_token_run_no_script(browser, server: Server) -> None:  # noqa: F811
    from playwright.sync_api import expect
    with server.client() as api:
        project = api.post('/projects', json={'name': f'{TAG} {uuid.uuid4().hex[:6]}',
                                              'description': SCRIPT}).json()
        runs = [api.post(f'/projects/{project["id"]}/runs',
                         json={'name': name, 'config': {name: name, 'nested': {TAG: [SCRIPT]}}}).json()
                for name in HOSTILE]
        for each, name in zip(runs, HOSTILE, strict=True):
            assert api.patch(f'/runs/{each["id"]}', json={'note': name}).status_code == 200
    run = runs[0]
    report = {
        'metrics': [{'name': name, 'step': step, 'value': step * 0.5} for name in HOSTILE for step in range(5)],
        'steps': [{'name': TAG[:100], 'status': 'running', 'description': SCRIPT}],
        'logs': HOSTILE,
    }
    import httpx
    for each in runs:  # through the run token, as code on a rented GPU would
        answer = httpx.post(f'{server.url}/api/v1/runs/{each["id"]}/report', json=report,
                            headers={'Authorization': f'Bearer {each["token"]}'})
        assert answer.status_code == 200, answer.text

    (tab,) = signed_in_tabs(browser, server.url, 1)
    errors: list[str] = []
    tab.on('pageerror', lambda error: errors.append(str(error)))
    tab.goto(f'{server.url}/runs/{run["id"]}')
    expect(tab.locator('[data-metric]')).to_have_count(len(HOSTILE), timeout=10_000)
    for name in HOSTILE:  # the names are there, as text
        expect(tab.get_by_text(name, exact=True).first).to_be_attached()
    for chart in tab.locator('[data-metric]').all():  # tooltips render series names and values as HTML
        box = chart.bounding_box()
        tab.mouse.move(box['x'] + box['width'] / 2, box['y'] + box['height'] / 2)
        tab.keyboard.press('Tab')
    tab.goto(f'{server.url}/projects/{project["id"]}')
    expect(tab.get_by_text(runs[1]['name'], exact=True).first).to_be_visible(timeout=10_000)
    for name in HOSTILE[1:]:  # a note is the team's own text, shown in the runs table
        expect(tab.get_by_text(name, exact=True).first).to_be_attached()
    tab.goto(f'{server.url}/projects')
    expect(tab.get_by_text(project['name'], exact=True).first).to_be_visible(timeout=10_000)
    tab.wait_for_timeout(300)
    assert tab.evaluate('window.__xss') is None
    assert not errors, errors
    tab.context.close()

