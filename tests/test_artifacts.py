"""Artifacts from training code, through the SDK, to the local store and to S3 (moto's server, a real HTTP endpoint):
a file saved comes back byte for byte with its SHA-256, under the documented key; large files go in parts; an
interrupted save tried again makes one artifact; unsafe names, oversized files and damaged uploads are refused with a
reason; a missing bucket says so."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

import settings
from components.new_run_dialog import EXAMPLE
from models import Artifact
from services import artifacts, auth, projects, runs
from services.stores import UPLOAD_TTL_S
from tests import helpers
from tests.helpers import Server
from tests.s3 import MotoS3

sys.path.insert(0, str(helpers.ROOT / 'sdk'))
import trainboard  # noqa: E402  (the one-file SDK, as training code imports it)

MiB = 1024**2


@pytest.fixture
def external_run(tmp_path: Path) -> Iterator[Callable[[Server, httpx.Client], tuple[dict, trainboard.Run]]]:
    """Make a new project with an external run, and connect the SDK to it by its token (as training code is)."""
    connected: list[trainboard.Run] = []

    def make(server: Server, api: httpx.Client) -> tuple[dict, trainboard.Run]:
        project = api.post('/projects', json={'name': f'artifacts {time.time_ns()}'}).json()
        created = api.post(f'/projects/{project["id"]}/runs', json={'name': 'resnet'}).json()
        connected.append(trainboard.Run(server.url, created['id'], created['token'], spool_dir=str(tmp_path / 'spool')))
        return created, connected[-1]
    yield make
    for run in connected:
        run.finish(timeout=5)


def a_file(directory: Path, name: str, size: int) -> tuple[Path, str]:
    path = directory / name
    path.write_bytes(os.urandom(size))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_checkpoint_round_trips_through_the_local_store(external_run, server: Server, api: httpx.Client,
                                                          tmp_path: Path) -> None:
    run, sdk = external_run(server, api)
    path, sha256 = a_file(tmp_path, 'epoch-3.ckpt', 300_000)
    saved = sdk.save(str(path))
    assert (saved['name'], saved['type'], saved['status']) == ('epoch-3.ckpt', 'checkpoint', 'ready')
    assert (saved['size_bytes'], saved['sha256']) == (300_000, sha256)
    assert saved['storage_url'] == f'local:trainboard/{run["project_id"]}/{run["id"]}/epoch-3.ckpt'

    [listed] = api.get(f'/runs/{run["id"]}/artifacts').json()
    assert listed == saved
    download = api.get(f'/runs/{run["id"]}/artifacts/{saved["id"]}/download')
    assert download.status_code == 200 and download.content == path.read_bytes()
    assert download.headers['content-disposition'].startswith('attachment; filename="epoch-3.ckpt"')
    assert 'content-encoding' not in download.headers  # a checkpoint is not gzipped on the way (it was: 29 MiB/s)


def test_a_checkpoint_round_trips_through_s3_under_the_documented_key(external_run, s3_server: Server, moto_s3: MotoS3,
                                                                      tmp_path: Path) -> None:
    api = s3_server.client()
    run, sdk = external_run(s3_server, api)
    path, sha256 = a_file(tmp_path, 'model.safetensors', 2 * MiB)
    saved = sdk.save(str(path), type='model')
    key = f'trainboard/{run["project_id"]}/{run["id"]}/model.safetensors'
    assert (saved['status'], saved['sha256'], saved['storage_url']) == ('ready', sha256,
                                                                        f's3://{s3_server.bucket}/{key}')
    assert moto_s3.read(s3_server.bucket, key) == path.read_bytes()

    download = api.get(f'/runs/{run["id"]}/artifacts/{saved["id"]}/download')
    assert download.status_code == 307  # straight from the bucket, presigned, offered as a download
    fetched = httpx.get(download.headers['location'])
    assert fetched.content == path.read_bytes()
    assert fetched.headers['content-disposition'].startswith('attachment; filename="model.safetensors"')


def test_a_large_file_goes_to_s3_in_parts(external_run, s3_server: Server, moto_s3: MotoS3, tmp_path: Path) -> None:
    api = s3_server.client()
    run, sdk = external_run(s3_server, api)
    path, sha256 = a_file(tmp_path, 'big.ckpt', 40 * MiB + 123)
    plan = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'big.ckpt', 'size_bytes': 40 * MiB + 123}).json()
    assert plan['upload']['kind'] == 'multipart' and len(plan['upload']['parts']) == 3

    saved = sdk.save(str(path))  # announces the same name again: the unfinished upload above is dropped
    assert (saved['status'], saved['sha256'], saved['size_bytes']) == ('ready', sha256, 40 * MiB + 123)
    assert moto_s3.read(s3_server.bucket, f'trainboard/{run["project_id"]}/{run["id"]}/big.ckpt') == \
        path.read_bytes()
    assert len(api.get(f'/runs/{run["id"]}/artifacts').json()) == 1


def test_an_interrupted_upload_tried_again_makes_one_artifact(external_run, server: Server, api: httpx.Client,
                                                              tmp_path: Path) -> None:
    run, sdk = external_run(server, api)
    path, sha256 = a_file(tmp_path, 'last.ckpt', 3 * MiB)
    plan = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'last.ckpt', 'size_bytes': 3 * MiB},
                    headers={'Authorization': f'Bearer {run["token"]}'}).json()

    def half_then_gone():
        yield path.read_bytes()[:MiB]
        raise ConnectionError('the training job was killed')
    with pytest.raises(ConnectionError):
        httpx.put(f'{server.url}{plan["upload"]["url"]}', content=half_then_gone(),
                  headers={'Authorization': f'Bearer {run["token"]}', 'Content-Length': str(3 * MiB)})
    [interrupted] = api.get(f'/runs/{run["id"]}/artifacts').json()
    assert interrupted['status'] == 'uploading' and interrupted['sha256'] == ''
    assert api.get(f'/runs/{run["id"]}/artifacts/{interrupted["id"]}/download').status_code == 409

    saved = sdk.save(str(path))  # the job, restarted, saves again
    assert saved['id'] == interrupted['id'] and (saved['status'], saved['sha256']) == ('ready', sha256)
    assert [a['id'] for a in api.get(f'/runs/{run["id"]}/artifacts').json()] == [saved['id']]


@pytest.mark.parametrize('name', ['../escape', 'a/b.ckpt', 'a\\b.ckpt', '..', '.', 'nul\x00.pt', ' '])
def test_a_name_that_is_a_path_is_refused(external_run, server: Server, api: httpx.Client, name: str) -> None:
    run, _sdk = external_run(server, api)
    answer = api.post(f'/runs/{run["id"]}/artifacts', json={'name': name, 'size_bytes': 10})
    assert answer.status_code == 422, answer.text
    assert 'name' in answer.json()['detail']
    assert api.get(f'/runs/{run["id"]}/artifacts').json() == []


def test_two_dots_inside_a_name_are_just_a_name(external_run, server: Server, api: httpx.Client,
                                                tmp_path: Path) -> None:
    run, sdk = external_run(server, api)
    saved = sdk.save(str(a_file(tmp_path, 'resnet..v2.ckpt', 100)[0]))
    assert (saved['name'], saved['status']) == ('resnet..v2.ckpt', 'ready')


def test_a_file_over_the_limit_is_refused_before_any_upload(external_run, server: Server, api: httpx.Client,
                                                            tmp_path: Path) -> None:
    run, _sdk = external_run(server, api)
    answer = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'huge.bin', 'size_bytes': 60 * 1024**3})
    assert answer.status_code == 413
    assert 'TRAINBOARD_MAX_ARTIFACT_BYTES' in answer.json()['detail']
    assert api.get(f'/runs/{run["id"]}/artifacts').json() == []


def test_bytes_that_are_not_what_was_hashed_fail_the_artifact(external_run, server: Server, s3_server: Server,
                                                              tmp_path: Path) -> None:
    for where in (server, s3_server):
        api = where.client()
        run, _sdk = external_run(where, api)
        bearer = {'Authorization': f'Bearer {run["token"]}'}
        sent, claimed = b'the bytes that arrived', b'the bytes that were hashed'
        plan = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'eval.json', 'type': 'eval',
                                                                 'size_bytes': len(sent)}, headers=bearer).json()
        upload = plan['upload']
        url = f'{where.url}{upload["url"]}' if upload['kind'] == 'local' else upload['url']
        answer = httpx.put(url, content=sent, headers=bearer if upload['kind'] == 'local' else {})
        assert answer.status_code == 200, answer.text
        parts = [] if upload['kind'] == 'local' else \
            [{'number': 1, 'md5': hashlib.md5(claimed).hexdigest(), 'etag': answer.headers['etag'].strip('"')}]
        done = api.post(plan['complete_url'].removeprefix('/api/v1'), headers=bearer,
                        json={'sha256': hashlib.sha256(claimed).hexdigest(), 'parts': parts}).json()
        assert done['status'] == 'failed' and done['sha256'] == '', done
        assert done['error'].startswith('Checksum mismatch'), done['error']
        assert api.get(f'/runs/{run["id"]}/artifacts/{done["id"]}/download').status_code == 409


def test_a_missing_bucket_is_one_clear_message(external_run, database_url: str, tmp_path: Path,
                                               moto_s3: MotoS3) -> None:
    server = Server(helpers.app_env(database_url, tmp_path / 'data', **moto_s3.settings('no-such-bucket'))).start()
    try:
        api = server.client()
        run, sdk = external_run(server, api)
        answer = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'a.ckpt', 'size_bytes': 10})
        assert answer.status_code == 503
        assert answer.json()['detail'] == (f'The S3 bucket "no-such-bucket" does not exist at {moto_s3.url}: create '
                                           'it, or set another bucket.')
        assert api.get(f'/runs/{run["id"]}/artifacts').json() == []  # a refused upload leaves no record behind
        with pytest.raises(trainboard.ArtifactError, match='The S3 bucket "no-such-bucket" does not exist'):
            sdk.save(str(a_file(tmp_path, 'a.ckpt', 10)[0]), retries=0)  # the SDK says the server's sentence
        sdk.finish()

        # the example's training goes on when its checkpoint cannot be saved, and says why in the run's log
        other = api.post(f'/projects/{run["project_id"]}/runs', json={'name': 'mlp'}).json()
        example = subprocess.run(
            [sys.executable, str(helpers.ROOT / 'examples' / 'train_mlp.py'), '--epochs', '2', '--delay', '0'],
            env={'PATH': '/usr/bin:/bin', 'TRAINBOARD_URL': server.url, 'TRAINBOARD_RUN_ID': str(other['id']),
                 'TRAINBOARD_RUN_TOKEN': other['token'], 'TRAINBOARD_SPOOL_DIR': str(tmp_path / 'spool-mlp')},
            capture_output=True, text=True, timeout=120)
        assert example.returncode == 0, example.stderr
        assert api.get(f'/runs/{other["id"]}').json()['status'] == 'succeeded'
        logged = [line['line'] for line in api.get(f'/runs/{other["id"]}/logs').json()]
        said = 'checkpoint not saved: could not save mlp.npz: The S3 bucket "no-such-bucket" does not exist'
        assert any(line.startswith(said) for line in logged), logged
    finally:
        server.stop()
    assert 'Traceback' not in server.log()


def test_only_editors_upload_and_delete_and_only_members_see(external_run, server: Server, api: httpx.Client,
                                                             tmp_path: Path) -> None:
    run, sdk = external_run(server, api)
    saved = sdk.save(str(a_file(tmp_path, 'weights.pt', 1000)[0]), type='model')
    viewer, stranger = (f'{who}-{time.time_ns()}@example.com' for who in ('viewer', 'stranger'))
    for email in (viewer, stranger):
        assert api.post('/users', json={'email': email, 'name': email[:6], 'password': 'a long password'}) \
            .status_code == 201
    api.post(f'/projects/{run["project_id"]}/members', json={'email': viewer, 'role': 'viewer'}).raise_for_status()
    as_viewer, as_stranger = (server.client(server.token(email, 'a long password')) for email in (viewer, stranger))

    assert as_viewer.get(f'/runs/{run["id"]}/artifacts').json()[0]['id'] == saved['id']
    assert as_viewer.get(f'/runs/{run["id"]}/artifacts/{saved["id"]}/download').status_code == 200
    assert as_viewer.delete(f'/runs/{run["id"]}/artifacts/{saved["id"]}').status_code == 403
    assert as_viewer.post(f'/runs/{run["id"]}/artifacts', json={'name': 'x', 'size_bytes': 1}).status_code == 403
    for path in (f'/runs/{run["id"]}/artifacts', f'/runs/{run["id"]}/artifacts/{saved["id"]}/download'):
        assert as_stranger.get(path).status_code == 404
    assert as_stranger.delete(f'/runs/{run["id"]}/artifacts/{saved["id"]}').status_code == 404

    assert api.delete(f'/runs/{run["id"]}/artifacts/{saved["id"]}').status_code == 204
    assert api.get(f'/runs/{run["id"]}/artifacts').json() == []
    assert not (Path(server.env['TRAINBOARD_DATA_DIR']) / 'artifacts' / 'trainboard' / str(run['project_id']) /
                str(run['id']) / 'weights.pt').exists()
    trail = api.get('/audit', params={'project_id': run['project_id'], 'action': 'artifact.'}).json()['items']
    assert [entry['action'] for entry in trail] == ['artifact.deleted']


def test_the_example_launched_here_keeps_its_checkpoint_in_the_bucket(database_url: str, tmp_path: Path,
                                                                      moto_s3: MotoS3) -> None:
    """Issue 11's "done when", through the API: the example training script, launched on this machine, saves its
    checkpoint; it sits in the bucket under <prefix>/<project>/<run>/<name> and downloads byte-identical."""
    bucket = moto_s3.bucket()
    server = Server(helpers.app_env(database_url, tmp_path / 'data', TRAINBOARD_SCHEDULER_ENABLED='true',
                                    TRAINBOARD_POLL_INTERVAL_S='0.3', **moto_s3.settings(bucket))).start()
    try:
        api = server.client()
        project = api.post('/projects', json={'name': 'spiral'}).json()
        run = api.post(f'/projects/{project["id"]}/runs', json={
            'name': 'mlp', 'provider': 'local', 'command': EXAMPLE.replace('--epochs 20', '--epochs 3 --delay 0')})
        assert run.status_code == 201, run.text
        done = helpers.wait_for_status(api, run.json(), 'succeeded', 'failed', timeout=90)
        assert done['status'] == 'succeeded', api.get(f'/runs/{done["id"]}/logs').json()
        [checkpoint] = [a for a in api.get(f'/runs/{done["id"]}/artifacts').json() if a['type'] == 'checkpoint']
        key = f'trainboard/{project["id"]}/{done["id"]}/mlp.npz'
        assert checkpoint['storage_url'] == f's3://{bucket}/{key}' and checkpoint['status'] == 'ready'
        in_bucket = moto_s3.read(bucket, key)
        assert hashlib.sha256(in_bucket).hexdigest() == checkpoint['sha256']
        downloaded = api.get(f'/runs/{done["id"]}/artifacts/{checkpoint["id"]}/download', follow_redirects=True)
        assert downloaded.content == in_bucket
    finally:
        server.stop()


def test_deleting_a_project_removes_its_artifacts_bytes(external_run, server: Server, s3_server: Server,
                                                         moto_s3: MotoS3, tmp_path: Path) -> None:
    for where in (server, s3_server):
        api = where.client()
        run, sdk = external_run(where, api)
        sdk.save(str(a_file(tmp_path, 'weights.pt', 5000)[0]))
        sdk.finish()
        assert api.delete(f'/projects/{run["project_id"]}').status_code == 204
        prefix = f'trainboard/{run["project_id"]}/'
        if where is server:
            assert not list((Path(where.env['TRAINBOARD_DATA_DIR']) / 'artifacts' / prefix).glob('**/*.pt'))
        else:
            assert not [key for key in moto_s3.keys(where.bucket) if key.startswith(prefix)]


def test_an_etag_that_is_not_the_md5_is_settled_by_reading_the_bytes_back(external_run, s3_server: Server) -> None:
    """A bucket encrypted with SSE-KMS gives ETags that are not MD5s: the right bytes must still be ready."""
    api = s3_server.client()
    run, _sdk = external_run(s3_server, api)
    bearer = {'Authorization': f'Bearer {run["token"]}'}
    data = b'weights' * 1000
    plan = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'w.bin', 'size_bytes': len(data)},
                    headers=bearer).json()
    answer = httpx.put(plan['upload']['url'], content=data)
    done = api.post(plan['complete_url'].removeprefix('/api/v1'), headers=bearer, json={
        'sha256': hashlib.sha256(data).hexdigest(),
        'parts': [{'number': 1, 'md5': '0' * 32, 'etag': answer.headers['etag'].strip('"')}]}).json()
    assert (done['status'], done['sha256']) == ('ready', hashlib.sha256(data).hexdigest()), done


def bearer(run: dict) -> dict[str, str]:
    return {'Authorization': f'Bearer {run["token"]}'}


def test_a_name_is_at_most_255_bytes_as_the_disk_counts_them(external_run, server: Server, api: httpx.Client) -> None:
    """A file name holds 255 *bytes*: 'é' * 200 is 400. It was a 500 (ENAMETOOLONG) after the record was made: a
    name stuck 'uploading' that could not be deleted either."""
    run, _sdk = external_run(server, api)
    answer = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'é' * 200, 'size_bytes': 3}, headers=bearer(run))
    assert answer.status_code == 422, answer.text
    assert '255 bytes' in answer.json()['detail']
    assert api.get(f'/runs/{run["id"]}/artifacts').json() == []


@pytest.mark.parametrize('name', ['\u202egnp.exe', '\u200b', 'a\u0085b', 'a\u2028b', 'a\ud800b'])
def test_invisible_and_reordering_characters_are_refused_in_names(external_run, server: Server, api: httpx.Client,
                                                                  name: str) -> None:
    """A bidi override (shown 'exe.png'), a zero-width name (a row with no name), C1 controls, line separators, a lone
    surrogate (no UTF-8 for it: it made the byte count a 500)."""
    run, _sdk = external_run(server, api)
    body = json.dumps({'name': name, 'size_bytes': 3})  # \\u escapes: a lone surrogate has no UTF-8
    answer = api.post(f'/runs/{run["id"]}/artifacts', content=body,
                      headers={**bearer(run), 'Content-Type': 'application/json'})
    assert answer.status_code == 422, answer.text


def test_a_ready_artifact_serves_the_bytes_that_were_checked(external_run, server: Server, api: httpx.Client) -> None:
    """Good bytes are sent, then a second PUT of other bytes is left open while the upload completes with the good
    bytes' SHA-256: what is ready must be the good bytes, not the second PUT's half-written file."""
    run, _sdk = external_run(server, api)
    good, evil = b'G' * 4 * MiB, b'E' * 4 * MiB  # 4 MiB: the local store writes what it has at 4 MiB
    plan = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'swap.ckpt', 'size_bytes': len(good)},
                    headers=bearer(run)).json()
    url = f'{server.url}{plan["upload"]["url"]}'
    assert httpx.put(url, content=good, headers=bearer(run), timeout=30).status_code == 200
    written = threading.Event()

    def slowly() -> Iterator[bytes]:
        yield evil
        written.set()
        time.sleep(2)
    second = threading.Thread(target=lambda: httpx.put(url, content=slowly(), headers=bearer(run), timeout=30))
    second.start()
    assert written.wait(10)
    time.sleep(0.5)  # the server has written the other bytes to its file
    done = api.post(plan['complete_url'].removeprefix('/api/v1'), json={'sha256': hashlib.sha256(good).hexdigest()},
                    headers=bearer(run)).json()
    second.join()
    assert done['status'] == 'ready', done
    staging = Path(server.env['TRAINBOARD_DATA_DIR']) / 'artifacts-uploads' / f'trainboard/{run["project_id"]}'
    assert not [path for path in staging.rglob('*') if path.is_file()], 'the later PUT\'s file is left behind'
    [listed] = api.get(f'/runs/{run["id"]}/artifacts').json()
    assert listed['sha256'] == hashlib.sha256(good).hexdigest()
    served = api.get(f'/runs/{run["id"]}/artifacts/{listed["id"]}/download', timeout=30).content
    assert hashlib.sha256(served).hexdigest() == listed['sha256'], 'ready, serving unchecked bytes'


def test_a_finished_run_s_token_saves_no_more_files(external_run, server: Server, api: httpx.Client,
                                                   tmp_path: Path) -> None:
    """A finished run takes no more reports (409), nor files from its token: a leaked token could otherwise replace
    the kept `output.log` or a checked checkpoint after the run ended. A person who may edit the run still can."""
    run, sdk = external_run(server, api)
    path = tmp_path / 'last.ckpt'
    path.write_bytes(b'weights')
    sdk.save(str(path))
    sdk.finish(timeout=5)
    assert api.get(f'/runs/{run["id"]}').json()['status'] == 'succeeded'
    late = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'last.ckpt', 'size_bytes': 6}, headers=bearer(run))
    assert late.status_code == 409, late.text
    assert 'finished' in late.json()['detail']
    [kept] = api.get(f'/runs/{run["id"]}/artifacts').json()
    assert kept['status'] == 'ready'
    by_editor = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'notes.txt', 'size_bytes': 2})
    assert by_editor.status_code == 201, by_editor.text


def test_a_save_begun_before_the_run_finished_still_completes(external_run, server: Server,
                                                               api: httpx.Client) -> None:
    """A job that finishes while its last checkpoint is on the way: the upload it announced before the end is sent and
    completed after it (for a short grace), though a new one is refused."""
    run, sdk = external_run(server, api)
    data = b'last weights'
    plan = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'last.ckpt', 'size_bytes': len(data)},
                    headers=bearer(run)).json()
    sdk.finish(timeout=5)
    assert api.get(f'/runs/{run["id"]}').json()['status'] == 'succeeded'
    assert httpx.put(f'{server.url}{plan["upload"]["url"]}', content=data, headers=bearer(run)).status_code == 200
    done = api.post(plan['complete_url'].removeprefix('/api/v1'), headers=bearer(run),
                    json={'sha256': hashlib.sha256(data).hexdigest()})
    assert done.status_code == 200, done.text
    assert done.json()['status'] == 'ready'


def test_an_s3_upload_completed_without_its_bytes_fails_that_artifact_not_the_store(external_run,
                                                                                   s3_server: Server) -> None:
    """As the local store: "No bytes arrived for this upload", the artifact failed; it was a 503 that marked the whole
    store failing (on the settings page and every run page of that store) on one client's mistake."""
    api = s3_server.client()
    run, _sdk = external_run(s3_server, api)
    plan = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'never-sent.bin', 'size_bytes': 3},
                    headers=bearer(run)).json()
    done = api.post(plan['complete_url'].removeprefix('/api/v1'), headers=bearer(run),
                    json={'sha256': '0' * 64, 'parts': [{'number': 1, 'md5': '0' * 32}]})
    assert done.status_code == 200, done.text
    assert done.json()['status'] == 'failed'
    assert 'No bytes arrived' in done.json()['error']


