"""A local job sees nothing of the server's: not its environment, not its data dir, not other runs' files. The
server runs as root here, so its jobs run as `nobody`, each run in a directory only its own group can enter."""

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.base import JobSpec, Phase, ProviderError
from providers.local import LocalProvider
from providers.local_sandbox import ID_BASE
from tests import helpers

as_root = pytest.mark.skipif(os.geteuid() != 0, reason='only a server running as root can run jobs as another user')
NOBODY_UID = 65534


HF_TOKEN = 'hf_supersecretvalue123'


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user may traverse (pytest's tmp_path is root's alone, which would hide what we test)."""
    path = Path(tempfile.mkdtemp(prefix='trainboard-test-'))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def wait_for_end(provider: LocalProvider, ref: str) -> Phase:
    for _ in range(100):
        phase = (await provider.states([ref]))[ref].phase
        if phase not in {Phase.RUNNING, Phase.PAUSED}:
            return phase
        await asyncio.sleep(0.1)
    raise AssertionError('the job did not end')


@as_root
def test_a_job_sees_nothing_of_the_server(database_url: str, open_dir: Path) -> None:
    data_dir = open_dir / 'data'
    if database_url.startswith('sqlite'):  # where it is by default: in the data dir
        database_url = f'sqlite://{data_dir / "trainboard.sqlite3"}'
    env = helpers.app_env(database_url, data_dir, TRAINBOARD_SCHEDULER_ENABLED='true',
                          TRAINBOARD_POLL_INTERVAL_S='0.2', TRAINBOARD_JOB_LOGS_INTERVAL_S='0.2',
                          AWS_SECRET_ACCESS_KEY='aws-secret-of-the-server')
    server = helpers.Server(env).start()
    try:
        api = server.client()
        project = api.post('/projects', json={'name': 'shell'}).json()
        command = (f'id; echo "cwd=$(pwd)"; echo "token is $HF_TOKEN"; env; cat {data_dir}/secret.key; ls {data_dir}; '
                   f'cat {data_dir}/trainboard.sqlite3 > /dev/null && echo read the database')
        envs = {'MINE': 'given', 'HF_TOKEN': HF_TOKEN}
        run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'shell', 'provider': 'local',
                                                                'command': command, 'envs': envs}).json()
        helpers.wait_for_status(api, run, 'succeeded', 'failed')
        lines = lambda: [line['line'] for line in api.get(f'/runs/{run["id"]}/logs').json()]  # noqa: E731
        helpers.wait_until(lambda: any(line.startswith('cwd=') for line in lines()))
        output = '\n'.join(lines())
        # the run's own secret, printed, is hidden as it is stored: in every read and search of the log
        assert api.get(f'/runs/{run["id"]}/logs', params={'q': HF_TOKEN[:8]}).json() == []
    finally:
        server.stop()
    assert f'uid={NOBODY_UID}' in output and 'uid=0(' not in output
    assert helpers.ADMIN_PASSWORD not in output and 'TRAINBOARD_ADMIN' not in output
    assert (data_dir / 'secret.key').read_text().strip() not in output
    assert 'aws-secret-of-the-server' not in output and 'TRAINBOARD_DATABASE_URL' not in output
    assert 'read the database' not in output and 'Permission denied' in output
    assert HF_TOKEN not in output and 'token is [hidden]' in output and 'HF_TOKEN=[hidden]' in output
    assert f'TRAINBOARD_RUN_ID={run["id"]}' in output and 'MINE=given' in output and 'TRAINBOARD_RUN_TOKEN=' in output
    assert f'MLFLOW_RUN_ID={run["id"]}' in output and 'MLFLOW_TRACKING_URI=http://127.0.0.1:' in output
    token = next(line for line in output.splitlines() if line.startswith('TRAINBOARD_RUN_TOKEN='))
    assert f'MLFLOW_TRACKING_TOKEN={token.partition("=")[2]}' in output  # the run's own token, for mlflow
    cwd = next(line for line in output.splitlines() if line.startswith('cwd=')).removeprefix('cwd=')
    assert not Path(cwd).is_relative_to(data_dir)


@as_root
async def test_one_run_cannot_reach_another_s_files(open_dir: Path) -> None:
    provider = LocalProvider(open_dir / 'jobs', run_as='nobody')
    first = await provider.launch(JobSpec(run_id=1, name='a', command='echo private > notes.txt; sleep 30'))
    run_dir = Path(first.split(':', 2)[2])
    await asyncio.sleep(0.3)
    second = await provider.launch(JobSpec(run_id=2, name='b', command=(
        f'cat {run_dir}/work/notes.txt || echo no-notes; ls {run_dir}/work || echo no-listing; '
        f'cat {run_dir}/output.log || echo no-log; cat /proc/{first.split(":")[0]}/environ || echo no-environ; '
        'echo mine > own.txt && cat own.txt; '
        'touch ../.paused || echo no-pause; python -c "import numpy; print(\'numpy\', numpy.__version__)"')))
    assert await wait_for_end(provider, second) == Phase.SUCCEEDED
    output = (await provider.logs(second)).lines
    assert {'no-notes', 'no-listing', 'no-log', 'no-environ', 'mine', 'no-pause'} <= set(output), output
    assert 'private' not in output
    assert any(line.startswith('numpy ') for line in output), output  # the job's python has numpy
    assert (await provider.states([first]))[first].phase == Phase.RUNNING  # and run A carries on, unpaused
    await provider.terminate(first)


@as_root
async def test_with_a_user_per_run_one_job_cannot_read_or_signal_another_s_processes(open_dir: Path) -> None:
    provider = LocalProvider(open_dir / 'jobs', run_as='per-run')
    first = await provider.launch(JobSpec(run_id=1, name='a', command='sleep 30', envs={'TRAINBOARD_RUN_TOKEN': 'a'}))
    pid = first.split(':')[0]
    second = await provider.launch(JobSpec(run_id=2, name='b', command=(
        f'cat /proc/{pid}/environ || echo no-environ; kill -STOP {pid} || echo no-signal; id -u; '
        'python -c "import getpass; print(getpass.getuser())"')))
    assert await wait_for_end(provider, second) == Phase.SUCCEEDED
    output = (await provider.logs(second)).lines
    assert {'no-environ', 'no-signal', str(ID_BASE + 2), 'run-2'} <= set(output), output
    assert (await provider.states([first]))[first].phase == Phase.RUNNING
    await provider.terminate(first)


async def test_a_run_id_seen_before_starts_afresh(open_dir: Path) -> None:
    """A database made anew counts its runs from 1 again: run 1 must not find the old run 1's files or log."""
    first = await LocalProvider(open_dir / 'jobs').launch(JobSpec(run_id=1, name='a', command='echo old > f; echo a'))
    provider = LocalProvider(open_dir / 'jobs')
    assert await wait_for_end(provider, first) == Phase.SUCCEEDED
    again = await provider.launch(JobSpec(run_id=1, name='b', command='ls; echo b'))
    assert await wait_for_end(provider, again) == Phase.SUCCEEDED
    assert (await provider.logs(again)).lines == ['b']


