"""A run's log kept: once a run ends, the leader writes its whole log to the artifact store as `output.log` (type
`log`), on the local store and on S3 (moto's server), read from the database a page at a time; a store that fails
leaves the run to be tried again, said once."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import settings
from models import Artifact, LogLine, Role, Run, RunStatus, User
from services import artifact_store, auth, ingest, lifecycle, projects, runs
from services.background import logs_kept
from services.lifecycle import Cause
from tests.s3 import MotoS3


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    logs_kept.forget()
    yield
    logs_kept.forget()


@pytest.fixture(params=['local', 's3'])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The server's settings for a local store, or an S3 bucket of moto's of its own."""
    monkeypatch.setenv('TRAINBOARD_DATA_DIR', str(tmp_path / 'data'))
    found: dict = {'kind': request.param}
    if request.param == 's3':
        moto: MotoS3 = request.getfixturevalue('moto_s3')
        found.update(moto=moto, bucket=moto.bucket())
        for name, value in moto.settings(found['bucket']).items():
            monkeypatch.setenv(name, value)
    settings.reload()
    artifact_store.forget()
    return found


async def a_finished_run(user: User, lines: list[str], *, spec: dict | None = None) -> Run:
    project = await projects.create_project(user, name=f'logs {time.time_ns()}')
    created, _token = await runs.create_run(user, project['id'], name='train')
    run = await Run.get(id=created['id'])
    if spec:
        run.spec = runs.sealed(spec)
        await run.save(update_fields=['spec'])
    await lifecycle.move(run, RunStatus.RUNNING, cause=Cause.JOB)
    for start in range(0, len(lines), 4):  # in several reports, as a job sends them
        await ingest.record_output(run, logs=lines[start:start + 4])
    await lifecycle.move(run, RunStatus.SUCCEEDED, cause=Cause.JOB)
    return await Run.get(id=run.id)


async def expected_log(run: Run) -> bytes:
    rows = await LogLine.filter(run_id=run.id).order_by('id')
    return ''.join(f'{logs_kept.stamp(r.timestamp)} {r.line}\n' for r in rows).encode()


def stored_bytes(store: dict, artifact: Artifact) -> bytes:
    key = artifact.storage_url.removeprefix('local:').removeprefix(f's3://{store.get("bucket")}/')
    if store['kind'] == 'local':
        return (settings.current.data_dir / 'artifacts' / key).read_bytes()
    return store['moto'].read(store['bucket'], key)


async def test_a_run_that_ends_gets_its_whole_log_as_an_artifact(orm: str, store: dict,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs_kept, 'PAGE', 3)  # many pages, to show that they join in order
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    lines = [f'step {i} loss {1 / (i + 1):.4f}' for i in range(11)] + ['ünïcode ✓', '']
    run = await a_finished_run(admin, lines)
    assert run.logs_kept_at is None

    assert await logs_kept.keep_due() == 1
    [artifact] = await Artifact.filter(run_id=run.id)
    expected = await expected_log(run)
    assert (artifact.name, artifact.type, artifact.status) == ('output.log', 'log', 'ready')
    assert (artifact.size_bytes, artifact.sha256) == (len(expected), hashlib.sha256(expected).hexdigest())
    assert stored_bytes(store, artifact) == expected
    assert expected.decode().splitlines()[0].endswith(' step 0 loss 1.0000')
    assert len(expected.decode().splitlines()) == len(lines)
    where = 'local:' if store['kind'] == 'local' else f's3://{store["bucket"]}/'
    assert artifact.storage_url == f'{where}trainboard/{run.project_id}/{run.id}/output.log'
    assert (await Run.get(id=run.id)).logs_kept_at is not None

    assert await logs_kept.keep_due() == 0  # kept once
    assert await Artifact.filter(run_id=run.id).count() == 1


async def test_only_finished_runs_not_kept_yet_and_whose_last_lines_are_in(orm: str, store: dict) -> None:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    older = await a_finished_run(admin, ['from before this feature'])
    await Run.filter(id=older.id).update(logs_kept_at=0)  # as the migration marks runs that had ended
    project = await projects.create_project(admin, name='live')
    created, _token = await runs.create_run(admin, project['id'], name='still running')
    live = await Run.get(id=created['id'])
    await lifecycle.move(live, RunStatus.RUNNING, cause=Cause.JOB)
    await ingest.record_output(live, logs=['running'])
    cloud = await a_finished_run(admin, ['a cloud job\'s output, read on after it ends'])
    await Run.filter(id=cloud.id).update(provider='novita')  # its provider keeps the job's output

    silent = await a_finished_run(admin, [])

    assert await logs_kept.keep_due() == 1  # the silent run: marked, with no empty file to keep
    assert (await Run.get(id=silent.id)).logs_kept_at and not await Artifact.filter(run_id=silent.id).exists()
    assert await logs_kept.keep_due() == 0  # the cloud job's last lines may still come
    later = time.time() + logs_kept.settled_after_s() + 1
    assert await logs_kept.keep_due(now=later) == 1
    assert await Artifact.filter(run_id=cloud.id, name='output.log').exists()
    assert not await Artifact.filter(run_id__in=[older.id, live.id]).exists()


