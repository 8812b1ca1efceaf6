"""The run page's artifacts: listed live as they are saved, re-saved, checked and removed; uploaded from the browser
and deleted by editors and owners, with a visible reason when a name or size is refused; downloaded through the
signed-in session's route; and the store's problem said once, without a stack trace."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from datetime import timedelta
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

import settings
from components import format
from components.artifacts_panel import ArtifactsPanel
from models import Artifact
from models import User as UserModel
from services import artifacts, auth, projects, runs
from tests.conftest import sign_in
from tests.helpers import ADMIN_EMAIL, eventually

MiB = 1024**2


async def new_run(name: str = 'Artifacts') -> tuple[UserModel, dict]:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name=name)
    data, _ = await runs.create_run(owner, project['id'], name='resnet')
    return owner, data


async def saved(owner: UserModel, run_id: int, tmp_path: Path, name: str, size: int,
                type: str = 'checkpoint') -> tuple[artifacts.ArtifactView, bytes]:
    content = os.urandom(size)
    path = tmp_path / f'source-{name}'
    path.write_bytes(content)
    return await artifacts.store_file(await artifacts.editor(owner, run_id), name=name, type=type, path=path), content


async def chunks(content: bytes):
    yield content


def panel(user: User) -> ArtifactsPanel:
    return next(iter(user.find(ArtifactsPanel).elements))


def statuses(user: User) -> dict[str, str]:
    """Each artifact's name and status as its row shows them."""
    found = {}
    for _id, (view, row) in panel(user).shown.items():
        badge = next(e for e in row.descendants() if 'artifact-status' in e._markers)
        label = next(e for e in badge.descendants() if isinstance(e, ui.label))
        found[view.name] = label.text
    return found


def test_sizes_read_as_people_read_them() -> None:
    assert format.size(0) == '0 B'
    assert format.size(512) == '512 B'
    assert format.size(2 * MiB) == '2.0 MiB'
    assert format.size(300_000) == '293 KiB'
    assert format.size(int(1.5 * 1024**3)) == '1.5 GiB'
    assert format.size(None) == '—'


async def test_artifacts_appear_change_and_disappear_live(admin: User, tmp_path: Path) -> None:
    owner, run = await new_run()
    await admin.open(f'/runs/{run["id"]}')
    await admin.should_see('No artifacts yet. Save one from your training code with')
    await admin.should_see('run.save("last.ckpt")')

    view, content = await saved(owner, run['id'], tmp_path, 'last.ckpt', 2 * MiB)
    await admin.should_see('last.ckpt')  # by the hub, no reload and no poll
    await admin.should_see('2.0 MiB')
    await admin.should_see(f'sha256 {hashlib.sha256(content).hexdigest()[:12]}…')
    await admin.should_see(format.timestamp(view.created_at.isoformat()))
    assert statuses(admin) == {'last.ckpt': 'ready'}
    # a checkpoint saved again shows when its current bytes were saved, not when the name was first used
    await Artifact.filter(id=view.id).update(created_at=view.created_at - timedelta(days=2))
    resaved, _content = await saved(owner, run['id'], tmp_path, 'last.ckpt', 2 * MiB)
    await admin.should_see(format.timestamp(resaved.updated_at.isoformat()))
    await admin.should_not_see(format.timestamp((view.created_at - timedelta(days=2)).isoformat()))
    await admin.should_not_see('No artifacts yet')

    # an upload announced shows as uploading; its bytes, checked against a wrong SHA-256, fail it, saying why
    uploader = await artifacts.editor(owner, run['id'])
    started, _plan = await artifacts.begin(uploader, name='epoch-9.ckpt', type='checkpoint', size_bytes=5)
    await eventually(lambda: statuses(admin).get('epoch-9.ckpt') == 'uploading', every_s=0.05)
    await artifacts.receive(uploader, started.id, chunks(b'12345'))
    await artifacts.complete(uploader, started.id, sha256='0' * 64, parts=[])
    await eventually(lambda: statuses(admin).get('epoch-9.ckpt') == 'failed', every_s=0.05)
    await admin.should_see('Checksum mismatch: the server received bytes with SHA-256')
    assert statuses(admin) == {'last.ckpt': 'ready', 'epoch-9.ckpt': 'failed'}

    await artifacts.delete(owner, run['id'], view.id)
    await eventually(lambda: set(statuses(admin)) == {'epoch-9.ckpt'}, every_s=0.05)
    await admin.should_not_see('last.ckpt')


