"""Issue 12's rough edges in the pages: each refusal says what is wrong in the words of its field and changes
nothing; confirmations read differently on each button; generated names; config at launch; a 404 in the frame."""

import asyncio
import re
import socket
import threading
from collections.abc import Iterator

import pytest
from nicegui import ui
from nicegui.testing import User

from models import Project, Run
from models import User as UserModel
from services import credentials, projects, provider_health, runs
from services.provider_health import Account
from tests.helpers import ADMIN_EMAIL, without_local_jobs


async def _admin() -> UserModel:
    return await UserModel.get(email=ADMIN_EMAIL)


@pytest.mark.parametrize(('status', 'action', 'question', 'label'), [
    ('queued', 'cancel', 'Cancel this run?', 'Cancel run'),  # once both buttons read "CANCEL"
    ('running', 'stop', 'Stop this run?', 'Stop run'),
])
async def test_the_cancel_confirmation_says_what_each_button_does(admin: User, status: str, action: str,
                                                                   question: str, label: str) -> None:
    project = await projects.create_project(await _admin(), name='Watched')
    run, _ = await runs.create_run(await _admin(), project['id'], name='mlp')
    await Run.filter(id=run['id']).update(status=status)
    await admin.open(f'/runs/{run["id"]}')
    admin.find(marker=f'run-{action}').click()
    await admin.should_see(question)
    keep = next(iter(admin.find(marker='dismiss').elements))
    confirm = next(iter(admin.find(marker='confirm').elements))
    assert (keep.text, confirm.text) == ('Keep running', label)
    admin.find(marker='dismiss').click()
    await admin.should_not_see(question)
    assert (await Run.get(id=run['id'])).status == status


@pytest.mark.parametrize(('typed', 'said'), [
    ('-5', 'The budget must be a number of dollars 0 or more, or empty for none; "-5" is not.'),
    ('ten', 'The budget must be a number of dollars 0 or more, or empty for none; "ten" is not.'),
])
async def test_a_bad_budget_is_refused_and_creates_nothing(admin: User, typed: str, said: str) -> None:
    await admin.open('/projects')
    admin.find('New project').click()
    await admin.should_see('Name')
    admin.find('Name').type('Vision')
    admin.find('Budget (USD)').clear().type(typed)
    admin.find(kind=ui.button, content='Create').click()
    await admin.should_see(said)
    assert await Project.all().count() == 0


async def _new_run_dialog(admin: User) -> dict:
    project = await projects.create_project(await _admin(), name='Launch')
    await admin.open(f'/projects/{project["id"]}')
    admin.find('New run').click()
    await admin.should_see('This run will cost $0.00 per hour while it runs.')
    admin.find('Command').clear().type('sleep 30')
    return project


@pytest.mark.parametrize(('field', 'typed', 'said'), [
    ('Max cost (USD)', 'abc', 'Max cost must be a number of dollars above 0, or empty for no limit; "abc" is not.'),
    ('Max cost (USD)', '-1', 'Max cost must be a number of dollars above 0, or empty for no limit; "-1" is not.'),
    ('Max duration (hours)', '2h', 'Max duration must be a number of hours above 0, or empty for no limit; "2h" is '
                                   'not.'),
    ('Stop after a further … minutes', '5', '"Stop after a further … minutes" counts from a stall: set a stall '
                                            'timeout too.'),
])
async def test_new_run_refuses_a_bad_number_in_its_fields_words(admin: User, field: str, typed: str,
                                                                 said: str) -> None:
    project = await _new_run_dialog(admin)
    admin.find(field).type(typed)
    admin.find(kind=ui.button, content='Launch').click()
    await admin.should_see(said)
    await admin.should_not_see('max_cost_usd')
    assert await Run.filter(project_id=project['id']).count() == 0


async def test_new_run_names_the_run_and_stores_its_config(admin: User) -> None:
    project = await _new_run_dialog(admin)
    config = admin.find(marker='new-run-config')
    config.type('lr=3e-4\nbatch_size 64')
    admin.find(kind=ui.button, content='Launch').click()
    await admin.should_see('Config line 2 is not key=value')
    assert await Run.filter(project_id=project['id']).count() == 0
    config.clear().type('lr=3e-4\nbatch_size=64\namp=true\noptimizer=adam\nlayers=[64, 64]')
    admin.find(kind=ui.button, content='Launch').click()
    await admin.should_see(marker='run-cancel', retries=20)  # on the new run's page
    run = await Run.get(project_id=project['id'])
    assert re.fullmatch(r'[a-z]+-[a-z]+-1', run.name), run.name
    assert run.config == {'lr': 0.0003, 'batch_size': 64, 'amp': True, 'optimizer': 'adam', 'layers': [64, 64]}


