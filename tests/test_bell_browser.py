"""In Debian's Chromium: a run's end reaches the open tabs of the people it concerns (a toast and the bell's count)
and nobody else's; marking read in one tab clears the bell in the others; on the Novita fake a project's budget stops
its run by itself and its owner hears of it everywhere: the open tab, the bell, the audit trail and their email (at a
real SMTP server, aiosmtpd)."""

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import helpers
from tests.fakes import novita as novita_fake
from tests.fakes.novita import API_KEY, FakeNovita
from tests.helpers import Server, wait_for_status
from tests.receivers import Mailbox, smtp_server
from tests.test_browser import browser, signed_in  # noqa: F401  (browser: the module's Chromium fixture)

pytestmark = pytest.mark.browser
PASSWORD = 'member-password'
# $150 per GPU-hour: two of them spend a $1 budget in 12 s (the fake's prices are in 1/100,000 USD)
PRICEY = {**novita_fake.PRODUCTS[0], 'id': 'b200.test.v1', 'name': 'B200 (test, priced high)', 'price': '15000000'}


def badge(tab):
    return tab.get_by_role('button', name='Notifications', exact=True).locator('.q-badge')


def toasts(tab, text: str):
    return tab.locator('.q-notification').filter(has_text=text)


def mails_saying(inbox: Mailbox, text: str) -> list:
    return [mail for mail in inbox.messages if text in mail.get_body(('plain',)).get_content()]


def person(server: Server, api: httpx.Client) -> str:
    email = f'{uuid.uuid4().hex[:8]}@example.com'
    assert api.post('/users', json={'email': email, 'password': PASSWORD}).status_code == 201
    return email


