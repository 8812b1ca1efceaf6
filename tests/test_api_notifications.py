"""The notifications API against a real server process (one per backend): the caller's own list, paged and
filtered, marking read (never someone else's), and the choice of what reaches them where."""

import uuid

import httpx
import pytest

from tests.helpers import Server


def person(server: Server, api: httpx.Client) -> tuple[httpx.Client, str]:
    """A new member, signed in through the API, and their email."""
    email = f'{uuid.uuid4().hex[:8]}@example.com'
    assert api.post('/users', json={'email': email, 'password': 'member-password'}).status_code == 201
    return server.client(server.token(email, 'member-password')), email


def project_with(api: httpx.Client, *members: str) -> dict:
    project = api.post('/projects', json={'name': f'notes-{uuid.uuid4().hex[:8]}'}).json()
    for email in members:
        assert api.post(f'/projects/{project["id"]}/members', json={'email': email, 'role': 'viewer'}).status_code \
            in (200, 201)
    return project


def end_run(server: Server, api: httpx.Client, project: dict, state: str = 'succeeded', name: str = 'bert') -> dict:
    """An external run that reports its end, as training code does: the event of its end reaches the project."""
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': name}).json()
    answer = httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report', json={'status': {'state': state}},
                        headers={'Authorization': f'Bearer {run["token"]}'})
    assert answer.status_code == 200, answer.text
    assert api.get(f'/runs/{run["id"]}').json()['status'] == state
    return run


def test_every_route_needs_sign_in(server: Server) -> None:
    base = f'{server.url}/api/v1/notifications'
    assert httpx.get(base).status_code == 401
    assert httpx.post(f'{base}/read', json={'all': True}).status_code == 401
    assert httpx.get(f'{base}/preferences').status_code == 401
    assert httpx.put(f'{base}/preferences', json={'preferences': []}).status_code == 401


def test_the_list_is_the_caller_s_paged_newest_first_with_an_unread_filter(server: Server, api: httpx.Client) -> None:
    member, email = person(server, api)
    project = project_with(api, email)
    runs = [end_run(server, api, project, state, f'run-{i}')
            for i, state in enumerate(['succeeded', 'failed', 'succeeded'])]

    first = member.get('/notifications', params={'limit': 2}).json()
    assert [item['run_id'] for item in first['items']] == [runs[2]['id'], runs[1]['id']]  # newest first
    assert first['unread'] == 3 and first['next_before'] == first['items'][-1]['id']
    assert first['items'][1]['kind'] == 'run.failed' and 'run-1' in first['items'][1]['message']
    rest = member.get('/notifications', params={'limit': 2, 'before': first['next_before']}).json()
    assert [item['run_id'] for item in rest['items']] == [runs[0]['id']] and rest['next_before'] is None
    assert {item['project_id'] for item in first['items'] + rest['items']} == {project['id']}

    oldest = rest['items'][0]['id']
    marked = member.post('/notifications/read', json={'ids': [oldest]}).json()
    assert marked == {'marked': 1, 'unread': 2}
    assert member.post('/notifications/read', json={'ids': [oldest]}).json() == {'marked': 0, 'unread': 2}
    unread = member.get('/notifications', params={'unread': 'true'}).json()
    assert [item['id'] for item in unread['items']] == [item['id'] for item in first['items']]
    assert all(not item['read'] for item in unread['items'])
    assert member.get('/notifications').json()['items'][-1] == {**rest['items'][0], 'read': True}

    assert member.post('/notifications/read', json={'all': True}).json() == {'marked': 2, 'unread': 0}
    assert member.get('/notifications', params={'unread': True}).json() == {'items': [], 'next_before': None,
                                                                            'unread': 0}


def test_marking_someone_else_s_notification_changes_nothing(server: Server, api: httpx.Client) -> None:
    one, one_email = person(server, api)
    other, other_email = person(server, api)
    project = project_with(api, one_email, other_email)
    end_run(server, api, project, 'failed')
    [theirs] = other.get('/notifications').json()['items']
    [mine] = one.get('/notifications').json()['items']
    assert theirs['id'] != mine['id']  # each has their own copy of the one event

    assert one.post('/notifications/read', json={'ids': [theirs['id']]}).json() == {'marked': 0, 'unread': 1}
    assert other.get('/notifications').json()['unread'] == 1
    assert [item['read'] for item in other.get('/notifications').json()['items']] == [False]
    assert [item['id'] for item in one.get('/notifications').json()['items']] == [mine['id']]  # and sees only hers