async def test_new_run_prices_this_machine_per_machine(admin: User) -> None:
    await _new_run_dialog(admin)
    product = next(iter(admin.find('Product').elements))
    labels = list(product.options.values()) if isinstance(product.options, dict) else product.options
    assert labels and all(label.endswith('· no charge') for label in labels), labels  # never "$0.00/h per GPU"


async def test_new_run_shows_an_unreachable_cloud_greyed_with_why(admin: User) -> None:
    added = await credentials.add(await _admin(), provider='novita', label='team', secret='sk_' + 'x' * 40)
    account = Account('novita', added['id'])
    provider_health.flip(account, ok=False, error='connection refused by api.novita.ai')
    try:
        await _new_run_dialog(admin)
        await admin.should_see('connection refused by api.novita.ai')
        down = next(iter(admin.find(marker='provider-down').elements))
        assert 'text-grey-6' in down.classes and 'unreachable since' in down.text
        # the dialog's picker (its choices by key), not the runs table's Provider filter: `find` answers a set
        provider = next(e for e in admin.find('Provider').elements if isinstance(e.options, dict))
        assert any('unreachable' in label for label in provider.options.values())
    finally:
        provider_health.forget(account)


async def test_status_and_run_pages_say_a_failing_cloud_s_latest_reason(admin: User) -> None:
    """The key was refused, then the team fixed it and the cloud is unreachable: the pages say the outage, not the
    key (a still-failing account kept its first reason)."""
    added = await credentials.add(await _admin(), provider='novita', label='team', secret='sk_' + 'x' * 40)
    account = Account('novita', added['id'])
    project = await projects.create_project(await _admin(), name='held up')
    made, _ = await runs.create_run(await _admin(), project['id'], name='waiting')
    await Run.filter(id=made['id']).update(provider='novita', credential_id=added['id'])
    provider_health.flip(account, ok=False, error='The Novita API key was refused (401).')
    provider_health.flip(account, ok=False, error='connection refused by api.novita.ai')
    try:
        await admin.open('/status')
        await admin.should_see('connection refused by api.novita.ai')
        await admin.should_not_see('The Novita API key was refused')
        await admin.open(f'/runs/{made["id"]}')
        await admin.should_see('connection refused by api.novita.ai')
        await admin.should_not_see('The Novita API key was refused')
    finally:
        provider_health.forget(account)


async def test_a_user_name_over_100_characters_is_told(admin: User) -> None:
    await admin.open('/admin/users')
    name = admin.find('Name')
    assert 'maxlength' not in next(iter(name.elements)).props  # a browser would cut a pasted name short, silently
    admin.find('Email').type('long@example.com')
    name.type('x' * 150)
    admin.find('Password').type('a good long password')
    admin.find('Add user').click()
    await admin.should_see('A name can have at most 100 characters.')
    assert not await UserModel.exists(email='long@example.com')


async def test_a_new_api_key_can_be_copied(admin: User) -> None:
    await admin.open('/settings')
    admin.find('Key name').type('laptop')
    admin.find('Create key').click()
    await admin.should_see('Copy this key now')
    admin.find(marker='copy-key').click()
    await admin.should_see('Key copied to the clipboard')


@pytest.fixture
def silent_novita(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Novita address that takes connections and never answers (a real socket): a check waits for its timeout."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv('TRAINBOARD_NOVITA_BASE_URL', f'http://127.0.0.1:{listener.getsockname()[1]}')
    yield f'http://127.0.0.1:{listener.getsockname()[1]}'
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


async def test_check_key_says_checking_at_once(silent_novita: str, admin: User) -> None:
    import settings
    settings.reload()
    added = await credentials.add(await _admin(), provider='novita', label='team', secret='sk_' + 'x' * 40)
    await admin.open('/settings')
    await admin.should_see('team')
    admin.find(marker=f'check-key-{added["id"]}').click()
    await asyncio.sleep(0.3)  # the provider has not answered: it never does
    outcome = next(iter(admin.find(marker=f'check-outcome-{added["id"]}').elements))
    button = next(iter(admin.find(marker=f'check-key-{added["id"]}').elements))
    assert outcome.text == 'Checking…' and button.props.get('loading') is True


async def test_the_header_marks_the_current_page(admin: User) -> None:
    await admin.open('/status')
    links = next(e for e in admin.find(ui.html).elements if 'tb-nav' in e.content)
    assert '<a href="/status" class="tb-nav" aria-current=page>Status</a>' in links.content
    assert 'href="/projects" class="tb-nav">' in links.content


async def test_sample_data_stays_reachable_for_admins(admin: User, monkeypatch: pytest.MonkeyPatch) -> None:
    without_local_jobs(monkeypatch)
    await projects.create_project(await _admin(), name='Mine')
    await admin.open('/projects')
    await admin.should_see('Mine')
    admin.find(marker='load-sample-data').click()
    await admin.should_see('Loaded 3 sample projects', retries=100)
    assert await Project.all().count() == 4