def test_deleting_a_project_aborts_its_uploads_in_progress(external_run, s3_server: Server, moto_s3: MotoS3) -> None:
    """A project's delete removed finished keys only: the parts of an upload in progress stayed in the bucket
    (billed, never listed), and its presigned part URLs went on taking bytes for 6 hours."""
    api = s3_server.client()
    run, _sdk = external_run(s3_server, api)
    plan = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'big.ckpt', 'size_bytes': 40 * MiB},
                    headers=bearer(run)).json()
    assert plan['upload']['kind'] == 'multipart'
    assert httpx.put(plan['upload']['parts'][0]['url'], content=b'\0' * (16 * MiB), timeout=60).status_code == 200
    assert api.delete(f'/projects/{run["project_id"]}').status_code == 204
    prefix = f'trainboard/{run["project_id"]}/'
    left = [u['Key'] for u in moto_s3.client.list_multipart_uploads(Bucket=s3_server.bucket).get('Uploads', [])
            if u['Key'].startswith(prefix)]
    assert left == []


def test_announcing_a_name_at_once_leaves_no_upload_behind(external_run, s3_server: Server, moto_s3: MotoS3) -> None:
    """Announces of one large name at the same moment (a job retrying, two tabs) each made a multipart upload; only
    the last was recorded, and the others were never aborted: parts billed and never listed."""
    api = s3_server.client()
    run, _sdk = external_run(s3_server, api)

    def announce(_: int) -> int:
        return httpx.post(f'{s3_server.url}/api/v1/runs/{run["id"]}/artifacts', headers=bearer(run), timeout=30,
                          json={'name': 'big.ckpt', 'size_bytes': 40 * MiB}).status_code
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(announce, range(8))) == {201}
    [artifact] = api.get(f'/runs/{run["id"]}/artifacts').json()
    assert api.delete(f'/runs/{run["id"]}/artifacts/{artifact["id"]}').status_code == 204
    key = f'trainboard/{run["project_id"]}/{run["id"]}/big.ckpt'
    left = [u for u in moto_s3.client.list_multipart_uploads(Bucket=s3_server.bucket).get('Uploads', [])
            if u['Key'] == key]
    assert left == [], f'{len(left)} multipart uploads of {key} left open'


