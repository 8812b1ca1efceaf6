"""The artifact store's settings: S3 keys stored as a credential (checked, encrypted, scoped, never shown again), a
project's own bucket and prefix (admins only, audited), the settings page's Artifacts section with its health, and
wrong keys or a missing bucket as one clear sentence, against moto's server (with its authentication on for wrong
keys)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from nicegui import ui
from nicegui.testing import User as Tab

import settings
from models import AuditEntry, Credential, MemberRole, Role, User
from services import artifact_overview, artifact_store, auth, credentials, projects
from services.errors import Forbidden, Invalid
from tests import helpers
from tests.helpers import Server
from tests.s3 import MotoS3

sys.path.insert(0, str(helpers.ROOT / 'sdk'))
import trainboard  # noqa: E402

KEY_ID, SECRET = 'AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'


class MotoWithAuth(MotoS3):
    """moto's S3 server with its authentication on from the first request: keys it never issued are refused."""

    def start(self) -> MotoWithAuth:
        env = {**os.environ, 'INITIAL_NO_AUTH_ACTION_COUNT': '0'}
        self.process = subprocess.Popen([sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p', str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            helpers.wait_until(self._listening, timeout=30, every_s=0.1)
        except AssertionError:
            self.stop()  # not left behind when it does not come up
            raise
        return self

    def _listening(self) -> bool:  # an unsigned GET is a 500 with authentication on: any answer will do
        try:
            return httpx.get(self.url, timeout=1).status_code > 0
        except httpx.HTTPError:
            return False


@pytest.fixture(scope='module')
def moto_auth() -> Iterator[MotoWithAuth]:
    s3 = MotoWithAuth().start()
    yield s3
    s3.stop()


@pytest.fixture
def s3_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_s3: MotoS3) -> str:
    """This process's settings: a fresh bucket of moto's (which takes any keys), its name returned."""
    bucket = moto_s3.bucket()
    monkeypatch.setenv('TRAINBOARD_DATA_DIR', str(tmp_path / 'data'))
    for name, value in moto_s3.settings(bucket).items():
        monkeypatch.setenv(name, value)
    settings.reload()
    artifact_store.forget()
    return bucket


async def people() -> tuple[User, User, User, int]:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    owner = await auth.create_user('olga@example.com', 'a long password')
    editor = await auth.create_user('ed@example.com', 'a long password')
    project = await projects.create_project(owner, name='vision')
    await projects.add_member(owner, project['id'], editor.email, MemberRole.EDITOR.value)
    return admin, owner, editor, project['id']


# --- S3 keys as a credential ---------------------------------------------------------------------------------------

async def test_s3_keys_are_stored_encrypted_scoped_and_shown_by_their_last_four(orm: str, s3_settings: str) -> None:
    admin, owner, editor, project_id = await people()
    added = await credentials.add(admin, provider='s3', label='team bucket', secret=f' {KEY_ID} : {SECRET} ')
    assert (added['provider'], added['secret'], added['scope']) == ('s3', '••••EKEY', 'workspace')
    stored = await Credential.get(id=added['id'])
    assert KEY_ID not in stored.secret_encrypted and SECRET not in stored.secret_encrypted
    assert credentials.decrypted(stored) == f'{KEY_ID}:{SECRET}'
    own = await credentials.add(owner, provider='s3', label='ours', secret=f'{KEY_ID}:{SECRET}', project_id=project_id)
    assert own['scope'] == 'project'

    with pytest.raises(Forbidden):  # the workspace's: admins only
        await credentials.add(owner, provider='s3', label='x', secret=f'{KEY_ID}:{SECRET}')
    with pytest.raises(Forbidden):  # a project's: its owners (and admins)
        await credentials.add(editor, provider='s3', label='x', secret=f'{KEY_ID}:{SECRET}', project_id=project_id)
    for wrong in (SECRET, f'{KEY_ID}:', f':{SECRET}', f'AK IA:{SECRET}', f'{KEY_ID}:short', f'{KEY_ID}:{SECRET} x',
                  f'{KEY_ID}:sécrétsécrét'):
        with pytest.raises(Invalid) as refused:
            await credentials.add(admin, provider='s3', label='x', secret=wrong)
        assert SECRET not in refused.value.message and 'S3' in refused.value.message
    trail = [e.details for e in await AuditEntry.filter(action='credential.added')]
    assert len(trail) == 2 and all(KEY_ID not in str(d) and SECRET not in str(d) and 'EKEY' not in str(d)
                                   for d in trail)
    assert {c['provider'] for c in await credentials.listed(editor)} == {'s3'}  # seen masked, not managed
    assert not any(c['can_manage'] for c in await credentials.listed(editor))


async def test_checking_s3_keys_tries_the_bucket(orm: str, s3_settings: str, moto_auth: MotoWithAuth,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    admin, owner, _editor, project_id = await people()
    workspace = await credentials.add(admin, provider='s3', label='team', secret=f'{KEY_ID}:{SECRET}')
    assert await credentials.check(admin, workspace['id']) == \
        (True, f'The keys work: they reach the S3 bucket "{s3_settings}" at {settings.current.s3_endpoint_url}.')

    await projects.update_project(admin, project_id, artifact_bucket='not-made-yet')
    own = await credentials.add(owner, provider='s3', label='ours', secret=f'{KEY_ID}:{SECRET}', project_id=project_id)
    ok, said = await credentials.check(owner, own['id'])  # the project's bucket, which is missing
    assert not ok and said == (f'The S3 bucket "not-made-yet" does not exist at {settings.current.s3_endpoint_url}: '
                               'create it, or set another bucket.')

    monkeypatch.setenv('TRAINBOARD_S3_ENDPOINT_URL', moto_auth.url)  # keys that endpoint never issued
    settings.reload()
    ok, said = await credentials.check(admin, workspace['id'])
    assert not ok and said.startswith(f'The S3 bucket "{s3_settings}" at {moto_auth.url} refused the keys from the '
                                      'credential "team"')
    assert SECRET not in said and KEY_ID not in said


async def test_a_project_s_own_s3_keys_come_before_the_workspace_s(orm: str, s3_settings: str,
                                                                   moto_auth: MotoWithAuth,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    admin, owner, _editor, project_id = await people()
    project = await projects.get_project(admin, project_id)
    monkeypatch.setenv('TRAINBOARD_S3_ENDPOINT_URL', moto_auth.url)
    settings.reload()
    await credentials.add(admin, provider='s3', label='team', secret=f'{KEY_ID}:{SECRET}')
    await credentials.add(owner, provider='s3', label='ours', secret=f'{KEY_ID}:{SECRET}', project_id=project_id)
    health = await artifact_store.check(project)
    assert 'credential "ours"' in health.error and 'refused the keys' in health.error


async def test_s3_keys_stored_under_another_server_secret_are_the_store_s_one_message(orm: str,
                                                                                       s3_settings: str) -> None:
    admin, _owner, _editor, project_id = await people()
    await credentials.add(admin, provider='s3', label='team', secret=f'{KEY_ID}:{SECRET}')
    await Credential.filter(provider='s3').update(secret_encrypted='sealed under an older TRAINBOARD_SECRET_KEY')
    health = await artifact_store.check(await projects.get_project(admin, project_id))
    assert health.error.startswith('The credential "team" cannot be decrypted with this server\'s key')


# --- a project's own bucket and prefix -----------------------------------------------------------------------------

async def test_only_admins_send_a_project_s_artifacts_elsewhere_and_the_trail_says_so(orm: str,
                                                                                      s3_settings: str) -> None:
    admin, owner, _editor, project_id = await people()
    with pytest.raises(Forbidden, match='Only admins'):
        await projects.update_project(owner, project_id, artifact_bucket='elsewhere')
    with pytest.raises(Forbidden):
        await projects.update_project(owner, project_id, artifact_prefix='')
    changed = await projects.update_project(admin, project_id, artifact_bucket='team-ckpts', artifact_prefix='/ml/v1/')
    assert (changed['artifact_bucket'], changed['artifact_prefix']) == ('team-ckpts', 'ml/v1')
    # the owner's edit form sends them back as they are: that changes nothing of theirs, and is no refusal
    await projects.update_project(owner, project_id, name='vision 2', artifact_bucket='team-ckpts',
                                  artifact_prefix='ml/v1')
    [entry] = await AuditEntry.filter(action='project.artifact_store_changed')
    assert entry.details == {'old_artifact_bucket': None, 'old_artifact_prefix': None,
                             'new_artifact_bucket': 'team-ckpts', 'new_artifact_prefix': 'ml/v1'}
    project = await projects.get_project(admin, project_id)
    assert artifact_store.prefix_of(project) == 'ml/v1'
    assert (await artifact_store.for_project(project)).where('k') == 's3://team-ckpts/k'

    back = await projects.update_project(admin, project_id, artifact_bucket=None, artifact_prefix='')
    assert (back['artifact_bucket'], back['artifact_prefix']) == (None, '')  # the server's bucket, no prefix
    assert artifact_store.prefix_of(await projects.get_project(admin, project_id)) == ''
    for wrong in ({'artifact_bucket': 'No_Caps'}, {'artifact_bucket': 'ab'}, {'artifact_bucket': 'a..b'},
                  {'artifact_prefix': 'a/../b'}, {'artifact_prefix': 'a//b'}, {'artifact_prefix': 'a\\b'},
                  {'artifact_prefix': 'x' * 201}, {'artifact_prefix': 'a\nb'}):
        with pytest.raises(Invalid):
            await projects.update_project(admin, project_id, **wrong)


def test_a_checkpoint_goes_to_the_project_s_own_bucket_and_prefix(s3_server: Server, moto_s3: MotoS3,
                                                                  tmp_path: Path) -> None:
    api = s3_server.client()
    project = api.post('/projects', json={'name': f'own bucket {time.time_ns()}'}).json()
    bucket = moto_s3.bucket()
    patched = api.patch(f'/projects/{project["id"]}', json={'artifact_bucket': bucket, 'artifact_prefix': 'team/a'})
    assert patched.status_code == 200, patched.text
    assert (patched.json()['artifact_bucket'], patched.json()['artifact_prefix']) == (bucket, 'team/a')
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'r'}).json()
    sdk = trainboard.Run(s3_server.url, run['id'], run['token'], spool_dir=str(tmp_path / 'spool'))
    path = tmp_path / 'w.pt'
    path.write_bytes(b'weights' * 1000)
    saved = sdk.save(str(path))
    sdk.finish(timeout=5)
    key = f'team/a/{project["id"]}/{run["id"]}/w.pt'
    assert saved['storage_url'] == f's3://{bucket}/{key}'
    assert moto_s3.read(bucket, key) == path.read_bytes()
    assert api.patch(f'/projects/{project["id"]}', json={'artifact_bucket': 'Bad_Name'}).status_code == 422
    trail = api.get('/audit', params={'project_id': project['id'], 'action': 'project.artifact_store_changed'}).json()
    assert len(trail['items']) == 1


def test_a_name_that_would_make_a_key_over_s3_s_1024_bytes_is_refused(s3_server: Server) -> None:
    """A prefix of 200 characters may be 800 bytes; with a 255-byte name the key is over S3's 1,024: refused with why,
    before any record, rather than the bucket's KeyTooLongError on the uploader's PUT."""
    api = s3_server.client()
    project = api.post('/projects', json={'name': f'long prefix {time.time_ns()}'}).json()
    assert api.patch(f'/projects/{project["id"]}', json={'artifact_prefix': '\U0001d538' * 200}).status_code == 200
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'r'}).json()
    answer = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'w' * 250, 'size_bytes': 3})
    assert answer.status_code == 422, answer.text[:300]
    assert '1024' in answer.json()['detail']
    assert api.get(f'/runs/{run["id"]}/artifacts').json() == []
    assert api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'w.pt', 'size_bytes': 3}).status_code == 201