@as_root
async def test_a_python_the_job_s_user_cannot_run_is_refused_with_what_to_set(tmp_path: Path, open_dir: Path) -> None:
    hidden = tmp_path / 'python'  # tmp_path is root's alone
    hidden.symlink_to(shutil.which('python3') or '/usr/bin/python3')
    provider = LocalProvider(open_dir / 'jobs', run_as='nobody', python=str(hidden))
    with pytest.raises(ProviderError, match='TRAINBOARD_LOCAL_PYTHON'):
        await provider.launch(JobSpec(run_id=1, name='t', command='true'))


@as_root
async def test_a_jobs_dir_someone_else_made_is_not_used(open_dir: Path) -> None:
    """The default jobs dir is in /tmp, where any user could make it first (or a link by its name)."""
    planted = open_dir / 'jobs'
    planted.mkdir()
    os.chown(planted, NOBODY_UID, NOBODY_UID)
    (open_dir / 'link').symlink_to(open_dir / 'elsewhere', target_is_directory=True)
    (open_dir / 'elsewhere').mkdir()
    for root in (planted, open_dir / 'link'):
        with pytest.raises(ProviderError, match='TRAINBOARD_LOCAL_JOBS_DIR'):
            await LocalProvider(root).launch(JobSpec(run_id=1, name='t', command='true'))
    assert not list((open_dir / 'elsewhere').iterdir())
