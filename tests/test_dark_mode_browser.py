"""In Debian's Chromium with the system set to dark: the project page, a run's page and /compare paint no light
surface (a white or near-white box, where the dark page's light text would not read)."""

import uuid

import httpx
import pytest

from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, Server
from tests.test_browser import browser, signed_in  # noqa: F401  (the module's Chromium)

pytestmark = pytest.mark.browser

# every shown element whose own background is mostly opaque (its colour's alpha times its opacity) and light
# (relative luminance over 0.6), as "tag.class1.class2"; Quasar's own surfaces (cards, tables, menus) are dark
LIGHT_SURFACES = '''() => {
    const channel = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    const found = new Set();
    for (const element of document.querySelectorAll('body *')) {
        const rect = element.getBoundingClientRect();
        if (rect.width < 2 || rect.height < 2) continue;
        // a ticked checkbox's box is Quasar's, in the text's colour (light on the dark page): a control, no surface
        if (element.classList.contains('q-checkbox__bg')) continue;
        const style = getComputedStyle(element);
        if (style.visibility === 'hidden' || style.display === 'none') continue;
        const parts = style.backgroundColor.match(/[\\d.]+/g);
        if (!parts) continue;
        const [r, g, b, a = 1] = parts.map(Number);
        if (a * Number(style.opacity) < 0.5) continue;  // Quasar's tracks: white at 40 % opacity
        if (0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b) > 0.6)
            found.add(element.tagName.toLowerCase() + '.' + [...element.classList].join('.'));
    }
    return [...found].sort();
}'''


def test_dark_mode_has_no_light_surfaces(browser, server: Server) -> None:  # noqa: F811
    from playwright.sync_api import expect
    with server.client() as api:
        project = api.post('/projects', json={'name': f'dark {uuid.uuid4().hex[:6]}'}).json()
        runs = [api.post(f'/projects/{project["id"]}/runs',
                         json={'name': f'night-{n}', 'config': {'lr': 10 ** -n, 'batch': 32}}).json()
                for n in (1, 2)]
        api.patch(f'/runs/{runs[0]["id"]}', json={'tags': ['baseline']})
        for run in runs:
            answer = httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report',
                                headers={'Authorization': f'Bearer {run["token"]}'},
                                json={'metrics': [{'name': 'loss', 'step': s, 'value': 1 / s} for s in range(1, 9)],
                                      'logs': ['INFO warming up', 'WARNING slow step', 'ERROR the loss is NaN']})
            assert answer.status_code == 200, answer.text
    tab = signed_in(browser, server.url, ADMIN_EMAIL, ADMIN_PASSWORD, width=1440, color_scheme='dark')
    assert 'body--dark' in tab.locator('body').get_attribute('class')

    tab.goto(f'{server.url}/projects/{project["id"]}')
    expect(tab.get_by_text('baseline', exact=True)).to_be_visible(timeout=10_000)  # the tag's chip
    tab.locator('.runs-table tbody .q-checkbox').first.click()  # a selected row, and the bulk actions it brings
    expect(tab.get_by_role('button', name='Stop 1 run')).to_be_visible()
    light = _settled_light_surfaces(tab)
    assert not light, '\n'.join(light)

    tab.goto(f'{server.url}/runs/{runs[0]["id"]}')
    expect(tab.locator('.tb-log-line')).to_have_count(3, timeout=10_000)
    light = _settled_light_surfaces(tab)
    assert not light, '\n'.join(light)

    tab.goto(f'{server.url}/compare?runs={runs[0]["id"]},{runs[1]["id"]}')
    expect(tab.get_by_text('1 of 2 config keys differ.')).to_be_visible(timeout=10_000)
    light = _settled_light_surfaces(tab)
    assert not light, '\n'.join(light)
    key = tab.get_by_role('cell', name='lr', exact=True)  # the sticky column: opaque, as the others scroll under it
    assert key.evaluate('cell => getComputedStyle(cell).backgroundColor') not in ('transparent', 'rgba(0, 0, 0, 0)')
    tab.context.close()


def _settled_light_surfaces(tab) -> list[str]:  # noqa: ANN001
    """The light surfaces once transitions are over (a checkbox just ticked animates its box through light colours):
    asked again for up to 2 s; one that stays light is what the test finds."""
    for _ in range(10):
        if not (light := tab.evaluate(LIGHT_SURFACES)):
            return light
        tab.wait_for_timeout(200)
    return light
