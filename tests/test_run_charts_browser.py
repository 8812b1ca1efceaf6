"""In Debian's Chromium: brushing across a chart zooms into that range, its axis shows whole steps only, and the
tooltip reads "step 92" with a short value."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import Server
from tests.test_browser import browser, signed_in_tabs  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.browser


def test_brushing_zooms_with_whole_steps_and_short_values(browser, server: Server) -> None:  # noqa: F811
    from playwright.sync_api import expect
    with server.client() as api:
        project = api.post('/projects', json={'name': f'zoom {uuid.uuid4().hex[:6]}'}).json()
        run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'zoomed'}).json()
    import httpx
    metrics = [{'name': 'loss', 'step': s, 'value': 1.0890387146283742 + s / 1e4} for s in range(2_000)]
    answer = httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report', json={'metrics': metrics},
                        headers={'Authorization': f'Bearer {run["token"]}'})
    assert answer.status_code == 200, answer.text
    (tab,) = signed_in_tabs(browser, server.url, 1)
    tab.set_viewport_size({'width': 1200, 'height': 900})
    tab.goto(f'{server.url}/runs/{run["id"]}')
    element = tab.locator('[data-metric="loss"]')
    expect(element).to_be_visible(timeout=10_000)
    element.scroll_into_view_if_needed()
    tab.wait_for_timeout(1000)  # the brush is taken as the cursor once ECharts has drawn
    state = '''() => {
        const chart = getElement(document.querySelector('[data-metric="loss"]')).chart;
        const axis = chart.getModel().getComponent('xAxis', 0).axis;
        return {extent: axis.scale.getExtent(), labels: axis.getViewLabels().map(l => l.formattedLabel)};
    }'''
    box = element.bounding_box()
    y = box['y'] + box['height'] * 0.5
    tab.mouse.move(box['x'] + box['width'] * 0.45, y)
    tab.mouse.down()
    tab.mouse.move(box['x'] + box['width'] * 0.47, y, steps=4)
    tab.mouse.up()
    tab.wait_for_function('''() => {
        const chart = getElement(document.querySelector('[data-metric="loss"]')).chart;
        const [lo, hi] = chart.getModel().getComponent('xAxis', 0).axis.scale.getExtent();
        return hi - lo < 200;
    }''', timeout=10_000)
    zoomed = tab.evaluate(state)
    labels = [label for label in zoomed['labels'] if label]
    assert labels and all(label.isdigit() for label in labels), zoomed  # no "16.5"
    tab.mouse.move(box['x'] + box['width'] * 0.46, y)
    tooltip = tab.locator('div').filter(has_text='step ').last
    expect(tooltip).to_contain_text('run', timeout=5_000)
    text = tooltip.inner_text()
    assert '1.08903' not in text and '.00' not in text.split('\n')[0], text
    tab.context.close()