async def test_a_second_tab_sees_a_save_within_a_second(admin: User, create_user, tmp_path: Path) -> None:
    from tests.helpers import ADMIN_PASSWORD
    owner, run = await new_run()
    other = create_user()
    await sign_in(other, ADMIN_EMAIL, ADMIN_PASSWORD)
    await admin.open(f'/runs/{run["id"]}')
    await other.open(f'/runs/{run["id"]}')
    await saved(owner, run['id'], tmp_path, 'model.safetensors', 1000, type='model')
    for tab in (admin, other):
        await tab.should_see('model.safetensors', retries=10)  # 10 × 0.1 s


async def test_upload_from_the_browser(admin: User, tmp_path: Path) -> None:
    owner, run = await new_run()
    await admin.open(f'/runs/{run["id"]}')
    admin.find('Upload').click()
    await admin.should_see('Upload artifacts')
    admin.find(marker='artifact-type').elements.pop().set_value('eval')
    upload = admin.find(ui.upload).elements.pop()
    content = b'{"top1": 0.761}\n'
    await upload.handle_uploads([ui.upload.SmallFileUpload('eval-results.json', 'application/json', content)])
    await admin.should_see('Saved "eval-results.json" (16 B)', retries=30)
    [stored] = await artifacts.listed(owner, run['id'])
    assert (stored.name, stored.type, stored.status, stored.size_bytes) == ('eval-results.json', 'eval', 'ready', 16)
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    await eventually(lambda: statuses(admin) == {'eval-results.json': 'ready'}, every_s=0.05)
    assert not list((Path(os.environ['TRAINBOARD_DATA_DIR']) / 'browser-uploads').iterdir())  # no copy kept


async def test_refused_names_and_sizes_show_why(admin: User, monkeypatch: pytest.MonkeyPatch) -> None:
    owner, run = await new_run()
    await admin.open(f'/runs/{run["id"]}')
    admin.find('Upload').click()
    await admin.should_see('Upload artifacts')
    upload = admin.find(ui.upload).elements.pop()
    await upload.handle_uploads([ui.upload.SmallFileUpload('..', '', b'x')])
    await admin.should_see('".." is not a file name: an artifact\'s name cannot hold "/" or "\\", nor be "." or "..".',
                           retries=30)
    hint = admin.find(marker='artifact-upload-hint').elements.pop()
    assert hint.visible

    monkeypatch.setattr(settings, 'current', dataclasses.replace(settings.current, max_artifact_bytes=10))
    await upload.handle_uploads([ui.upload.SmallFileUpload('big.bin', '', b'x' * 11)])
    await admin.should_see('"big.bin" is 11 bytes; this server takes artifacts of up to 10 bytes', retries=30)
    assert upload.props['max-file-size'] == 50 * 1024**3  # the browser refuses a larger file itself, and says so:
    admin.find(ui.upload).trigger('rejected')
    await admin.should_see('is more than this server takes (TRAINBOARD_MAX_ARTIFACT_BYTES)', retries=30)
    assert await artifacts.listed(owner, run['id']) == []


async def test_delete_asks_first_and_says_done(admin: User, tmp_path: Path) -> None:
    owner, run = await new_run()
    await saved(owner, run['id'], tmp_path, 'old.ckpt', 100)
    await admin.open(f'/runs/{run["id"]}')
    await admin.should_see('old.ckpt')
    admin.find(marker='artifact-delete').click()
    await admin.should_see('Delete "old.ckpt"? Its file is removed from the artifact store too.')
    admin.find(marker='dismiss').click()
    await admin.should_not_see('Delete "old.ckpt"?')
    assert len(await artifacts.listed(owner, run['id'])) == 1

    admin.find(marker='artifact-delete').click()
    await admin.should_see('Delete "old.ckpt"?')
    admin.find(marker='confirm').click()
    await admin.should_see('Deleted "old.ckpt"', retries=30)
    await admin.should_see('No artifacts yet', retries=30)
    assert await artifacts.listed(owner, run['id']) == []


async def test_viewers_download_but_neither_upload_nor_delete(app_env: dict, user: User, tmp_path: Path) -> None:
    owner, run = await new_run()
    await auth.create_user('vera@example.com', 'a long password')
    await projects.add_member(owner, run['project_id'], 'vera@example.com', 'viewer')
    view, content = await saved(owner, run['id'], tmp_path, 'best.ckpt', 3000)
    await sign_in(user, 'vera@example.com', 'a long password')
    await user.open(f'/runs/{run["id"]}')
    await user.should_see('best.ckpt')
    await user.should_not_see(marker='artifact-upload')
    await user.should_not_see(marker='artifact-delete')
    user.find(marker='artifact-download').click()
    url = f'/runs/{run["id"]}/artifacts/{view.id}/download'
    # the route the button sends the browser to, with this browser's session: the bytes, offered as a download
    response = await user.http_client.get(url)
    assert response.status_code == 200 and response.content == content
    assert response.headers['content-disposition'].startswith('attachment; filename="best.ckpt"')


