"""Signing in over the API against a real server: parallel guesses, an owner who still gets in during a flood,
passwords changed and reset, and tokens their owner lists and revokes.

Loopback has a whole /8, so a client bound to 127.0.0.x is a different address to the server: each test uses its own
addresses and a fresh account, and never 127.0.0.1, which the other tests of the session sign in from.
"""

import concurrent.futures
import itertools
import time
import uuid

import httpx

from tests.helpers import Server

_addresses = (f'127.0.{block}.{host}' for block, host in itertools.product(range(10, 200), range(2, 250)))


def test_parallel_guesses_are_refused_before_their_password_is_checked(server: Server) -> None:
    email, password = _new_member(server)
    stranger = next(_addresses)
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda i: _post(server, stranger, {'email': email, 'password': f'guess {i}'}),
                                range(20)))

    codes = [answer.status_code for answer in answers]
    assert set(codes) <= {401, 429}
    assert codes.count(401) <= 2  # all 20 arrive within the first block (1 s): one checked, at most one late
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.json()['detail'].startswith('Too many failed sign-ins: try again in')


def test_the_owner_signs_in_while_a_stranger_floods_the_account(server: Server) -> None:
    email, password = _new_member(server)
    owner, stranger = next(_addresses), next(_addresses)
    assert _post(server, owner, {'email': email, 'password': password}).status_code == 200

    with concurrent.futures.ThreadPoolExecutor(21) as pool:
        flood = [pool.submit(_post, server, stranger, {'email': email, 'password': f'guess {i}'}) for i in range(20)]
        signed_in = pool.submit(_post, server, owner, {'email': email, 'password': password})
        assert signed_in.result().status_code == 200
        assert {future.result().status_code for future in flood} <= {401, 429}


def test_change_your_password(server: Server) -> None:
    email, password = _new_member(server)
    address = next(_addresses)
    token, other_token = (_post(server, address, {'email': email, 'password': password}).json()['token']
                          for _ in range(2))
    api = _client(server, token, address)
    assert api.post('/api-keys', json={'name': 'ci'}).status_code == 201

    for body, problem in (({'current_password': password, 'new_password': ' ' * 12}, 'at least 8'),
                          ({'current_password': password, 'new_password': email}, 'email'),
                          ({'current_password': 'wrong', 'new_password': 'a new password'}, 'not right')):
        answer = api.post('/me/password', json=body)
        assert answer.status_code == 422 and problem in answer.json()['detail']
    assert api.get('/me').status_code == 200 and server.client(other_token).get('/me').status_code == 200

    answer = _wait_out_the_block(lambda: api.post('/me/password', json={'current_password': password,
                                                                         'new_password': 'a new password'}))
    assert answer.status_code == 204, answer.text
    assert api.get('/me').status_code == 200  # the token that changed it stays ...
    assert server.client(other_token).get('/me').status_code == 401  # ... the other login token ends
    assert [key['kind'] for key in api.get('/me/tokens').json()] == ['key', 'login']  # the named key stays
    assert _post(server, address, {'email': email, 'password': 'a new password'}).status_code == 200


def test_an_admin_resets_a_password(server: Server) -> None:
    email, password = _new_member(server)
    member = server.client(server.token(email, password))
    admin = server.client()
    member_id = member.get('/me').json()['id']
    admin_id = admin.get('/me').json()['id']

    assert member.post(f'/users/{admin_id}/password', json={'password': 'taken over!'}).status_code == 403
    assert admin.post(f'/users/{member_id}/password', json={'password': '        '}).status_code == 422
    assert admin.post('/users/2147483648/password', json={'password': 'a new password'}).status_code == 422
    assert admin.post('/users/2147483647/password', json={'password': 'a new password'}).status_code == 404
    assert admin.post(f'/users/{member_id}/password', json={'password': 'a new password'}).status_code == 204
    assert member.get('/me').status_code == 401  # their login tokens ended
    assert server.token(email, 'a new password')


