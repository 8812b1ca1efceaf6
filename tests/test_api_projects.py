"""The projects API against a real server process (one per backend), as a script would use it."""

import uuid

import httpx
import pytest

from tests.helpers import Server


def new_name() -> str:
    return f'project-{uuid.uuid4().hex[:8]}'


def member(server: Server, api: httpx.Client) -> httpx.Client:
    """A second, ordinary user, signed in through the API."""
    email, password = f'{uuid.uuid4().hex[:8]}@example.com', 'member-password'
    assert api.post('/users', json={'email': email, 'password': password}).status_code == 201
    return server.client(server.token(email, password))


def test_health_is_public(server: Server) -> None:
    assert httpx.get(f'{server.url}/api/v1/health').json() == {'status': 'ok'}


def test_routes_need_a_token(server: Server) -> None:
    answer = httpx.get(f'{server.url}/api/v1/projects')
    assert answer.status_code == 401
    assert 'Bearer' in answer.json()['detail']
    bad = httpx.get(f'{server.url}/api/v1/projects', headers={'Authorization': 'Bearer tb_nonsense'})
    assert bad.status_code == 401
    assert 'unknown, revoked or expired' in bad.json()['detail']


def test_wrong_password_gets_401_with_a_message(server: Server) -> None:
    answer = httpx.post(f'{server.url}/api/v1/auth/token', json={'email': 'admin@example.com', 'password': 'nope'})
    assert answer.status_code == 401
    assert answer.json() == {'detail': 'Wrong email or password.'}


def test_create_read_update_delete(api: httpx.Client) -> None:
    name = new_name()
    created = api.post('/projects', json={'name': name, 'description': 'd', 'budget_usd': 125.5})
    assert created.status_code == 201
    project = created.json()
    assert project['name'] == name and project['budget_usd'] == 125.5 and project['used_usd'] == 0
    assert project['status'] == 'active' and project['id'] and project['created_at'] and project['updated_at']

    assert api.get(f'/projects/{project["id"]}').json()['name'] == name
    assert project['id'] in [p['id'] for p in api.get('/projects').json()]

    patched = api.patch(f'/projects/{project["id"]}', json={'status': 'archived', 'budget_usd': 10})
    assert patched.status_code == 200
    assert patched.json()['status'] == 'archived' and patched.json()['budget_usd'] == 10
    assert patched.json()['name'] == name  # untouched fields stay

    assert api.delete(f'/projects/{project["id"]}').status_code == 204
    assert api.get(f'/projects/{project["id"]}').status_code == 404


@pytest.mark.parametrize('body, problem', [
    ({'name': ''}, 'name'),
    ({'name': 'x' * 101}, 'name'),
    ({'name': 'ok', 'budget_usd': -1}, 'budget_usd'),
    ({'name': 'ok', 'budget_usd': 'lots'}, 'budget_usd'),
    ({'name': 'ok', 'status': 'deleted'}, 'status'),
    ({'name': 'ok', 'colour': 'red'}, 'colour'),
    ({}, 'name'),
])
def test_invalid_input_gets_422_and_creates_nothing(api: httpx.Client, body: dict, problem: str) -> None:
    before = len(api.get('/projects').json())
    answer = api.post('/projects', json=body)
    assert answer.status_code == 422
    assert problem in answer.json()['detail']
    assert len(api.get('/projects').json()) == before


def test_names_are_unique_per_owner(server: Server, api: httpx.Client) -> None:
    name = new_name()
    assert api.post('/projects', json={'name': name}).status_code == 201
    again = api.post('/projects', json={'name': f'  {name} '})
    assert again.status_code == 422
    assert 'already have a project named' in again.json()['detail']
    with member(server, api) as other:  # another owner may use the same name
        assert other.post('/projects', json={'name': name}).status_code == 201