async def test_the_download_route_serves_members_only(app_env: dict, user: User, tmp_path: Path) -> None:
    owner, run = await new_run()
    view, _content = await saved(owner, run['id'], tmp_path, 'secret.ckpt', 100)
    url = f'/runs/{run["id"]}/artifacts/{view.id}/download'
    anonymous = await user.http_client.get(url)
    assert anonymous.status_code in {302, 303, 307} and anonymous.headers['location'].startswith('/login')

    await auth.create_user('mallory@example.com', 'a long password')
    await sign_in(user, 'mallory@example.com', 'a long password')
    stranger = await user.http_client.get(url)
    assert stranger.status_code == 404 and 'secret' not in stranger.text
    assert (await user.http_client.get(f'/runs/{run["id"]}/artifacts/999999/download')).status_code == 404


async def test_nothing_to_download_says_why(admin: User) -> None:
    owner, run = await new_run()
    started, _plan = await artifacts.begin(await artifacts.editor(owner, run['id']), name='partial.ckpt',
                                           size_bytes=10)
    response = await admin.http_client.get(f'/runs/{run["id"]}/artifacts/{started.id}/download')
    assert response.status_code == 409 and response.text == ('"partial.ckpt" is uploading: there is nothing to '
                                                              'download yet.')
    await admin.open(f'/runs/{run["id"]}')
    await admin.should_see('partial.ckpt')
    [(_view, row)] = panel(admin).shown.values()
    [button] = [e for e in row.descendants() if 'artifact-download' in e._markers]
    assert not button.enabled  # and says why on hover
    assert any(isinstance(e, ui.tooltip) and e.text == 'Nothing to download: uploading' for e in row.descendants())


async def test_a_broken_store_is_said_once_without_a_stack_trace(app_env: dict, user: User) -> None:
    (Path(app_env['TRAINBOARD_DATA_DIR']) / 'artifacts').parent.mkdir(parents=True, exist_ok=True)
    (Path(app_env['TRAINBOARD_DATA_DIR']) / 'artifacts').write_text('a file where the directory should be')
    from tests.helpers import ADMIN_PASSWORD
    await sign_in(user, ADMIN_EMAIL, ADMIN_PASSWORD)
    owner, run = await new_run()
    await user.open(f'/runs/{run["id"]}')
    await user.should_see('Artifacts cannot be stored: The artifact directory', retries=30)
    problem = user.find(marker='artifact-store-problem').elements
    assert len(problem) == 1 and 'cannot be created: File exists.' in problem.pop().text
    await user.should_not_see('Traceback')


async def test_a_missing_bucket_is_said_on_the_run_page(app_env: dict, user: User, moto_s3,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in moto_s3.settings('no-such-bucket').items():
        monkeypatch.setenv(name, value)
    settings.reload()  # the app read its settings already
    from tests.helpers import ADMIN_PASSWORD
    await sign_in(user, ADMIN_EMAIL, ADMIN_PASSWORD)
    owner, run = await new_run()
    await user.open(f'/runs/{run["id"]}')
    await user.should_see(f'Artifacts cannot be stored: The S3 bucket "no-such-bucket" does not exist at '
                          f'{moto_s3.url}: create it, or set another bucket.', retries=50)
    user.find('Upload').click()
    await user.should_see('Upload artifacts')
    upload = user.find(ui.upload).elements.pop()
    await upload.handle_uploads([ui.upload.SmallFileUpload('a.bin', '', b'abc')])
    await user.should_see(marker='artifact-upload-hint', retries=50)
    hint = user.find(marker='artifact-upload-hint').elements.pop()
    assert 'The S3 bucket "no-such-bucket" does not exist' in hint.text
    assert len(user.find(marker='artifact-store-problem').elements) == 1


async def test_a_download_that_cannot_be_served_says_why_in_the_tab(admin: User, tmp_path: Path) -> None:
    owner, run = await new_run()
    view, _content = await saved(owner, run['id'], tmp_path, 'gone.ckpt', 100)
    stored = Path(os.environ['TRAINBOARD_DATA_DIR']) / 'artifacts' / view.storage_url.removeprefix('local:')
    stored.unlink()  # removed behind the server's back
    await admin.open(f'/runs/{run["id"]}')
    await admin.should_see(marker='artifact-download', retries=50)  # the panel loads after the page
    admin.find(marker='artifact-download').click()
    await admin.should_see('The file of this artifact is missing from', retries=30)
    assert (await admin.http_client.get(f'/runs/{run["id"]}/artifacts/{view.id}/download')).status_code == 409
    await admin.open(f'/runs/{run["id"]}')  # one missing file is not a broken store
    await admin.should_see('gone.ckpt')
    await admin.should_not_see(marker='artifact-store-problem')