def test_a_run_s_end_reaches_the_tabs_of_those_concerned_only(browser, server: Server) -> None:  # noqa: F811
    from playwright.sync_api import expect
    with server.client() as admin_api:
        email = person(server, admin_api)
        member_api = server.client(server.token(email, PASSWORD))
        project = member_api.post('/projects', json={'name': f'vision {uuid.uuid4().hex[:6]}'}).json()
        run = member_api.post(f'/projects/{project["id"]}/runs',
                              json={'name': '<img src=x onerror=alert(1)>bert'}).json()
        looker = f'{uuid.uuid4().hex[:8]}@example.com'  # a new admin: the session's first has other tests' news
        assert admin_api.post('/users', json={'email': looker, 'password': PASSWORD, 'role': 'admin'}) \
            .status_code == 201
    page = f'{server.url}/projects/{project["id"]}'
    owner = signed_in(browser, server.url, email, PASSWORD)  # owns the project: concerned
    owner.goto(page)
    other = signed_in(browser, server.url, looker, PASSWORD)  # an admin, who may look at it: not concerned
    other.goto(page)
    for tab in (owner, other):
        tab.get_by_text(project['name'], exact=True).wait_for()
        expect(badge(tab)).to_be_hidden()  # 0 unread: no badge

    answer = httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report',
                        json={'status': {'state': 'failed', 'message': 'CUDA out of memory'}},
                        headers={'Authorization': f'Bearer {run["token"]}'})
    assert answer.status_code == 200, answer.text
    message = f'"<img src=x onerror=alert(1)>bert" in {project["name"]} failed: CUDA out of memory'
    expect(toasts(owner, message)).to_be_visible(timeout=3000)  # as text: the name's markup is not markup
    assert owner.locator('.q-notification img').count() == 0
    expect(owner.locator('.q-notification.bg-negative')).to_have_count(1)  # a failure reads red
    toast = toasts(owner, message)
    for button in ('Open run', 'Dismiss'):  # white on red, not the theme's colour on red
        expect(toast.get_by_role('link' if button == 'Open run' else 'button', name=button)) \
            .to_have_class(re.compile(r'\btext-white\b'))
    expect(toast.get_by_role('link', name='Open run')) \
        .to_have_attribute('href', re.compile(r'^/notifications/\d+/open$'))
    expect(badge(owner)).to_have_text('1', timeout=3000)
    expect(other.get_by_text('failed', exact=True).first).to_be_visible(timeout=3000)  # the other tab is live...
    expect(other.locator('.q-notification')).to_have_count(0)  # ...and was told nothing
    expect(badge(other)).to_be_hidden()

    second = owner.context.new_page()  # the same person, another tab
    second.goto(f'{server.url}/projects')
    expect(badge(second)).to_have_text('1', timeout=3000)
    owner.get_by_role('button', name='Notifications', exact=True).click()
    item = owner.get_by_role('link', name=message)
    expect(item).to_have_attribute('href', re.compile(r'^/notifications/\d+/open$'))  # read, then the run
    owner.get_by_role('button', name='Mark all read').click()
    expect(badge(second)).to_be_hidden(timeout=1000)
    expect(badge(owner)).to_be_hidden(timeout=1000)
    owner.context.close()
    other.context.close()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on a free port, and what it received."""
    received = Mailbox()
    server = smtp_server(received)
    server.start()
    yield received, server.port
    server.stop()


@pytest.fixture
def budget_server(database_url: str, tmp_path: Path, novita: FakeNovita, mailbox: tuple[Mailbox, int],
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setattr(novita_fake, 'PRODUCTS', [*novita_fake.PRODUCTS, PRICEY])
    yield from helpers.serve_cloud(database_url, tmp_path, novita, TRAINBOARD_POLL_INTERVAL_S='0.25',
                                   TRAINBOARD_STOP_GRACE_S='0.5', TRAINBOARD_SMTP_HOST='127.0.0.1',
                                   TRAINBOARD_SMTP_PORT=str(mailbox[1]), TRAINBOARD_SMTP_TLS='none',
                                   TRAINBOARD_DELIVERY_INTERVAL_S='0.2')


def test_a_budget_stop_reaches_the_owner_everywhere(browser, budget_server: Server, novita: FakeNovita,  # noqa: F811
                                                     mailbox: tuple[Mailbox, int]) -> None:
    from playwright.sync_api import expect
    novita.auto_advance = True
    api = budget_server.client()
    assert api.post('/credentials', json={'provider': 'novita', 'label': 'team', 'secret': API_KEY}).status_code == 201
    project = api.post('/projects', json={'name': f'tiny budget {time.time_ns()}', 'budget_usd': 1}).json()
    tab = signed_in(browser, budget_server.url, helpers.ADMIN_EMAIL, helpers.ADMIN_PASSWORD)  # the owner
    tab.goto(f'{budget_server.url}/projects/{project["id"]}')
    tab.get_by_text(project['name'], exact=True).wait_for()

    launched = api.post(f'/projects/{project["id"]}/runs', json={
        'name': 'finetune', 'provider': 'novita', 'product_id': PRICEY['id'], 'gpu_count': 2,
        'image': 'pytorch/pytorch:2.4', 'command': 'python train.py'})
    assert launched.status_code == 201, launched.text
    stopped = wait_for_status(api, launched.json(), 'stopped', timeout=60)
    assert stopped['status_message'].startswith('Stopped by the project budget at $1.00'), stopped
    used = api.get(f'/projects/{project["id"]}').json()['used_usd']
    assert used <= 1 + 300 * 0.3 / 3600, used  # $1, and at most about one poll of spend more

    said = f'"finetune" in {project["name"]} stopped: Stopped by the project budget at $1.00'
    expect(toasts(tab, said)).to_be_visible(timeout=5000)
    # the spend passed the 50 and 80 % alerts on its way (100 % only if the stop's last poll reached it), each an
    # entry of its own, besides the stop
    heard = api.get('/notifications', params={'unread': 'true'}).json()
    kinds = [item['kind'] for item in heard['items'] if item['project_id'] == project['id']]
    assert kinds.count('budget.threshold') >= 2 and kinds.count('run.stopped') == 1, kinds
    expect(badge(tab)).to_have_text(str(heard['unread']))
    trail = api.get('/audit', params={'project_id': project['id'], 'action': 'run.'}).json()['items']
    assert any('Stopped by the project budget at $1.00' in str(entry) and entry['actor'] is None for entry in trail)
    tab.get_by_role('button', name='Notifications', exact=True).click()
    tab.get_by_role('link', name=said).click()  # following it reads it, and goes to the run
    tab.wait_for_url(f'{budget_server.url}/runs/{stopped["id"]}')
    expect(badge(tab)).to_have_text(str(heard['unread'] - 1))
    tab.context.close()

    # an owner hears of money by email by default: the stop, with its reason and the run's link, once
    inbox, _port = mailbox
    helpers.wait_until(lambda: mails_saying(inbox, 'Stopped by the project budget'), timeout=15)
    time.sleep(0.5)  # a second delivery of the same event would arrive within a delivery interval or two
    [mail] = mails_saying(inbox, 'Stopped by the project budget')
    assert mail['To'] == helpers.ADMIN_EMAIL
    assert f'/runs/{stopped["id"]}' in mail.get_body(('plain',)).get_content()
    assert f'/runs/{stopped["id"]}"' in mail.get_body(('html',)).get_content()
    helpers.wait_until(lambda: not novita.live(), timeout=30)


ROWS = '''() => {
    const header = document.querySelector('header');
    const items = [...header.querySelectorAll('a, button')].filter(e => e.offsetParent !== null);
    const middles = items.map(e => { const r = e.getBoundingClientRect(); return r.top + r.height / 2; });
    return middles.sort((a, b) => a - b).filter((m, i, all) => i === 0 || m - all[i - 1] > 12).length;
}'''


@pytest.mark.parametrize('width', [1440, 390])
def test_the_header_with_its_bell_keeps_to_one_row_also_on_a_phone(browser, server: Server,  # noqa: F811
                                                                   width: int) -> None:
    """On a phone the links fold into a menu (issue 12: the header wrapped to three rows at 390 px)."""
    tab = signed_in(browser, server.url, helpers.ADMIN_EMAIL, helpers.ADMIN_PASSWORD, width=width)  # most links
    assert tab.evaluate(ROWS) == 1
    assert tab.get_by_role('button', name='Notifications', exact=True).is_visible()
    tab.context.close()


def test_the_bell_menu_sits_under_the_bell_on_a_phone(browser, server: Server) -> None:  # noqa: F811
    from playwright.sync_api import expect
    with server.client() as admin_api:
        email = person(server, admin_api)
    tab = signed_in(browser, server.url, email, PASSWORD, width=390)
    bell = tab.get_by_role('button', name='Notifications', exact=True)
    bell.click()
    menu = tab.locator('.tb-bell-menu')
    expect(menu).to_be_visible()
    expect(menu.get_by_text('Nothing yet.')).to_be_visible()
    expect(menu.get_by_role('button', name='Mark all read')).to_have_count(0)  # nothing unread
    tab.wait_for_timeout(300)  # its opening transition
    box, under = menu.bounding_box(), bell.bounding_box()
    assert box and under
    assert box['y'] >= under['y'] + under['height'] - 1  # below the bell
    assert box['x'] >= 8 and box['x'] + box['width'] <= 390 - 8 + 0.5  # a margin each side, not stuck to the edge
    assert box['x'] <= under['x'] <= box['x'] + box['width']  # under it
    tab.context.close()
