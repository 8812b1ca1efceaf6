"""Credentials have an owner and a scope: who adds, sees and removes them, which one a launch uses, and that each
run is polled, controlled and billed through its own, whatever happens to the others."""

import asyncio
import base64
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from nicegui import ui
from nicegui.testing import User as Tab

import settings
from models import Credential, MemberRole, Role, Run, RunStatus, User
from services import auth, credentials, database, keys, projects, providers, run_control, runs
from services.background import intents, poller
from services.errors import Conflict, Forbidden, Invalid, NotFound
from tests import helpers
from tests.fakes.novita import API_KEY, TEAM, FakeNovita
from tests.helpers import ADMIN_EMAIL, Server, eventually

ELSEWHERE_KEY = 'nv-someone-elses-key-9876'
NON_ASCII_KEY = 'nv-test-kéy-0000-5678'  # pasted from a document that "improved" a character
GPU_RUN = {'command': 'python train.py', 'image': 'pytorch/pytorch:2.4', 'product_id': '4090.16c96g.v2',
           'gpu_count': 1}


@dataclass
class Team:
    admin: User
    owner: User  # owns the project `project`
    editor: User  # may launch in it
    stranger: User  # no role in it; owns a project of their own
    project: int
    strangers_project: int


@pytest.fixture
def cloud_settings(novita: FakeNovita, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNovita]:
    monkeypatch.setenv('TRAINBOARD_NOVITA_BASE_URL', novita.url)
    monkeypatch.setenv('TRAINBOARD_DATA_DIR', str(tmp_path / 'data'))
    settings.reload()
    yield novita


@pytest.fixture
async def team(orm: str, cloud_settings: FakeNovita) -> Team:
    admin = await auth.create_user('admin@example.com', 'a long password', role=Role.ADMIN)
    owner = await auth.create_user('owner@example.com', 'a long password')
    editor = await auth.create_user('editor@example.com', 'a long password')
    stranger = await auth.create_user('stranger@example.com', 'a long password')
    project = await projects.create_project(owner, name='vision', budget_usd=100)
    await projects.add_member(owner, project['id'], editor.email, MemberRole.EDITOR.value)
    own = await projects.create_project(stranger, name='mine', budget_usd=100)
    return Team(admin, owner, editor, stranger, project['id'], own['id'])


async def test_only_admins_add_and_remove_workspace_credentials(team: Team) -> None:
    with pytest.raises(Forbidden):
        await credentials.add(team.owner, provider='novita', label='mine', secret=ELSEWHERE_KEY)
    assert not await Credential.exists()  # nothing stored
    added = await credentials.add(team.admin, provider='novita', label='team', secret=API_KEY)
    assert (added['scope'], added['project_id'], added['secret']) == ('workspace', None, '••••' + API_KEY[-4:])
    with pytest.raises((Forbidden, NotFound)):
        await credentials.delete(team.owner, added['id'])
    await credentials.delete(team.admin, added['id'])
    assert not await Credential.exists()


async def test_project_owners_add_and_remove_their_project_s_credentials(team: Team) -> None:
    with pytest.raises(Forbidden):  # a member who is not an owner
        await credentials.add(team.editor, provider='novita', label='x', secret=ELSEWHERE_KEY, project_id=team.project)
    with pytest.raises(NotFound):  # no role in the project at all
        await credentials.add(team.stranger, provider='novita', label='x', secret=ELSEWHERE_KEY,
                              project_id=team.project)
    assert not await Credential.exists()
    added = await credentials.add(team.owner, provider='novita', label='vision key', secret=API_KEY,
                                  project_id=team.project)
    assert (added['scope'], added['project_id'], added['project_name']) == ('project', team.project, 'vision')
    with pytest.raises(Forbidden):
        await credentials.delete(team.editor, added['id'])
    with pytest.raises(NotFound):
        await credentials.delete(team.stranger, added['id'])
    assert await Credential.exists(id=added['id'])
    by_admin = await credentials.add(team.admin, provider='novita', label='by admin', secret=API_KEY,
                                     project_id=team.project)
    await credentials.delete(team.owner, by_admin['id'])
    await credentials.delete(team.owner, added['id'])
    assert not await Credential.exists()