def test_a_download_the_bucket_cannot_serve_says_why_instead_of_sending_the_browser_there(
        external_run, database_url: str, tmp_path: Path) -> None:
    s3 = MotoS3().start()
    bucket = s3.bucket()
    server = Server(helpers.app_env(database_url, tmp_path / 'data', **s3.settings(bucket))).start()
    try:
        api = server.client()
        run, sdk = external_run(server, api)
        gone, kept = (sdk.save(str(a_file(tmp_path, name, 100)[0])) for name in ('gone.ckpt', 'kept.ckpt'))
        s3.client.delete_object(Bucket=bucket, Key=gone['storage_url'].partition(f'{bucket}/')[2])
        answer = api.get(f'/runs/{run["id"]}/artifacts/{gone["id"]}/download')
        assert (answer.status_code, answer.json()['detail']) == \
            (409, 'The file is not in the bucket any more (it was removed there).')
        assert api.get(f'/runs/{run["id"]}/artifacts/{kept["id"]}/download').status_code == 307  # the store works
        sdk.finish()
        s3.stop()  # the endpoint goes down
        answer = api.get(f'/runs/{run["id"]}/artifacts/{kept["id"]}/download')
        assert (answer.status_code, answer.json()['detail']) == \
            (503, f'The S3 endpoint {s3.url} cannot be reached.')
    finally:
        server.stop()
        s3.stop()


