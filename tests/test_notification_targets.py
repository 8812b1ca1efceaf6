"""A project's notification targets: only its owners (and admins) add, see and remove them; URLs go to public hosts
only and are encrypted at rest; a webhook's secret is shown once; bad input is a readable 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import settings
from models import AuditEntry, MemberRole, NotificationTarget, Role
from services import auth, keys, notification_targets, notifications, projects
from services.channels import PURPOSE
from services.errors import Forbidden, Invalid, NotFound
from tests import helpers
from tests.receivers import WebhookReceiver


@pytest.fixture
def private_hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('TRAINBOARD_DATA_DIR', str(tmp_path / 'data'))
    monkeypatch.setenv('TRAINBOARD_WEBHOOK_PRIVATE_HOSTS', 'true')
    settings.reload()


async def _team() -> tuple:
    owner = await auth.create_user('olga@example.com', 'a long password')
    co_owner = await auth.create_user('co@example.com', 'a long password')
    editor = await auth.create_user('ed@example.com', 'a long password')
    viewer = await auth.create_user('vi@example.com', 'a long password')
    outsider = await auth.create_user('out@example.com', 'a long password')
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    project = await projects.create_project(owner, name='vision')
    for user, role in ((co_owner, MemberRole.OWNER), (editor, MemberRole.EDITOR), (viewer, MemberRole.VIEWER)):
        await projects.add_member(owner, project['id'], user.email, role)
    return owner, co_owner, editor, viewer, outsider, admin, project['id']


async def test_only_owners_and_admins_manage_targets(orm: str, private_hosts: None) -> None:
    owner, co_owner, editor, viewer, outsider, admin, project_id = await _team()
    url = 'http://127.0.0.1:9/hook'
    for refused, role in ((editor, 'an editor'), (viewer, 'a viewer')):
        with pytest.raises(Forbidden, match=f'^You need the owner role on "vision" for that; you are {role}.$'):
            await notification_targets.add(refused, project_id, kind='webhook', url=url)
    with pytest.raises(NotFound):
        await notification_targets.add(outsider, project_id, kind='webhook', url=url)
    assert await NotificationTarget.all().count() == 0

    added = await notification_targets.add(co_owner, project_id, kind='webhook', url=url)
    by_admin = await notification_targets.add(admin, project_id, kind='slack', url=url)
    assert [t.id for t in await notification_targets.listed(owner, project_id)] == [added.target.id, by_admin.target.id]
    for refused in (editor, viewer):
        with pytest.raises(Forbidden):
            await notification_targets.listed(refused, project_id)
        with pytest.raises(Forbidden):
            await notification_targets.deliveries(refused, project_id)
        with pytest.raises(Forbidden):
            await notification_targets.delete(refused, project_id, added.target.id)
        with pytest.raises(Forbidden):
            await notification_targets.set_enabled(refused, project_id, added.target.id, False)
    await notification_targets.delete(owner, project_id, added.target.id)
    assert [t.id for t in await notification_targets.listed(admin, project_id)] == [by_admin.target.id]
    other = await projects.create_project(outsider, name='theirs')
    with pytest.raises(NotFound):  # a target is removed through its own project only
        await notification_targets.delete(outsider, other['id'], by_admin.target.id)


async def test_the_secret_is_shown_once_and_stored_encrypted_like_the_url(orm: str, private_hosts: None) -> None:
    owner, *_rest, project_id = await _team()
    url = 'http://127.0.0.1:9/hooks/abcdefgh-token-1234'
    added = await notification_targets.add(owner, project_id, kind='webhook', url=url, label=' ops  team ')
    assert added.secret and len(added.secret) >= 40
    assert added.target.label == 'ops team' and added.target.url_hint == 'http://127.0.0.1:9/••••1234'
    [listed] = await notification_targets.listed(owner, project_id)
    assert listed == added.target and not hasattr(listed, 'secret')
    stored = await NotificationTarget.get(id=added.target.id)
    assert url not in stored.url_encrypted and added.secret not in stored.secret_encrypted
    assert keys.decrypt(stored.url_encrypted, PURPOSE) == url
    assert keys.decrypt(stored.secret_encrypted, PURPOSE) == added.secret
    [entry] = await AuditEntry.filter(action='notification_target.added')
    assert entry.project_id == project_id and entry.actor_id == owner.id
    # the trail, read by every owner and admin for a long time, keeps where it went, not a hint of the secret path
    assert entry.details['url'] == 'http://127.0.0.1:9' and added.secret not in str(entry.details)
    await notification_targets.delete(owner, project_id, added.target.id)
    [removed] = await AuditEntry.filter(action='notification_target.removed', project_id=project_id)
    assert removed.details['url'] == 'http://127.0.0.1:9'


@pytest.mark.parametrize(('url', 'why'), [
    ('http://127.0.0.1:8080/hook', '127.0.0.1 is a loopback address'),
    ('http://localhost/hook', 'localhost is a loopback address'),
    ('http://[::1]/hook', '::1 is a loopback address'),
    ('http://[::ffff:127.0.0.1]/hook', 'is a loopback address'),
    ('http://169.254.169.254/latest/meta-data/', '169.254.169.254 is a link-local address'),
    ('https://10.1.2.3/hook', '10.1.2.3 is a private address'),
    ('https://192.168.0.7/hook', '192.168.0.7 is a private address'),
    ('http://0.0.0.0/hook', '0.0.0.0 is an unspecified address'),
    ('http://224.0.0.1/hook', '224.0.0.1 is a multicast address'),
    ('ftp://example.com/hook', 'must start with https://'),
    ('file:///etc/passwd', 'must start with https://'),
    ('https://user:pw@example.com/hook', 'no user name or password'),
    ('https://no-such-host.invalid/hook', 'The host no-such-host.invalid was not found'),
    ('not a url', 'cannot contain spaces'),
    (f'https://{"a" * 70}.example.com/hook', 'is not a host name'),  # IDNA refuses it: a 422, not a 500
    ('https://example.com:0/hook', 'The port must be between 1 and 65535'),
    # IPv6 addresses that carry an IPv4 one to a relay: 6to4 (2002::/16) and Teredo (2001::/32), NAT64 (64:ff9b::/96)
    ('http://[2002:7f00:1::]/hook', '2002:7f00:1:: is a loopback address'),  # 127.0.0.1 in 6to4
    ('http://[2002:a9fe:a9fe::1]/hook', 'is a link-local address'),  # 169.254.169.254
    ('http://[2002:a00:1::]/hook', 'is a private address'),  # 10.0.0.1
    ('http://[2002:c0a8:101::]/hook', 'is a private address'),  # 192.168.1.1
    ('http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook', 'is a loopback address'),  # Teredo, client 127.0.0.1
    ('http://[2001:0:a00:1:8000:63bf:3fff:fdd2]/hook', 'is a private address'),  # Teredo, server 10.0.0.1
    ('http://[64:ff9b::a9fe:a9fe]/hook', 'is a link-local address'),  # NAT64 of 169.254.169.254
])
async def test_urls_of_private_or_odd_places_are_refused(orm: str, tmp_path: Path, monkeypatch, url: str,
                                                         why: str) -> None:
    monkeypatch.setenv('TRAINBOARD_DATA_DIR', str(tmp_path / 'data'))
    settings.reload()
    owner, *_rest, project_id = await _team()
    with pytest.raises(Invalid, match='^url: .*' + why.replace('.', r'\.').replace('[', r'\[')):
        await notification_targets.add(owner, project_id, kind='webhook', url=url)
    assert await NotificationTarget.all().count() == 0


async def test_kinds_are_checked_and_filter_what_is_queued(orm: str, private_hosts: None) -> None:
    owner, *_rest, project_id = await _team()
    with pytest.raises(Invalid, match='kinds: unknown event kind run.exploded'):
        await notification_targets.add(owner, project_id, kind='webhook', url='http://127.0.0.1:9/',
                                       kinds=['run.failed', 'run.exploded'])
    with pytest.raises(Invalid, match='kind: a target is one of slack, webhook'):
        await notification_targets.add(owner, project_id, kind='pager', url='http://127.0.0.1:9/')
    added = await notification_targets.add(owner, project_id, kind='slack', url='http://127.0.0.1:9/',
                                           kinds=['budget.threshold', 'run.failed', 'run.failed'])
    assert added.target.kinds == ['run.failed', 'budget.threshold']
    await notifications.emit('run.stalled', key='a', message='stalled', project_id=project_id)
    await notifications.emit('budget.threshold', key='b', message='50%', project_id=project_id)
    [delivery] = await notification_targets.deliveries(owner, project_id)
    assert (delivery.channel, delivery.event_kind, delivery.status) == ('slack', 'budget.threshold', 'pending')
    assert delivery.target == 'Slack (http://127.0.0.1:9/)'


# --- the API ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope='module', params=['sqlite', pytest.param('postgres', marks=pytest.mark.skipif(
    not helpers.POSTGRES_URL, reason='needs TRAINBOARD_TEST_POSTGRES_URL'))])
def hooks_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[helpers.Server]:
    """A server that lets webhooks reach this machine (the session's server does not: it checks the refusal)."""
    tmp = tmp_path_factory.mktemp(f'hooks-{request.param}')
    url = helpers.migrated_database_url(request.param, tmp)
    server = helpers.Server(helpers.app_env(url, tmp / 'data', TRAINBOARD_WEBHOOK_PRIVATE_HOSTS='true')).start()
    yield server
    server.stop()
    helpers.drop_schema(url)


def _member(server: helpers.Server, admin: httpx.Client, project_id: int, role: str) -> httpx.Client:
    email = f'{role}-{project_id}@example.com'
    assert admin.post('/users', json={'email': email, 'password': 'a long password', 'name': role}).status_code == 201
    assert admin.post(f'/projects/{project_id}/members', json={'email': email, 'role': role}).status_code == 201
    return server.client(server.token(email, 'a long password'))


def test_the_api_adds_lists_and_removes_targets_and_shows_the_secret_once(hooks_server: helpers.Server) -> None:
    with hooks_server.client() as api, WebhookReceiver() as receiver:
        project = api.post('/projects', json={'name': 'hooked'}).json()
        base = f'/projects/{project["id"]}/notification-targets'
        answer = api.post(base, json={'kind': 'webhook', 'url': f'{receiver.url}/in', 'label': 'ops',
                                      'kinds': ['run.failed']})
        assert answer.status_code == 201, answer.text
        added = answer.json()
        assert len(added['secret']) >= 40 and added['url_hint'] == f'{receiver.url}/••••'
        listed = api.get(base).json()
        assert [t['id'] for t in listed] == [added['id']] and 'secret' not in listed[0]
        assert added['secret'] not in api.get(base).text
        assert api.patch(f'{base}/{added["id"]}', json={'enabled': False}).json()['enabled'] is False
        assert api.get(f'/projects/{project["id"]}/deliveries').json() == []
        assert api.delete(f'{base}/{added["id"]}').status_code == 204
        assert api.get(base).json() == []
        assert api.delete(f'{base}/{added["id"]}').status_code == 404


def test_the_api_refuses_bad_input_and_other_roles_readably(hooks_server: helpers.Server) -> None:
    with hooks_server.client() as api:
        project = api.post('/projects', json={'name': 'refusals'}).json()
        base = f'/projects/{project["id"]}/notification-targets'
        for body, says in (({'kind': 'webhook', 'url': 'ftp://example.com/x'}, 'url: The URL must start with https://'),
                           ({'kind': 'pager', 'url': 'https://example.com'}, 'kind: Input should be'),
                           ({'kind': 'slack', 'url': 'http://127.0.0.1:9/', 'kinds': ['nope']},
                            'kinds: unknown event kind nope'),
                           ({'kind': 'slack'}, 'url: Field required')):
            answer = api.post(base, json=body)
            assert answer.status_code == 422 and says in answer.json()['detail'], answer.text
        for role in ('viewer', 'editor'):
            with _member(hooks_server, api, project['id'], role) as member:
                answer = member.post(base, json={'kind': 'slack', 'url': 'http://127.0.0.1:9/'})
                assert answer.status_code == 403 and 'owner role' in answer.json()['detail']
                assert member.get(base).status_code == 403
                assert member.get(f'/projects/{project["id"]}/deliveries').status_code == 403
        assert api.get(base).json() == []
        assert api.get(f'/projects/{project["id"]}/deliveries', params={'limit': 0}).status_code == 422
        assert httpx.get(f'{hooks_server.url}/api/v1{base}').status_code == 401


def test_the_session_server_refuses_loopback_targets(api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': 'no private hosts'}).json()
    answer = api.post(f'/projects/{project["id"]}/notification-targets',
                      json={'kind': 'webhook', 'url': 'http://127.0.0.1:9/hook'})
    assert answer.status_code == 422
    assert answer.json()['detail'] == 'url: 127.0.0.1 is a loopback address (127.0.0.1): webhooks only go to public ' \
                                      'addresses.'