# --- wrong keys and a missing bucket: one sentence -----------------------------------------------------------------

def test_wrong_keys_are_one_clear_message_on_upload(database_url: str, tmp_path: Path,
                                                    moto_auth: MotoWithAuth) -> None:
    server = Server(helpers.app_env(database_url, tmp_path / 'data', **moto_auth.settings('team-bucket'))).start()
    try:
        api = server.client()
        project = api.post('/projects', json={'name': 'p'}).json()
        run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'r'}).json()
        answer = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'a.ckpt', 'size_bytes': 10})
        assert answer.status_code == 503
        assert answer.json()['detail'] == (
            f'The S3 bucket "team-bucket" at {moto_auth.url} refused the keys from boto3\'s usual chain '
            '(AWS_ACCESS_KEY_ID, ...) (403): check them, and that they may read and write the bucket.')
        assert httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/artifacts', json={'name': 'b', 'size_bytes': 1},
                          headers={'Authorization': f'Bearer {run["token"]}'}).status_code == 503
    finally:
        server.stop()
    log = server.log()
    assert 'Traceback' not in log and log.count('refused the keys') == 1  # said once, when it flipped


@pytest.fixture
def wrong_keys_env(app_env: dict[str, str], moto_auth: MotoWithAuth, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in moto_auth.settings('team-bucket').items():
        monkeypatch.setenv(name, value)


async def test_the_settings_page_says_the_keys_were_refused(wrong_keys_env: None, admin: Tab,
                                                            moto_auth: MotoWithAuth) -> None:
    await admin.open('/settings')
    await admin.should_see('Artifacts')
    await admin.should_see('S3 (TRAINBOARD_ARTIFACT_STORE=s3)')
    await admin.should_see(moto_auth.url)
    await admin.should_see('refused the keys', retries=50)
    await admin.should_not_see('Traceback')
    admin.find('Check storage').click()
    await admin.should_see('Storage checked.', retries=50)
    await admin.should_see('refused the keys')


@pytest.fixture
def missing_bucket_env(app_env: dict[str, str], moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in moto_s3.settings('no-such-bucket').items():
        monkeypatch.setenv(name, value)


async def test_the_settings_page_says_the_bucket_is_missing_then_that_it_works(missing_bucket_env: None, admin: Tab,
                                                                               moto_s3: MotoS3) -> None:
    await admin.open('/settings')
    await admin.should_see(f'The S3 bucket "no-such-bucket" does not exist at {moto_s3.url}: create it, or set another '
                           'bucket.', retries=50)
    moto_s3.client.create_bucket(Bucket='no-such-bucket')
    try:
        admin.find('Check storage').click()
        await admin.should_see('The store works.', retries=50)
    finally:
        moto_s3.client.delete_bucket(Bucket='no-such-bucket')


async def test_the_settings_page_adds_s3_keys_from_two_fields(admin: Tab) -> None:
    await admin.open('/settings')
    await admin.should_see('Artifacts')
    await admin.should_see('a directory on this server (TRAINBOARD_ARTIFACT_STORE=local)')
    await admin.should_see('The store works.', retries=50)
    from nicegui import ui
    kinds = next(iter(admin.find(kind=ui.select, content='Kind').elements))
    kinds.value = 's3'
    admin.find('Label').type('bucket keys')
    admin.find('Access key ID').type(KEY_ID)
    admin.find('Secret access key').type(SECRET)
    admin.find('Add key').click()
    await admin.should_see('••••EKEY')
    await admin.should_not_see(KEY_ID)
    await admin.should_not_see(SECRET)
    [stored] = await Credential.all()
    assert (stored.provider, credentials.decrypted(stored)) == ('s3', f'{KEY_ID}:{SECRET}')


async def test_members_see_no_artifact_store_settings(orm: str, s3_settings: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    admin, owner, _editor, _project_id = await people()
    with pytest.raises(Forbidden):
        await artifact_overview.overview(owner)
    with caplog.at_level(logging.WARNING):
        found = await artifact_overview.overview(admin)
    assert found.error is None and ('Bucket', s3_settings) in found.rows


@pytest.fixture
def s3_env(app_env: dict[str, str], moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's settings: artifacts in a fresh bucket of moto's."""
    for name, value in moto_s3.settings(moto_s3.bucket()).items():
        monkeypatch.setenv(name, value)


async def test_a_project_sent_to_a_missing_bucket_says_so_at_once_and_on_the_settings_page(s3_env: None,
                                                                                            admin: Tab) -> None:
    owner = await User.get(email=helpers.ADMIN_EMAIL)
    await projects.create_project(owner, name='Speech')
    await admin.open('/projects')
    admin.find(marker='edit-project').click()
    await admin.should_see('Edit "Speech"')
    admin.find('Artifact bucket').type('no-such-bucket')
    admin.find(kind=ui.button, content='Save').click()
    await admin.should_see('Its artifacts cannot be stored there: The S3 bucket "no-such-bucket" does not exist',
                           retries=50)
    await admin.open('/settings')
    await admin.should_see('Speech: bucket no-such-bucket, prefix trainboard', retries=50)
    await admin.should_see(marker='artifact-project-store-problem', retries=50)