async def test_the_list_shows_the_workspace_s_and_one_s_own_projects_credentials_masked(team: Team) -> None:
    workspace = await credentials.add(team.admin, provider='novita', label='team', secret=API_KEY)
    vision = await credentials.add(team.owner, provider='novita', label='vision', secret=API_KEY,
                                   project_id=team.project)
    mine = await credentials.add(team.stranger, provider='novita', label='mine', secret=ELSEWHERE_KEY,
                                 project_id=team.strangers_project)
    seen = {user.email: {c['id'] for c in await credentials.listed(user)}
            for user in (team.admin, team.owner, team.editor, team.stranger)}
    assert seen == {team.admin.email: {workspace['id'], vision['id'], mine['id']},
                    team.owner.email: {workspace['id'], vision['id']},
                    team.editor.email: {workspace['id'], vision['id']},
                    team.stranger.email: {workspace['id'], mine['id']}}
    for row in await credentials.listed(team.admin):
        assert set(row['secret']) - set('•') <= set(API_KEY[-4:] + ELSEWHERE_KEY[-4:]) and len(row['secret']) == 8
    usable = {user.email: {c.id for p in await providers.available(user) for c in p.credentials}
              for user in (team.editor, team.stranger)}  # what GET /providers offers each to launch with
    assert usable == {team.editor.email: {workspace['id'], vision['id']},
                      team.stranger.email: {workspace['id'], mine['id']}}


async def test_a_credential_that_active_runs_use_cannot_be_removed(team: Team) -> None:
    added = await credentials.add(team.owner, provider='novita', label='vision', secret=API_KEY,
                                  project_id=team.project)
    run = await Run.create(project_id=team.project, name='finetune', provider='novita', status=RunStatus.RUNNING,
                           job_ref='abc', credential_id=added['id'])
    with pytest.raises(Conflict, match=rf'run {run.id} "finetune"'):
        await credentials.delete(team.owner, added['id'])
    assert await Credential.exists(id=added['id'])
    await Run.filter(id=run.id).update(status=RunStatus.SUCCEEDED, provider_state='released')
    await credentials.delete(team.owner, added['id'])


async def test_a_launch_uses_the_project_s_credential_else_the_workspace_s_or_the_one_named(team: Team) -> None:
    with pytest.raises(Invalid, match='Add a Novita API key'):
        await runs.create_run(team.editor, team.project, name='x', provider='novita', spec=GPU_RUN)
    workspace = await credentials.add(team.admin, provider='novita', label='team', secret=API_KEY)
    first, _ = await runs.create_run(team.editor, team.project, name='a', provider='novita', spec=GPU_RUN)
    assert first['credential_id'] == workspace['id']
    vision = await credentials.add(team.owner, provider='novita', label='vision', secret=API_KEY,
                                   project_id=team.project)
    second, _ = await runs.create_run(team.editor, team.project, name='b', provider='novita', spec=GPU_RUN)
    assert second['credential_id'] == vision['id']  # the project's own comes first
    named, _ = await runs.create_run(team.editor, team.project, name='c', provider='novita', spec=GPU_RUN,
                                     credential_id=workspace['id'])
    assert named['credential_id'] == workspace['id']
    assert (await Run.get(id=named['id'])).credential_id == workspace['id']
    await credentials.add(team.owner, provider='novita', label='vision 2', secret=API_KEY, project_id=team.project)
    with pytest.raises(Invalid, match='credential_id'):  # two of the project's own: the launch must name one
        await runs.create_run(team.editor, team.project, name='d', provider='novita', spec=GPU_RUN)
    strangers = await credentials.add(team.stranger, provider='novita', label='mine', secret=ELSEWHERE_KEY,
                                      project_id=team.strangers_project)
    before = await Run.all().count()
    with pytest.raises((Invalid, Forbidden)):  # another project's key is not usable here, even when named
        await runs.create_run(team.editor, team.project, name='e', provider='novita', spec=GPU_RUN,
                              credential_id=strangers['id'])
    with pytest.raises((Invalid, Forbidden)):
        await runs.create_run(team.editor, team.project, name='f', provider='novita', spec=GPU_RUN,
                              credential_id=987654)
    assert await Run.all().count() == before


