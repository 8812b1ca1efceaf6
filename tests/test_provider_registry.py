"""A third cloud is one module under providers/ and one registration line: here a fake one (tests/fakes/tiny_cloud.py),
registered by the test. The API, the New run form and the settings page then offer it, and a run on it is checked by
what it can do, without a line of services naming it."""

from collections.abc import Iterator

import pytest
from nicegui import ui
from nicegui.testing import User as Tab

from models import Run, User
from providers import registry
from services import auth, credentials, projects
from services.background import gpu_metrics, intents, job_logs
from tests.fakes.tiny_cloud import KEY, TinyCloud
from tests.helpers import ADMIN_EMAIL, eventually


@pytest.fixture
def tiny_cloud() -> Iterator[type[TinyCloud]]:
    registry.register(TinyCloud)
    yield TinyCloud
    registry.unregister(TinyCloud.name)
    TinyCloud.launched.clear()


async def test_a_registered_cloud_is_offered_by_the_api_and_runs_are_checked_by_its_capabilities(
        tiny_cloud: type[TinyCloud], admin: Tab) -> None:
    me = await User.get(email=ADMIN_EMAIL)
    project = await projects.create_project(me, name='vision', budget_usd=10)
    _, token = await auth.issue_token(me, name='script')
    api, headers = admin.http_client, {'Authorization': f'Bearer {token}'}

    added = await api.post('/api/v1/credentials', headers=headers,
                           json={'provider': 'tinycloud', 'label': 'tiny', 'secret': KEY})
    assert added.status_code == 201, added.text
    offered = {p['name']: p for p in (await api.get('/api/v1/providers', headers=headers)).json()}
    assert offered['tinycloud'] == {'name': 'tinycloud', 'label': 'Tiny Cloud', 'needs_credential': True,
                                    'launch_fields': ['product_id'],
                                    'credentials': [{'id': added.json()['id'], 'label': 'tiny', 'scope': 'workspace',
                                                     'project_id': None}]}
    assert set(offered) == {'local', 'tinycloud'}  # no Novita key, so no Novita
    products = (await api.get('/api/v1/providers/tinycloud/products', headers=headers)).json()
    assert [p['id'] for p in products] == ['t4', 'a10']

    runs_url = f'/api/v1/projects/{project["id"]}/runs'
    refused = await api.post(runs_url, headers=headers, json={'name': 'x', 'provider': 'tinycloud', 'command': 'go'})
    assert (refused.status_code, refused.json()['detail']) == (422, 'A run on Tiny needs a product_id.')
    novita = await api.post(runs_url, headers=headers,  # the same check, from Novita's capabilities
                            json={'name': 'x', 'provider': 'novita', 'command': 'go', 'product_id': 'h100'})
    assert (novita.status_code, novita.json()['detail']) == (422, 'A run on Novita needs a product_id and an image.')
    launched = await api.post(runs_url, headers=headers,
                              json={'name': 'x', 'provider': 'tinycloud', 'command': 'go', 'product_id': 'a10',
                                    'gpu_count': 2, 'billing': 'spot'})  # no image: this cloud needs none
    assert launched.status_code == 201, launched.text
    run = launched.json()
    assert (run['credential_id'], run['price_per_hour'], run['status']) == (added.json()['id'], 0.6, 'queued')
    await intents.launch_queued()  # what the leader does at its next poll
    run = (await api.get(f'/api/v1/runs/{run["id"]}', headers=headers)).json()
    assert (run['status'], run['gpu_product']) == ('provisioning', 'Tiny A10')
    [spec] = TinyCloud.launched.values()
    assert (spec.product_id, spec.gpu_count, spec.spot, spec.image) == ('a10', 2, True, '')

    assert 'tinycloud' in credentials.PROVIDERS
    assert 'tinycloud' not in job_logs.KEEPING_LOGS and 'tinycloud' not in gpu_metrics.MEASURED
    assert 'novita' in job_logs.KEEPING_LOGS and 'novita' in gpu_metrics.MEASURED


async def test_the_settings_page_and_the_new_run_form_offer_a_registered_cloud(tiny_cloud: type[TinyCloud],
                                                                               admin: Tab) -> None:
    me = await User.get(email=ADMIN_EMAIL)
    project = await projects.create_project(me, name='vision', budget_usd=10)
    await admin.open('/settings')
    await admin.should_see('Credentials')
    kinds = next(iter(admin.find(kind=ui.select, content='Kind').elements))
    assert kinds.options == {'novita': 'Novita AI', 'tinycloud': 'Tiny Cloud', 's3': 'S3 keys'}
    kinds.value = 'tinycloud'
    admin.find('Label').type('tiny')
    admin.find('Tiny API key').type(KEY)
    admin.find('Add key').click()
    await admin.should_see('••••4242')
    [added] = await credentials.listed(me)
    assert added['provider'] == 'tinycloud'

    await admin.open(f'/projects/{project["id"]}')
    admin.find('New run').click()
    await admin.should_see(marker='new-run-provider', retries=20)  # the dialog's: the table filters by provider too
    picker = next(iter(admin.find(marker='new-run-provider').elements))
    assert picker.options == {'local': 'This machine (local)',
                              f'tinycloud#{added["id"]}': 'Tiny Cloud · tiny (workspace)'}
    picker.value = f'tinycloud#{added["id"]}'
    await admin.should_see('This run will cost $0.25 per hour', retries=20)
    await admin.should_not_see('Image')  # what it needs to launch: a product and GPUs, no image
    await admin.should_see('GPUs')
    admin.find(kind=ui.button, content='Launch').click()
    await eventually(lambda: Run.exists(project_id=project['id']), tries=100)  # stored, queued
    await intents.launch_queued()  # then launched by the leader
    await eventually(lambda: TinyCloud.launched, tries=100)
    run = await Run.get(project_id=project['id'])
    assert (run.provider, run.credential_id) == ('tinycloud', added['id'])
    assert [spec.name for spec in TinyCloud.launched.values()] == [f'trainboard-run-{run.id}']