def test_list_and_revoke_your_tokens(server: Server) -> None:
    email, password = _new_member(server)
    first, second = server.token(email, password), server.token(email, password)
    api = server.client(first)
    listed = api.get('/me/tokens').json()
    assert [(token['kind'], token['current']) for token in listed] == [('login', False), ('login', True)]
    assert all(token['prefix'] == token_text[:10] for token, token_text in zip(listed, (second, first), strict=True))
    assert first not in str(listed) and second not in str(listed)  # never the token itself

    other = server.client()
    assert other.delete(f'/me/tokens/{listed[0]["id"]}').status_code == 404  # not the admin's to end
    assert api.delete(f'/me/tokens/{listed[0]["id"]}').status_code == 204
    assert server.client(second).get('/me').status_code == 401
    assert api.delete('/me/tokens/99999999999').status_code == 422


def test_weak_passwords_and_long_names_are_refused(server: Server) -> None:
    admin = server.client()
    for body in ({'email': 'spaces@example.com', 'password': ' ' * 8},
                 {'email': 'self@example.com', 'password': 'self@example.com'},
                 {'email': 'long@example.com', 'password': 'a long password', 'name': 'n' * 101}):
        answer = admin.post('/users', json=body)
        assert answer.status_code == 422 and answer.json()['detail'], body
    assert not {'spaces@example.com', 'self@example.com', 'long@example.com'} & \
        {user['email'] for user in admin.get('/users').json()}


def test_account_answers_keep_their_fields(server: Server) -> None:
    """Users, keys, tokens and members reach the API as typed views: the JSON they make stays what it was."""
    email, password = _new_member(server)
    admin = server.client()
    member_id = next(user['id'] for user in admin.get('/users').json() if user['email'] == email)
    assert next(user for user in admin.get('/users').json() if user['id'] == member_id) == \
        {'id': member_id, 'email': email, 'name': email.split('@')[0], 'role': 'member', 'is_active': True}

    api = server.client(server.token(email, password))
    created = api.post('/api-keys', json={'name': 'ci'}).json()
    assert set(created) == {'id', 'name', 'prefix', 'created_at', 'last_used_at', 'token'}
    assert created['prefix'] == created['token'][:10] and created['last_used_at'] is None
    assert api.get('/api-keys').json() == [{**created, 'token': None}]
    tokens = api.get('/me/tokens').json()
    assert [(token['kind'], token['name'], token['current']) for token in tokens] == \
        [('key', 'ci', False), ('login', 'login', True)]
    assert set(tokens[0]) == {'id', 'kind', 'name', 'prefix', 'created_at', 'last_used_at', 'expires_at', 'current'}

    project = api.post('/projects', json={'name': f'members {uuid.uuid4().hex[:8]}'}).json()
    admin_me = admin.get('/me').json()
    added = api.post(f'/projects/{project["id"]}/members', json={'email': admin_me['email'], 'role': 'editor'})
    assert added.status_code == 201
    assert added.json() == [{'user_id': member_id, 'email': email, 'name': email.split('@')[0], 'role': 'owner'},
                            {'user_id': admin_me['id'], 'email': admin_me['email'], 'name': admin_me['name'],
                             'role': 'editor'}]
    assert api.get(f'/projects/{project["id"]}/members').json() == added.json()


def _new_member(server: Server) -> tuple[str, str]:
    email, password = f'member-{uuid.uuid4().hex[:8]}@example.com', 'member password'
    answer = server.client().post('/users', json={'email': email, 'password': password})
    assert answer.status_code == 201, answer.text
    return email, password


def _post(server: Server, address: str, body: dict) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30) as client:
        return client.post(f'{server.url}/api/v1/auth/token', json=body)


def _client(server: Server, token: str, address: str) -> httpx.Client:
    return httpx.Client(base_url=f'{server.url}/api/v1', headers={'Authorization': f'Bearer {token}'}, timeout=30,
                        transport=httpx.HTTPTransport(local_address=address))


def _wait_out_the_block(send, tries: int = 40) -> httpx.Response:
    """Send until the answer is not 429: a wrong password blocked the address for a second."""
    for _ in range(tries):
        answer = send()
        if answer.status_code != 429:
            return answer
        time.sleep(0.25)
    return answer