async def test_a_non_member_s_key_changes_nothing_of_the_team_s_runs(team: Team, novita: FakeNovita) -> None:
    novita.add_account(ELSEWHERE_KEY, 'elsewhere')
    await credentials.add(team.admin, provider='novita', label='team', secret=API_KEY)
    launched, _ = await run_control.start(team.editor, team.project, name='finetune', provider='novita',
                                          spec=GPU_RUN)
    await intents.launch_queued()  # the leader launches it
    await credentials.add(team.stranger, provider='novita', label='mine', secret=ELSEWHERE_KEY,
                          project_id=team.strangers_project)
    for _ in range(3):
        novita.advance()
        await poller.poll_once()
    run = await Run.get(id=launched['id'])
    assert run.status == RunStatus.RUNNING, run.status_message  # not "removed": polled through the team's key
    relaunched, _ = await run_control.start(team.editor, team.project, name='again', provider='novita',
                                            spec=GPU_RUN)
    await intents.launch_queued()  # the leader launches it
    assert [i.account for i in novita.live()] == [TEAM, TEAM]  # the next launch goes to the team's account too
    for run_id in (launched['id'], relaunched['id']):
        await run_control.act(team.editor, run_id, 'cancel')
    await poller.poll_once()  # the leader frees the instances of cancelled runs
    assert not novita.live()


async def test_a_retry_keeps_the_credential_of_the_run(team: Team, novita: FakeNovita) -> None:
    workspace = await credentials.add(team.admin, provider='novita', label='team', secret=API_KEY)
    await credentials.add(team.admin, provider='novita', label='team 2', secret=API_KEY)
    launched, _ = await run_control.start(team.editor, team.project, name='finetune', provider='novita',
                                          spec=GPU_RUN, credential_id=workspace['id'])
    await intents.launch_queued()  # the leader launches it
    await run_control.act(team.editor, launched['id'], 'cancel')
    retried = await run_control.act(team.editor, launched['id'], 'retry')
    assert retried['credential_id'] == workspace['id']
    await run_control.act(team.editor, retried['id'], 'cancel')
    await poller.poll_once()
    assert not novita.live()


async def test_a_broken_key_is_shown_and_the_rest_of_the_cycle_runs(team: Team, novita: FakeNovita) -> None:
    good = await credentials.add(team.admin, provider='novita', label='team', secret=API_KEY)
    launched, _ = await run_control.start(team.editor, team.project, name='finetune', provider='novita',
                                          spec=GPU_RUN)
    await intents.launch_queued()  # the leader launches it
    broken = await stored_before_keys_were_checked(team.owner, 'pasted', NON_ASCII_KEY, project_id=team.project)
    refused = await credentials.add(team.stranger, provider='novita', label='old', secret='nv-revoked-key-0000',
                                    project_id=team.strangers_project)
    for _ in range(3):
        novita.advance()
        await poller.poll_once()  # neither the encoding error nor the 401 stops it
    shown = {c['id']: c for c in await credentials.listed(team.admin)}
    assert shown[good['id']]['ok'] is True
    assert shown[broken['id']]['ok'] is False and 'ASCII' in shown[broken['id']]['error']
    assert shown[refused['id']]['ok'] is False and 'refused the API key' in shown[refused['id']]['error']
    assert (await Run.get(id=launched['id'])).status == RunStatus.RUNNING
    # enforcement still runs after the bad keys: a stalled run is told, then fails, and its instance goes through
    # its own key
    await Run.filter(id=launched['id']).update(stall_timeout_s=1, started_at=datetime.now(UTC) - timedelta(hours=1))
    await poller.poll_once()
    run = await Run.get(id=launched['id'])
    assert run.status == RunStatus.RUNNING and run.stall_notified_at is not None
    await Run.filter(id=launched['id']).update(stall_notified_at=run.stall_notified_at - 1)  # its grace is over
    await poller.poll_once()
    run = await Run.get(id=launched['id'])
    assert run.status == RunStatus.FAILED and run.status_message.startswith('Stalled'), run.status_message
    await poller.poll_once()  # the failed run's instance goes in the next cycle, through its own key
    assert not novita.live()
    with pytest.raises(Invalid, match='ASCII'):  # a message, not an error page
        await providers.products(team.owner, 'novita', credential_id=broken['id'])