def test_invalid_patch_changes_nothing(api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': new_name(), 'budget_usd': 5}).json()
    for body in ({'budget_usd': -3}, {'name': None}, {'status': 'gone'}, {'name': ''}):
        assert api.patch(f'/projects/{project["id"]}', json=body).status_code == 422
    after = api.get(f'/projects/{project["id"]}').json()
    assert (after['name'], after['budget_usd'], after['status']) == (project['name'], 5, 'active')


def test_unknown_and_foreign_projects_are_404(server: Server, api: httpx.Client) -> None:
    assert api.get('/projects/999999').status_code == 404
    with member(server, api) as other:
        mine = other.post('/projects', json={'name': new_name()}).json()
        hers = api.post('/projects', json={'name': new_name()}).json()
        assert other.get(f'/projects/{hers["id"]}').status_code == 404
        assert other.patch(f'/projects/{hers["id"]}', json={'name': 'mine now'}).status_code == 404
        assert other.delete(f'/projects/{hers["id"]}').status_code == 404
        assert hers['id'] not in [p['id'] for p in other.get('/projects').json()]
        assert mine['id'] in [p['id'] for p in api.get('/projects').json()]  # admins see every project


def test_roles_decide_who_may_do_what(server: Server, api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': new_name()}).json()
    path = f'/projects/{project["id"]}'
    with member(server, api) as viewer, member(server, api) as editor:
        viewer_email = viewer.get('/me').json()['email']
        editor_email = editor.get('/me').json()['email']
        assert api.post(f'{path}/members', json={'email': viewer_email, 'role': 'viewer'}).status_code == 201
        assert api.post(f'{path}/members', json={'email': editor_email, 'role': 'editor'}).status_code == 201
        assert viewer.get(path).status_code == 200
        assert viewer.patch(path, json={'name': 'viewer was here'}).status_code == 403
        assert editor.patch(path, json={'description': 'edited'}).status_code == 200
        assert editor.delete(path).status_code == 403
        assert editor.post(f'{path}/members', json={'email': viewer_email, 'role': 'owner'}).status_code == 403
        unknown = api.post(f'{path}/members', json={'email': 'nobody@example.com', 'role': 'viewer'})
        assert unknown.status_code == 422 and 'No user has the email' in unknown.json()['detail']
        viewer_id = viewer.get('/me').json()['id']
        assert api.delete(f'{path}/members/{viewer_id}').status_code == 204
        assert viewer.get(path).status_code == 404


def test_api_keys_work_until_revoked(server: Server, api: httpx.Client) -> None:
    key = api.post('/api-keys', json={'name': 'ci'}).json()
    assert key['token'].startswith('tb_')
    assert 'token' not in api.get('/api-keys').json()[0] or api.get('/api-keys').json()[0]['token'] is None
    with server.client(key['token']) as by_key:
        assert by_key.get('/projects').status_code == 200
        assert api.delete(f'/api-keys/{key["id"]}').status_code == 204
        assert by_key.get('/projects').status_code == 401


def test_openapi_is_served_to_signed_in_callers(server: Server, api: httpx.Client) -> None:
    assert httpx.get(f'{server.url}/openapi.json').status_code == 307  # to /login
    schema = httpx.get(f'{server.url}/openapi.json', headers=api.headers).json()
    assert '/api/v1/projects/{project_id}' in schema['paths']


def test_a_project_s_run_list_says_what_each_run_says(server: Server, api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': new_name()}).json()
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'r', 'config': {'lr': 0.001},
                                                            'max_duration_s': 3600}).json()
    reported = httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report',
                          json={'steps': [{'name': 'training'}], 'status': {'state': 'failed', 'message': 'CUDA OOM'}},
                          headers={'Authorization': f'Bearer {run["token"]}'})
    assert reported.status_code == 200
    listed = api.get(f'/projects/{project["id"]}/runs').json()
    # the list once gave blanks for what a row did not carry: no message, no cause, no config, no limits
    assert listed == [api.get(f'/runs/{run["id"]}').json()]
    assert (listed[0]['status_message'], listed[0]['status_cause'], listed[0]['config']) == ('CUDA OOM', 'job',
                                                                                           {'lr': 0.001})
    assert listed[0]['steps'][0]['status'] == 'failed'