async def test_the_run_s_own_secrets_are_not_in_the_kept_log(orm: str, store: dict) -> None:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    run = await a_finished_run(admin, ['token is hf_abcdefghijklmnop', 'short 1 stays'],
                               spec={'envs': {'HF_TOKEN': 'hf_abcdefghijklmnop', 'FLAG': '1'}})
    assert await logs_kept.keep_due() == 1
    artifact = await Artifact.get(run_id=run.id, name='output.log')
    text = stored_bytes(store, artifact).decode()
    assert 'hf_abcdefghijklmnop' not in text and 'token is [hidden]' in text and 'short 1 stays' in text


async def test_a_file_the_run_saved_as_output_log_stays(orm: str, store: dict, tmp_path: Path) -> None:
    from services import artifacts
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    run = await a_finished_run(admin, ['line'])
    mine = tmp_path / 'mine.log'
    mine.write_bytes(b'the job\'s own log')
    await artifacts.store_file(artifacts.Uploader(run, None), name='output.log', type='file', path=mine)
    assert await logs_kept.keep_due() == 1
    found = {a.name: a.type for a in await Artifact.filter(run_id=run.id)}
    assert found == {'output.log': 'file', 'trainboard-output.log': 'log'}


async def test_the_log_is_kept_though_the_run_s_own_token_saves_no_more(orm: str, store: dict,
                                                                      tmp_path: Path) -> None:
    """A finished run's token is refused new uploads (and, after a short grace, the ones it began before the end);
    the server's own keeping of the log is not."""
    from services import artifacts
    from services.errors import Conflict
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    run = await Run.get(id=(await a_finished_run(admin, ['a line'])).id)
    by_token = artifacts.Uploader(run, None, by_run_token=True)
    with pytest.raises(Conflict, match='has finished'):
        await artifacts.begin(by_token, name='late.ckpt', size_bytes=3)
    begun, _plan = await artifacts.begin(artifacts.Uploader(run, None), name='last.ckpt', size_bytes=3)
    await Artifact.filter(id=begun.id).update(updated_at=run.ended_at - timedelta(seconds=1))  # before the end
    run.ended_at -= artifacts.FINISHED_RUN_GRACE + timedelta(seconds=1)
    await run.save(update_fields=['ended_at'])
    with pytest.raises(Conflict, match='has finished'):
        await artifacts.complete(artifacts.Uploader(run, None, by_run_token=True), begun.id, sha256='0' * 64,
                                 parts=[])
    assert await logs_kept.keep_due() == 1
    kept = await Artifact.get(run_id=run.id, name='output.log')
    assert stored_bytes(store, kept) == await expected_log(run)


async def test_a_missing_bucket_leaves_the_run_to_be_tried_again_and_is_said_once(
        orm: str, moto_s3: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    bucket = f'later-{time.time_ns()}'
    monkeypatch.setenv('TRAINBOARD_DATA_DIR', str(tmp_path / 'data'))
    for name, value in moto_s3.settings(bucket).items():
        monkeypatch.setenv(name, value)
    settings.reload()
    artifact_store.forget()
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    first, second = await a_finished_run(admin, ['one']), await a_finished_run(admin, ['two'])

    with caplog.at_level(logging.WARNING):
        now = time.time()
        assert await logs_kept.keep_due(now=now) == 0
        assert await logs_kept.keep_due(now=now + 1) == 0  # backing off: not even tried
        assert await logs_kept.keep_due(now=now + logs_kept.BASE_DELAY_S + 1) == 0  # tried again, failed again
    said = [r.getMessage() for r in caplog.records if 'does not exist' in r.getMessage()]
    assert len(said) == 1, said  # once when the store's health flipped, not per run or per try
    assert 'Traceback' not in caplog.text
    assert [r.logs_kept_at for r in await Run.filter(id__in=[first.id, second.id])] == [None, None]

    moto_s3.client.create_bucket(Bucket=bucket)
    assert await logs_kept.keep_due(now=now + 10 * logs_kept.MAX_DELAY_S) == 2
    for run in (first, second):
        artifact = await Artifact.get(run_id=run.id, name='output.log')
        assert (artifact.status, artifact.type) == ('ready', 'log')
        assert moto_s3.read(bucket, f'trainboard/{run.project_id}/{run.id}/output.log') == await expected_log(run)