async def test_a_key_the_server_cannot_even_decrypt_stops_nothing_else(team: Team, novita: FakeNovita) -> None:
    await credentials.add(team.admin, provider='novita', label='team', secret=API_KEY)
    launched, _ = await run_control.start(team.editor, team.project, name='finetune', provider='novita',
                                          spec=GPU_RUN)
    await intents.launch_queued()  # the leader launches it
    garbled = await Credential.create(provider='novita', label='from a restore', secret_encrypted='not fernet',
                                      last4='0000')  # e.g. a backup restored under another server key
    for _ in range(3):
        novita.advance()
        await poller.poll_once()
    assert (await Run.get(id=launched['id'])).status == RunStatus.RUNNING
    shown = {c['id']: c for c in await credentials.listed(team.admin)}
    assert not shown[garbled.id]['ok'] and 'cannot be decrypted' in shown[garbled.id]['error']
    assert await credentials.check(team.admin, garbled.id) == (False, shown[garbled.id]['error'])
    await run_control.act(team.editor, launched['id'], 'cancel')


async def test_a_run_from_before_credentials_had_scopes_keeps_the_account_it_runs_in(
        team: Team, novita: FakeNovita) -> None:
    novita.add_account(ELSEWHERE_KEY, 'elsewhere')
    team_key = await credentials.add(team.admin, provider='novita', label='team', secret=API_KEY)
    launched, _ = await run_control.start(team.editor, team.project, name='finetune', provider='novita',
                                          spec=GPU_RUN)
    await intents.launch_queued()  # the leader launches it
    await Run.filter(id=launched['id']).update(credential_id=None)  # as migration 0006 leaves older runs
    await credentials.add(team.admin, provider='novita', label='newer', secret=ELSEWHERE_KEY)
    await poller.poll_once()
    assert (await Run.get(id=launched['id'])).credential_id == team_key['id']  # the account that lists its instance
    for _ in range(3):
        novita.advance()
        await poller.poll_once()
    assert (await Run.get(id=launched['id'])).status == RunStatus.RUNNING
    await run_control.act(team.editor, launched['id'], 'cancel')
    await poller.poll_once()
    assert not novita.live()


# --- through a real server, polling the fake on its own ------------------------------------------------------------

@pytest.fixture
def budget_server(database_url: str, tmp_path: Path, novita: FakeNovita) -> Iterator[Server]:
    """Polls every 0.25 s, as tests/test_limits.py's: the budget's lookahead counts on that."""
    yield from helpers.serve_cloud(database_url, tmp_path, novita, TRAINBOARD_POLL_INTERVAL_S='0.25',
                                   TRAINBOARD_STOP_GRACE_S='0.5', TRAINBOARD_SECRET_KEY=SERVER_SECRET)


