"""Input past what a database column holds is a 422 naming the field, on both databases, never a 500."""

import math
import random
import struct
import uuid
from urllib.parse import quote, unquote

import httpx
import pytest

from models import Project, Run, User
from services import ingest, projects, runs
from services.errors import Invalid
from tests.helpers import Server

BIG = 2**63


@pytest.fixture
def run(api: httpx.Client) -> dict:
    project = api.post('/projects', json={'name': f'bounds-{uuid.uuid4().hex[:8]}'}).json()
    return api.post(f'/projects/{project["id"]}/runs', json={'name': 'mlp'}).json()


def report(server: Server, run: dict, body: dict) -> httpx.Response:
    return httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report', json=body,
                      headers={'Authorization': f'Bearer {run["token"]}'})


def deep(levels: int) -> dict:
    config: dict = {'leaf': 1}
    for _ in range(levels - 1):
        config = {'next': config}
    return config


@pytest.mark.parametrize('method, path, field', [
    ('GET', '/projects/2147483648', 'project_id'),  # PostgreSQL's integer ends at 2^31 - 1
    ('GET', f'/projects/{BIG}/members', 'project_id'),  # SQLite's at 2^63 - 1
    ('GET', '/runs/-2874860282/logs', 'run_id'),
    ('GET', '/runs/1/logs?after_id=9223372036854775808', 'after_id'),
    ('GET', '/runs/1/metrics/loss?min_step=9223372036854775808', 'min_step'),
    ('POST', '/runs/4398046511104/actions/stop', 'run_id'),
    ('DELETE', '/api-keys/999999999999', 'key_id'),
    ('DELETE', '/projects/1/members/2147483648', 'member_id'),
    ('POST', '/credentials/2147483648/check', 'credential_id'),
])
def test_ids_beyond_the_columns_are_refused(api: httpx.Client, method: str, path: str, field: str) -> None:
    answer = api.request(method, path)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()['detail']


@pytest.mark.parametrize('body, field', [
    ({'name': 'rich', 'budget_usd': 1e300}, 'budget_usd'),
    ({'name': 'rich', 'budget_usd': 1e10}, 'budget_usd'),  # Decimal(14, 4) ends below 10^10
    ({'name': 'nul\u0000name'}, 'name'),
    ({'name': 'ok', 'description': 'nul \u0000 here'}, 'description'),
    (b'{"name": "lone \\ud800 surrogate"}', 'name'),  # JSON may escape what UTF-8 cannot carry
])
def test_projects_beyond_the_columns_are_refused(api: httpx.Client, body: dict | bytes, field: str) -> None:
    before = len(api.get('/projects').json())
    answer = api.post('/projects', content=body, headers={'Content-Type': 'application/json'}) \
        if isinstance(body, bytes) else api.post('/projects', json=body)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()['detail']
    assert len(api.get('/projects').json()) == before


