"""Tags and a note on a run through the API: PATCH /runs/{id}, in every run's JSON, checked, editors only."""

import uuid

import httpx

from tests.helpers import Server


def test_tags_and_note_through_the_api(server: Server, api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': f'labels-{uuid.uuid4().hex[:8]}'}).json()
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'tagged'}).json()
    assert (run['tags'], run['note'], run['archived']) == ([], '', False)  # the fields every run's JSON has

    answer = api.patch(f'/runs/{run["id"]}', json={'tags': ['baseline', 'lr-sweep'], 'note': 'the one to beat'})
    assert answer.status_code == 200, answer.text
    assert (answer.json()['tags'], answer.json()['note']) == (['baseline', 'lr-sweep'], 'the one to beat')
    assert api.patch(f'/runs/{run["id"]}', json={'note': ''}).json()['tags'] == ['baseline', 'lr-sweep']  # kept
    listed = api.get(f'/projects/{project["id"]}/runs').json()
    assert [(r['tags'], r['note']) for r in listed] == [(['baseline', 'lr-sweep'], '')]

    for body, status, words in (({'tags': ['two words']}, 422, 'is not valid'),
                                ({'tags': [f't{i}' for i in range(21)]}, 422, 'at most 20'),
                                ({'note': 'n' * 2001}, 422, '2000'),
                                ({'tags': 'baseline'}, 422, 'list'),
                                ({}, 422, 'Send tags, a note')):
        bad = api.patch(f'/runs/{run["id"]}', json=body)
        assert bad.status_code == status and words in bad.text, (body, bad.status_code, bad.text)
    assert api.get(f'/runs/{run["id"]}').json()['tags'] == ['baseline', 'lr-sweep']  # nothing changed

    email, password = f'{uuid.uuid4().hex[:8]}@example.com', 'viewer-password'
    assert api.post('/users', json={'email': email, 'password': password}).status_code == 201
    assert api.post(f'/projects/{project["id"]}/members', json={'email': email, 'role': 'viewer'}).status_code == 201
    with server.client(server.token(email, password)) as viewer:
        assert viewer.get(f'/runs/{run["id"]}').json()['note'] == ''  # viewers read
        refused = viewer.patch(f'/runs/{run["id"]}', json={'tags': ['mine']})
        assert refused.status_code == 403 and refused.json()['detail']
    assert api.patch('/runs/999999', json={'tags': []}).status_code == 404