@pytest.mark.parametrize(('params', 'named'), [
    ({'limit': 0}, 'limit'), ({'limit': 201}, 'limit'), ({'limit': 'many'}, 'limit'),
    ({'before': 0}, 'before'), ({'before': 2**31}, 'before'), ({'unread': 'perhaps'}, 'unread'),
])
def test_bad_paging_is_a_422_naming_the_parameter(api: httpx.Client, params: dict, named: str) -> None:
    answer = api.get('/notifications', params=params)
    assert answer.status_code == 422 and named in answer.json()['detail'], answer.text


@pytest.mark.parametrize(('body', 'named'), [
    ({}, 'ids'), ({'ids': [1], 'all': True}, 'ids'), ({'all': False}, 'all'), ({'ids': [0]}, 'ids.0'),
    ({'ids': 'all'}, 'ids'), ({'ids': list(range(1, 1002))}, 'ids'),
])
def test_bad_mark_requests_are_a_422(api: httpx.Client, body: dict, named: str) -> None:
    answer = api.post('/notifications/read', json=body)
    assert answer.status_code == 422 and named in answer.json()['detail'], answer.text


@pytest.mark.parametrize(('body', 'named'), [
    ({'preferences': [{'kind': 'run.failed', 'in_app': True, 'email': False, 'slack': True}]}, 'preferences.0.slack'),
    ({'preferences': [], 'mute_all': True}, 'mute_all'),
    ({'all': True, 'older_than': 3}, 'older_than'),
])
def test_unknown_fields_in_choices_and_marks_are_a_422_naming_them(api: httpx.Client, body: dict, named: str) -> None:
    # as a target's are: a misspelt or unsupported field is said, not silently dropped
    path = '/notifications/read' if 'all' in body else '/notifications/preferences'
    answer = (api.post if 'all' in body else api.put)(path, json=body)
    assert answer.status_code == 422 and named in answer.json()['detail'], answer.text


def test_preferences_show_defaults_take_choices_and_refuse_unknown_kinds(server: Server, api: httpx.Client) -> None:
    member, email = person(server, api)
    shown = {p['kind']: p for p in member.get('/notifications/preferences').json()['preferences']}
    assert 'run.failed' in shown and shown['run.failed']['label'] == 'A run failed'
    assert all(p['in_app'] for p in shown.values())  # everything shows in the app by default

    answer = member.put('/notifications/preferences', json={'preferences': [
        {'kind': 'run.succeeded', 'in_app': False, 'email': False},
        {'kind': 'budget.threshold', 'in_app': True, 'email': True}]})
    assert answer.status_code == 200, answer.text
    chosen = {p['kind']: p for p in answer.json()['preferences']}
    assert chosen['run.succeeded']['in_app'] is False and chosen['budget.threshold']['email'] is True
    assert chosen['run.failed'] == shown['run.failed']  # left out: unchanged

    refused = member.put('/notifications/preferences', json={'preferences': [
        {'kind': 'run.failed', 'in_app': False, 'email': False},
        {'kind': 'run.exploded', 'in_app': True, 'email': True}]})
    assert refused.status_code == 422 and 'run.exploded' in refused.json()['detail']
    after = {p['kind']: p for p in member.get('/notifications/preferences').json()['preferences']}
    assert after == chosen  # nothing changed, not even the known kind sent with it
    missing = member.put('/notifications/preferences', json={'preferences': [{'kind': 'run.failed'}]})
    assert missing.status_code == 422 and 'in_app' in missing.json()['detail']

    # and the choice is honoured: the member opted out of successes in the app, and hears only of the failure
    project = project_with(api, email)
    end_run(server, api, project, 'succeeded')
    end_run(server, api, project, 'failed')
    assert [item['kind'] for item in member.get('/notifications').json()['items']] == ['run.failed']