def test_a_non_member_s_key_neither_fails_nor_reroutes_the_team_s_running_run(
        cloud_server: Server, novita: FakeNovita) -> None:
    novita.add_account(ELSEWHERE_KEY, 'elsewhere')
    api, run = helpers.running_on_novita(cloud_server, novita)  # on the team's key, stored by the admin
    assert api.post('/users', json={'email': 'mallory@example.com', 'password': 'a long password'}).status_code == 201
    mallory = cloud_server.client(cloud_server.token('mallory@example.com', 'a long password'))
    own = mallory.post('/projects', json={'name': 'mine'}).json()
    key = {'provider': 'novita', 'label': 'mine', 'secret': ELSEWHERE_KEY}
    refused = mallory.post('/credentials', json=key)  # a workspace key: admins only
    assert refused.status_code == 403 and refused.json()['detail']
    assert mallory.post('/credentials', json={**key, 'project_id': run['project_id']}).status_code == 404
    added = mallory.post('/credentials', json={**key, 'project_id': own['id']})
    assert added.status_code == 201 and added.json()['scope'] == 'project'
    instance = novita.live()[0]
    instance.log.append('epoch 1 loss=0.9')
    lines = lambda: [line['line'] for line in api.get(f'/runs/{run["id"]}/logs').json()]  # noqa: E731
    helpers.wait_until(lambda: 'epoch 1 loss=0.9' in lines())  # still read through the team's key
    time.sleep(1)  # many polls, each asking both accounts
    assert api.get(f'/runs/{run["id"]}').json()['status'] == 'running'
    assert instance.status == 'running'
    again = api.post(f'/projects/{run["project_id"]}/runs', json={
        'name': 'again', 'provider': 'novita', 'product_id': '4090.16c96g.v2', 'image': 'i', 'command': 'c'})
    assert again.status_code == 201, again.text
    assert {i.account for i in novita.live()} == {TEAM}  # carrying the run token to the team's account only
    assert again.json()['credential_id'] == run['credential_id']
    in_use = api.delete(f'/credentials/{run["credential_id"]}')
    assert in_use.status_code == 409 and f'run {run["id"]} "finetune"' in in_use.json()['detail']
    for launched in (run, again.json()):  # cleaning up: a run that already ended (under load) has nothing to cancel,
        # and one the poller moved at that moment answers 409 "changed meanwhile": asked again, it is cancelled
        helpers.wait_until(lambda launched=launched: api.post(f'/runs/{launched["id"]}/actions/cancel').status_code
                           == 202 or api.get(f'/runs/{launched["id"]}').json()['status'] in
                           {'succeeded', 'failed', 'stopped', 'cancelled'}, timeout=30, every_s=0.5)
    helpers.wait_until(lambda: not novita.live())


def test_a_key_that_cannot_even_be_sent_stops_no_budget_enforcement(budget_server: Server, novita: FakeNovita,
                                                                   database_url: str) -> None:
    novita.auto_advance = True
    api, run = helpers.launch_on_novita(budget_server, budget_usd=0.002)
    refused = api.post('/credentials', json={'provider': 'novita', 'label': 'pasted', 'secret': NON_ASCII_KEY})
    assert refused.status_code == 422 and 'secret' in refused.json()['detail']  # such a key is refused now...
    bad = {'id': asyncio.run(_insert_unchecked_key(database_url, SERVER_SECRET, 'pasted', NON_ASCII_KEY))}
    # ...but one stored before (by an older Trainboard, or by hand) must not stop the poller
    stopped = helpers.wait_for_status(api, run, 'stopped', timeout=30)
    assert stopped['status_message'].startswith('Stopped by the project budget')
    helpers.wait_until(lambda: not novita.live())
    products = api.get('/providers/novita/products', params={'credential_id': bad['id']})
    assert products.status_code == 422 and 'ASCII' in products.json()['detail']
    unnamed = api.get('/providers/novita/products')  # two workspace keys: which one?
    assert unnamed.status_code == 422 and 'credential_id' in unnamed.json()['detail']
    helpers.wait_until(lambda: not next(c for c in api.get('/credentials').json() if c['id'] == bad['id'])['ok'])
    shown = next(c for c in api.get('/credentials').json() if c['id'] == bad['id'])
    assert 'ASCII' in shown['error'] and NON_ASCII_KEY not in api.get('/credentials').text
    in_use = api.delete(f'/credentials/{run["credential_id"]}')
    assert in_use.status_code == 204  # the run has ended and its instance is gone: nothing uses it