def test_a_budget_patch_beyond_the_column_changes_nothing(api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': f'p-{uuid.uuid4().hex[:8]}', 'budget_usd': 5}).json()
    answer = api.patch(f'/projects/{project["id"]}', json={'budget_usd': 1.4e308})
    assert answer.status_code == 422 and 'budget_usd' in answer.json()['detail']
    assert api.get(f'/projects/{project["id"]}').json()['budget_usd'] == 5


@pytest.mark.parametrize('fields, field', [
    ({'max_cost_usd': 1e300}, 'max_cost_usd'),
    ({'max_duration_s': 2**31}, 'max_duration_s'),
    ({'stall_timeout_s': 1e300}, 'stall_timeout_s'),
    ({'config': deep(500)}, 'config'),
    ({'config': deep(21)}, 'config'),
    ({'config': {'seed': 2**64 + 1}}, 'config'),
    ({'config': {'note': 'a\u0000b'}}, 'config'),
    ({'config': {'a\u0000': 1}}, 'config'),
    ({'config': {'blob': 'x' * 70_000}}, 'config'),
    ({'envs': {'TOKEN': 'a\u0000b'}}, 'envs'),
    ({'name': 'nul\u0000'}, 'name'),
])
def test_runs_beyond_the_columns_are_refused(api: httpx.Client, fields: dict, field: str) -> None:
    project = api.post('/projects', json={'name': f'p-{uuid.uuid4().hex[:8]}'}).json()
    answer = api.post(f'/projects/{project["id"]}/runs', json={'name': 'mlp', **fields})
    assert answer.status_code == 422, answer.text
    assert field in answer.json()['detail']
    assert api.get(f'/projects/{project["id"]}/runs').json() == []


def test_config_within_the_bounds_is_kept(api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': f'p-{uuid.uuid4().hex[:8]}'}).json()
    config = {'deep': deep(19), 'seed': BIG - 1, 'lr': 1e-300, 'unicode': 'ü✓'}
    created = api.post(f'/projects/{project["id"]}/runs', json={'name': 'mlp', 'config': config})
    assert created.status_code == 201, created.text
    assert api.get(f'/runs/{created.json()["id"]}').json()['config'] == config


@pytest.mark.parametrize('body, field', [
    ({'metrics': [{'name': 'loss', 'step': BIG, 'value': 1.0}]}, 'metrics[0].step'),
    ({'metrics': [{'name': 'loss', 'step': 1, 'value': 1}, {'name': 'lo\u0000ss', 'step': 1, 'value': 1}]},
     'metrics[1].name'),
    ({'progress': {'step': BIG, 'total_steps': BIG + 1}}, 'progress.step'),
    ({'progress': {'step': 1, 'total_steps': BIG}}, 'total_steps'),
    ({'steps': [{'name': 'tr\u0000ain'}]}, 'steps[0].name'),
])
def test_reports_beyond_the_columns_are_refused_whole(server: Server, api: httpx.Client, run: dict, body: dict,
                                                      field: str) -> None:
    answer = report(server, run, {**body, 'logs': ['must not be stored']})
    assert answer.status_code == 422, answer.text
    assert field in answer.json()['detail']
    assert api.get(f'/runs/{run["id"]}/logs').json() == []
    assert api.get(f'/runs/{run["id"]}').json()['status'] == 'queued'


def test_the_largest_steps_and_values_are_kept(server: Server, api: httpx.Client, run: dict) -> None:
    body = {'metrics': [{'name': 'loss', 'step': BIG - 1, 'value': 2**64 - 1},
                        {'name': 'loss', 'step': 0, 'value': -1.7976931348623157e308}],
            'progress': {'step': BIG - 1, 'total_steps': BIG - 1}}
    assert report(server, run, body).json()['metrics_accepted'] == 2
    assert api.get(f'/runs/{run["id"]}/metrics/loss').json()['points'] == \
        [[0, -1.7976931348623157e308], [BIG - 1, float(2**64 - 1)]]
    assert api.get(f'/runs/{run["id"]}').json()['step'] == BIG - 1


def test_every_value_is_kept_to_the_last_bit(server: Server, api: httpx.Client, run: dict) -> None:
    """Points travel to the database as JSON text: each double must come back as the very same double."""
    rng = random.Random(7)
    values = [5e-324, 2.2250738585072014e-308, 0.1, 1 / 3, 2**53 + 2.0, 1.7976931348623157e308]
    values += [struct.unpack('<d', struct.pack('<Q', rng.getrandbits(64)))[0] for _ in range(2000)]
    values = [value for value in values if math.isfinite(value)][:1000]
    body = {'metrics': [{'name': 'bits', 'step': step, 'value': value} for step, value in enumerate(values)]}
    assert report(server, run, body).json()['metrics_accepted'] == len(values)
    stored = api.get(f'/runs/{run["id"]}/metrics/bits', params={'max_points': 1000}).json()['points']
    assert [struct.pack('<d', value) for _, value in stored] == [struct.pack('<d', value) for value in values]


def test_a_log_line_with_nul_keeps_the_log(server: Server, api: httpx.Client, run: dict) -> None:
    answer = report(server, run, {'logs': ['before', 'progress\u0000bar', 'after'],
                                  'steps': [{'name': 'train', 'description': 'epoch\u00001'}],
                                  'status': {'state': 'failed', 'message': 'core\u0000dumped'}})
    assert answer.status_code == 200, answer.text
    assert [line['line'] for line in api.get(f'/runs/{run["id"]}/logs').json()] == ['before', 'progressbar', 'after']
    state = api.get(f'/runs/{run["id"]}').json()
    assert state['steps'][0]['description'] == 'epoch1' and state['status_message'] == 'coredumped'


def test_login_with_nul_in_the_email_is_refused(server: Server) -> None:
    answer = httpx.post(f'{server.url}/api/v1/auth/token', json={'email': 'admin\u0000@example.com', 'password': 'x'})
    assert answer.status_code == 422 and 'email' in answer.json()['detail']


@pytest.mark.parametrize('name', ['ünïcødé ✓', 'a"quoted"\\name', 'tab\tand\x7fdel'])
def test_csv_export_of_any_metric_name(server: Server, api: httpx.Client, run: dict, name: str) -> None:
    assert report(server, run, {'metrics': [{'name': name, 'step': 1, 'value': 0.5}]}).status_code == 200
    answer = api.get(f'/runs/{run["id"]}/metrics/{quote(name, safe="")}.csv')
    assert answer.status_code == 200, answer.text
    assert answer.text.splitlines()[1].startswith('1,0.5,')
    disposition = answer.headers['content-disposition']
    plain = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert plain.isascii() and '"' not in plain and '\\' not in plain
    assert unquote(disposition.split("filename*=UTF-8''", 1)[1]) == f'{name}.csv'


async def test_services_refuse_what_pages_could_send(orm: str) -> None:
    """Pages call the services directly: the same bounds hold without the API's schemas."""
    admin = await User.create(email='a@example.com', name='A', password_hash='-', role='admin')
    for fields in ({'name': 'x\u0000'}, {'name': 'ok', 'budget_usd': 1e300}, {'name': 'ok', 'description': '\u0000'}):
        with pytest.raises(Invalid):
            await projects.create_project(admin, **fields)
    project = await projects.create_project(admin, name='ok')
    for fields in ({'config': deep(500)}, {'config': {'n': 2**64}}, {'limits': {'max_cost_usd': 1e300}},
                   {'limits': {'max_duration_s': 2**31}}, {'name': 'run\u0000'},
                   {'provider': 'local', 'spec': {'command': 'echo \u0000'}}):
        with pytest.raises(Invalid):
            await runs.create_run(admin, project['id'], **{'name': 'mlp', **fields})
    assert await Run.filter(project_id=project['id']).count() == 0
    assert await Project.all().count() == 1


async def test_job_output_with_nul_keeps_the_log(orm: str) -> None:
    """What a provider copies from a job's own output (record_output): one NUL must not lose the batch."""
    owner = await User.create(email='o@example.com', name='O', password_hash='-')
    project = await Project.create(name='p', owner=owner)
    run = await Run.create(project=project, name='r')
    await ingest.record_output(run, logs=['epoch 1', 'binary \u0000 junk', 'epoch 2'])
    assert [row['line'] for row in await ingest.log_tail(run.id)] == ['epoch 1', 'binary  junk', 'epoch 2']


@pytest.mark.parametrize('secret', ['sk_ünïcode', 'sk with spaces', 'sk_\u0000'])
def test_a_provider_key_that_cannot_be_sent_is_refused(api: httpx.Client, secret: str) -> None:
    """Found by the fuzz test: a stored key outside ASCII made /providers/novita/products answer 500."""
    answer = api.post('/credentials', json={'provider': 'novita', 'label': 'odd', 'secret': secret})
    assert answer.status_code == 422 and 'secret' in answer.json()['detail']
    assert all(c['label'] != 'odd' for c in api.get('/credentials').json())


async def test_services_find_nothing_at_ids_beyond_the_columns(orm: str) -> None:
    from services import auth
    from services.errors import NotFound
    user = await auth.create_user('ada@example.com', 'a long password')
    for lookup in (projects.get_project(user, 2**31), runs.get_run(user, 2**63)):
        with pytest.raises(NotFound):
            await lookup