def test_files_saved_before_a_project_moved_bucket_stay_downloadable_and_removable(
        external_run, s3_server: Server, moto_s3: MotoS3, tmp_path: Path) -> None:
    api = s3_server.client()
    run, sdk = external_run(s3_server, api)
    before = sdk.save(str(a_file(tmp_path, 'before.ckpt', 100)[0]))
    other = moto_s3.bucket()
    assert api.patch(f'/projects/{run["project_id"]}', json={'artifact_bucket': other}).status_code == 200
    after = sdk.save(str(a_file(tmp_path, 'after.ckpt', 100)[0]))
    assert before['storage_url'].startswith(f's3://{s3_server.bucket}/')
    assert after['storage_url'].startswith(f's3://{other}/')

    download = api.get(f'/runs/{run["id"]}/artifacts/{before["id"]}/download')
    assert download.status_code == 307 and f'/{s3_server.bucket}/' in download.headers['location']
    assert httpx.get(download.headers['location']).content == (tmp_path / 'before.ckpt').read_bytes()
    sdk.finish()
    assert api.delete(f'/projects/{run["project_id"]}').status_code == 204  # its bytes go from both buckets
    prefix = f'trainboard/{run["project_id"]}/'
    assert not [key for bucket in (s3_server.bucket, other) for key in moto_s3.keys(bucket) if key.startswith(prefix)]


