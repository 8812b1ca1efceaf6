"""GET /api/v1/audit against a real server process (one per backend): pages, filters, CSV, refusals, and no 500 for
any query a stranger can type."""

import csv
import io
import uuid

import httpx
import pytest

from tests.helpers import Server


def _member(server: Server, api: httpx.Client) -> tuple[str, httpx.Client]:
    email, password = f'{uuid.uuid4().hex[:8]}@example.com', 'member-password'
    assert api.post('/users', json={'email': email, 'password': password}).status_code == 201
    return email, server.client(server.token(email, password))


def _project_with_a_stopped_run(client: httpx.Client, name: str | None = None) -> tuple[dict, dict]:
    project = client.post('/projects', json={'name': name or f'audited-{uuid.uuid4().hex[:8]}',
                                             'budget_usd': 5}).json()
    run = client.post(f'/projects/{project["id"]}/runs', json={'name': 'bert'}).json()
    assert client.post(f'/runs/{run["id"]}/actions/stop').status_code == 202
    assert client.patch(f'/projects/{project["id"]}', json={'budget_usd': 7}).status_code == 200
    return project, run


def test_the_trail_of_a_project_reads_as_people_did_it(api: httpx.Client) -> None:
    project, run = _project_with_a_stopped_run(api)
    answer = api.get('/audit', params={'project_id': project['id']})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body['next_before'] is None
    assert [item['action'] for item in body['items']] == ['project.budget_changed', 'project.updated', 'run.stopped',
                                                          'run.created', 'project.created']
    stopped = body['items'][2]
    assert stopped['actor'] == 'admin@example.com' and stopped['label'] == 'Run stopped'
    assert stopped['object'] == f'run #{run["id"]} "bert"' and stopped['project'] == project['name']
    assert stopped['details'].startswith('Stopped by admin@example.com.')
    assert body['items'][0]['details'] == '$5.00 → $7.00'

    older = api.get('/audit', params={'project_id': project['id'], 'limit': 2})
    assert [item['action'] for item in older.json()['items']] == ['project.budget_changed', 'project.updated']
    rest = api.get('/audit', params={'project_id': project['id'], 'before': older.json()['next_before']}).json()
    assert [item['action'] for item in rest['items']] == ['run.stopped', 'run.created', 'project.created']
    stops = api.get('/audit', params={'project_id': project['id'], 'action': 'run.', 'actor': 'admin@example.com',
                                      'since': '2000-01-01T00:00:00Z', 'until': '9999-12-30'}).json()['items']
    assert [item['action'] for item in stops] == ['run.stopped', 'run.created']


def test_owners_read_their_own_projects_and_members_who_own_nothing_are_refused(server: Server,
                                                                                   api: httpx.Client) -> None:
    owner_email, owner = _member(server, api)
    editor_email, editor = _member(server, api)
    mine, _run = _project_with_a_stopped_run(owner)
    theirs, _ = _project_with_a_stopped_run(api)
    assert owner.post(f'/projects/{mine["id"]}/members', json={'email': editor_email, 'role': 'editor'}) \
        .status_code == 201

    items = owner.get('/audit', params={'limit': 500}).json()['items']
    assert items and {item['project_id'] for item in items} == {mine['id']}
    assert items[0]['action'] == 'member.added' and items[0]['details'] == f'{editor_email} · as editor'
    assert {item['actor'] for item in items} == {owner_email}
    assert owner.get('/audit', params={'project_id': theirs['id']}).status_code == 404
    refused = editor.get('/audit')
    assert refused.status_code == 403 and 'project owners' in refused.json()['detail']
    assert editor.get('/audit', params={'format': 'csv'}).status_code == 403


def test_csv_is_an_attachment_with_a_header_and_no_formulas(api: httpx.Client) -> None:
    project, _run = _project_with_a_stopped_run(api, name=f'=HYPERLINK("http://evil.example","{uuid.uuid4().hex}")')
    answer = api.get('/audit', params={'format': 'csv', 'project_id': project['id']})
    assert answer.status_code == 200, answer.text
    assert answer.headers['content-type'].startswith('text/csv')
    assert answer.headers['content-disposition'].startswith('attachment; filename="trainboard-audit-')
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0][:4] == ['id', 'when_utc', 'actor', 'action'] and len(rows) == 6
    assert {row[9] for row in rows[1:]} == {"'" + project['name']}  # the project column, neutralised
    assert [row[3] for row in rows[1:]] == ['project.budget_changed', 'project.updated', 'run.stopped', 'run.created',
                                            'project.created']


@pytest.mark.parametrize(('params', 'field'), [
    ({'since': 'garbage'}, 'since'), ({'until': '2026-02-30'}, 'until'), ({'since': '2026-01-01\x00'}, 'since'),
    ({'until': '9999-12-31T23:59:59-12:00'}, 'until'), ({'actor': 'a\x00b@c'}, 'actor'), ({'actor': '9' * 30}, 'actor'),
    ({'action': 'run.\x00'}, 'action'), ({'action': 'x' * 1000}, 'action'), ({'project_id': '9' * 30}, 'project_id'),
    ({'project_id': '0'}, 'project_id'), ({'before': '9' * 5000}, 'before'), ({'before': '-1'}, 'before'),
    ({'limit': '0'}, 'limit'), ({'limit': '501'}, 'limit'), ({'limit': 'many'}, 'limit'), ({'format': 'xml'}, 'format'),
    ({'format': 'csv', 'since': 'nope'}, 'since'),
])
def test_bad_filters_are_a_422_naming_the_filter(api: httpx.Client, params: dict, field: str) -> None:
    answer = api.get('/audit', params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()['detail'].startswith(field)


def test_an_unknown_project_is_a_404_and_a_huge_but_valid_id_no_500(api: httpx.Client) -> None:
    assert api.get('/audit', params={'project_id': 2**31 - 1}).status_code == 404
    assert api.get('/audit', params={'before': 2**63 - 1, 'limit': 1}).status_code == 200
    assert api.get('/audit', params={'actor': str(2**31 - 1)}).json() == {'items': [], 'next_before': None}
    assert httpx.get(f'{str(api.base_url).rstrip("/")}/audit').status_code == 401