SERVER_SECRET = 'the budget server\'s own secret'


async def stored_before_keys_were_checked(owner: User, label: str, secret: str, *,
                                          project_id: int | None = None) -> dict:
    """A key stored as credentials.add did before it refused keys that cannot be sent."""
    credential = await Credential.create(provider='novita', label=label, owner=owner, project_id=project_id,
                                         last4=secret[-4:], secret_encrypted=keys.encrypt(secret, 'credentials'))
    return {'id': credential.id}


async def _insert_unchecked_key(database_url: str, server_secret: str, label: str, secret: str) -> int:
    """The same, into a running server's database from outside it (its key derived as services/keys.py does)."""
    digest = hashlib.sha256(b'credentials:' + server_secret.encode()).digest()
    encrypted = Fernet(base64.urlsafe_b64encode(digest)).encrypt(secret.encode()).decode()
    await database.open_orm(database_url)
    try:
        owner = await User.get(email=ADMIN_EMAIL)
        return (await Credential.create(provider='novita', label=label, owner=owner, last4=secret[-4:],
                                        secret_encrypted=encrypted)).id
    finally:
        await database.close_orm()


# --- the pages -----------------------------------------------------------------------------------------------------

@pytest.fixture
def novita_for_the_app(novita: FakeNovita, monkeypatch: pytest.MonkeyPatch) -> FakeNovita:
    """The app the `user` fixture starts talks to the fake (set before it starts)."""
    monkeypatch.setenv('TRAINBOARD_NOVITA_BASE_URL', novita.url)
    return novita


async def test_a_failing_key_shows_with_its_reason_on_status_and_settings(admin: Tab) -> None:
    me = await User.get(email=ADMIN_EMAIL)
    await stored_before_keys_were_checked(me, 'pasted', NON_ASCII_KEY)
    await poller.poll_once()
    await admin.open('/status')
    await admin.should_see('credential "pasted" (workspace) failing since', retries=20)
    await admin.should_see('HTTP header cannot carry')
    await admin.open('/settings')
    await admin.should_see('failing since')
    await admin.should_see('HTTP header cannot carry')


async def test_the_new_run_form_names_the_credential_to_launch_with(novita_for_the_app: FakeNovita,
                                                                      admin: Tab) -> None:
    me = await User.get(email=ADMIN_EMAIL)
    project = await projects.create_project(me, name='vision', budget_usd=10)
    await credentials.add(me, provider='novita', label='team', secret=API_KEY)
    second = await credentials.add(me, provider='novita', label='second', secret=API_KEY)
    await admin.open(f'/projects/{project["id"]}')
    admin.find('New run').click()
    await admin.should_see(marker='new-run-provider', retries=20)  # the dialog's: the table filters by provider too
    picker = next(iter(admin.find(marker='new-run-provider').elements))
    # ' · unreachable' when the poller's first call to the fake took too long (a loaded machine): named either way
    assert {label.removesuffix(' · unreachable') for label in picker.options.values()} >= \
        {'Novita AI · team (workspace)', 'Novita AI · second (workspace)'}
    picker.value = f'novita#{second["id"]}'
    await admin.should_see('This run will cost $0.67 per hour', retries=20)  # the products of that account
    admin.find('Image').type('pytorch/pytorch:2.4')
    admin.find(kind=ui.button, content='Launch').click()
    await eventually(lambda: Run.exists(project_id=project['id']), tries=100)
    run = await Run.get(project_id=project['id'])
    assert run.credential_id == second['id']
    await run_control.act(me, run.id, 'cancel')
    await poller.poll_once()  # the leader frees a cancelled run's instance
    await eventually(lambda: not novita_for_the_app.live(), tries=100)