async def test_an_upload_that_can_no_longer_complete_is_failed_and_its_parts_dropped(
        orm: str, moto_s3: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job killed in the middle of a multipart save: once its URLs have expired, the leader fails the artifact and
    aborts the upload, whose parts the bucket would otherwise keep (and bill) unlisted."""
    bucket = moto_s3.bucket()
    for name, value in {**moto_s3.settings(bucket), 'TRAINBOARD_DATA_DIR': str(tmp_path / 'data')}.items():
        monkeypatch.setenv(name, value)
    settings.reload()
    owner = await auth.create_user('olga@example.com', 'a long password')
    project = await projects.create_project(owner, name='vision')
    run, _token = await runs.create_run(owner, project['id'], name='resnet')
    uploader = await artifacts.editor(owner, run['id'])
    started, plan = await artifacts.begin(uploader, name='big.ckpt', size_bytes=40 * MiB)
    assert plan.kind == 'multipart' and moto_s3.client.list_multipart_uploads(Bucket=bucket).get('Uploads')

    assert await artifacts.abandon_stale() == 0  # still within its time
    later = datetime.now(UTC) + timedelta(seconds=UPLOAD_TTL_S + 60)
    assert await artifacts.abandon_stale(later) == 1
    failed = await Artifact.get(id=started.id)
    assert failed.status == 'failed' and failed.error.startswith('The upload was not completed within 6 hours')
    assert not moto_s3.client.list_multipart_uploads(Bucket=bucket).get('Uploads')
