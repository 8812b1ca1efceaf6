"""The SDK against a real server, as training code uses it, including a server restart mid-run."""

import hashlib
import io
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy
import pytest

from tests import helpers
from tests.helpers import Server

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def own_server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """A server of this test's own, which the test may stop and start again."""
    server = Server(helpers.app_env(database_url, tmp_path / 'data')).start()
    yield server
    server.stop()


def new_run(server: Server, config: dict | None = None) -> tuple[httpx.Client, dict]:
    api = server.client()
    project = api.post('/projects', json={'name': f'sdk-{time.time_ns()}'}).json()
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'sdk', 'config': config or {}}).json()
    return api, run


def training(server: Server, run: dict, body: str, tmp_path: Path) -> subprocess.Popen:
    """Start `body` as a training script with the environment a launched run gets, and the SDK on its path."""
    script = tmp_path / 'train.py'
    script.write_text('import math, time\nimport trainboard\nrun = trainboard.init()\n' + textwrap.dedent(body))
    env = {'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(ROOT / 'sdk'), 'TRAINBOARD_URL': server.url,
           'TRAINBOARD_RUN_ID': str(run['id']), 'TRAINBOARD_RUN_TOKEN': run['token'],
           'TRAINBOARD_SPOOL_DIR': str(tmp_path / 'spool')}
    return subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_a_script_reports_steps_progress_metrics_and_logs(own_server: Server, tmp_path: Path) -> None:
    api, run = new_run(own_server)
    script = training(own_server, run, '''
        with run.step('setup'):
            run.print('preparing data')
        with run.step('training', 'epoch 1 of 1'):
            for step in range(1500):
                run.log({'loss': 1 / (step + 1), 'acc': step / 1500}, step=step)
                run.progress(step + 1, 1500)
        run.log({'weird': float('nan')}, step=0)
        ''', tmp_path)
    assert script.wait(60) == 0, script.stdout.read()
    state = api.get(f'/runs/{run["id"]}').json()
    assert state['status'] == 'succeeded' and state['progress'] == 1.0
    assert [(s['name'], s['status']) for s in state['steps']] == [('setup', 'succeeded'), ('training', 'succeeded')]
    metrics = {m['name']: m for m in api.get(f'/runs/{run["id"]}/metrics').json()}
    assert metrics['loss']['count'] == 1500 and metrics['acc']['count'] == 1500
    assert metrics['weird']['value'] == 'NaN'
    assert [line['line'] for line in api.get(f'/runs/{run["id"]}/logs').json()] == ['preparing data']


def test_an_uncaught_exception_fails_the_run(own_server: Server, tmp_path: Path) -> None:
    api, run = new_run(own_server)
    script = training(own_server, run, '''
        run.log({'loss': 1.0}, step=0)
        raise RuntimeError('CUDA out of memory')
        ''', tmp_path)
    assert script.wait(60) == 1
    state = api.get(f'/runs/{run["id"]}').json()
    assert state['status'] == 'failed' and 'CUDA out of memory' in state['status_message']
    assert api.get(f'/runs/{run["id"]}/metrics').json()[0]['count'] == 1


def test_no_point_is_lost_or_doubled_across_a_server_restart(own_server: Server, tmp_path: Path) -> None:
    api, run = new_run(own_server)
    script = training(own_server, run, '''
        for step in range(3000):
            run.log({'loss': math.exp(-step / 1000), 'lr': 0.1}, step=step)
            if step % 100 == 0:
                time.sleep(0.1)   # about 3 s of training
        run.finish(timeout=60)
        ''', tmp_path)
    time.sleep(1.0)
    own_server.stop()  # the server goes away mid-run ...
    time.sleep(1.5)
    assert script.poll() is None  # ... and training goes on
    own_server.start()  # back on the same port and database
    assert script.wait(90) == 0, script.stdout.read()
    series = api.get(f'/runs/{run["id"]}/metrics/loss', params={'max_points': 5000}).json()
    assert series['total'] == 3000 and [p[0] for p in series['points']] == list(range(3000))
    assert {m['name']: m['count'] for m in api.get(f'/runs/{run["id"]}/metrics').json()} == {'loss': 3000, 'lr': 3000}
    assert api.get(f'/runs/{run["id"]}').json()['status'] == 'succeeded'
    assert not list((tmp_path / 'spool').rglob('*.json'))  # the spool was sent and emptied


def test_the_server_hands_out_the_sdk(server: Server) -> None:
    answer = httpx.get(f'{server.url}/sdk/trainboard.py')  # public: a GPU box fetches it before it has a token
    assert answer.status_code == 200
    assert answer.text == (ROOT / 'sdk' / 'trainboard.py').read_text()


def test_the_example_trains_an_mlp_and_reports_it(own_server: Server, tmp_path: Path) -> None:
    api, run = new_run(own_server)
    env = {'PATH': '/usr/bin:/bin', 'TRAINBOARD_URL': own_server.url, 'TRAINBOARD_RUN_ID': str(run['id']),
           'TRAINBOARD_RUN_TOKEN': run['token'], 'TRAINBOARD_SPOOL_DIR': str(tmp_path / 'spool')}
    example = subprocess.run([sys.executable, str(ROOT / 'examples' / 'train_mlp.py'), '--epochs', '8',
                              '--delay', '0'], env=env, capture_output=True, text=True, timeout=120)
    assert example.returncode == 0, example.stderr
    state = api.get(f'/runs/{run["id"]}').json()
    assert state['status'] == 'succeeded'
    assert [s['name'] for s in state['steps']] == ['setup', 'training', 'evaluation']
    metrics = {m['name']: m for m in api.get(f'/runs/{run["id"]}/metrics').json()}
    assert metrics['train/loss']['count'] == 8 * 15
    assert metrics['val/accuracy']['value'] > 0.6  # it really learns the spiral
    [checkpoint] = api.get(f'/runs/{run["id"]}/artifacts').json()  # its weights, saved after the last epoch
    assert (checkpoint['name'], checkpoint['type'], checkpoint['status']) == ('mlp.npz', 'checkpoint', 'ready')
    weights = api.get(f'/runs/{run["id"]}/artifacts/{checkpoint["id"]}/download').content
    assert hashlib.sha256(weights).hexdigest() == checkpoint['sha256']
    assert sorted(numpy.load(io.BytesIO(weights))) == ['b1', 'b2', 'w1', 'w2']


def test_init_with_an_api_key_creates_an_external_run(own_server: Server, tmp_path: Path) -> None:
    api, _ = new_run(own_server)
    key = api.post('/api-keys', json={'name': 'laptop'}).json()['token']
    project = api.post('/projects', json={'name': 'by-name'}).json()
    script = tmp_path / 'external.py'
    script.write_text('import trainboard\n'
                      f'run = trainboard.init(url={own_server.url!r}, api_key={key!r}, project="by-name", '
                      'name="from my laptop", config={"seed": 7})\n'
                      'run.log({"loss": 0.5}, step=1)\n'
                      'print(run.id)\n')
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          env={'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(ROOT / 'sdk'),
                               'TRAINBOARD_SPOOL_DIR': str(tmp_path / 'spool')})
    assert done.returncode == 0, done.stderr
    run = api.get(f'/runs/{int(done.stdout.strip())}').json()
    assert run['project_id'] == project['id'] and run['name'] == 'from my laptop' and run['config'] == {'seed': 7}
    assert run['provider'] == 'external' and run['status'] == 'succeeded'


def test_pause_and_stop_reach_the_script_s_callback_and_a_stop_lets_it_checkpoint(own_server: Server,
                                                                                 tmp_path: Path) -> None:
    api, run = new_run(own_server)
    script = training(own_server, run, '''
        import pathlib, time
        heard = []
        run.on_control(heard.append)
        for step in range(2000):
            run.log({'loss': 1.0}, step=step)
            time.sleep(0.01)
            if run.should_stop():
                break
        print('heard', heard, 'stop', run.should_stop())
        run.finish('stopped', 'checkpointed at step %d' % step)
        ''', tmp_path)
    helpers.wait_for_status(api, run, 'running')
    for action in ('pause', 'resume', 'pause', 'resume'):
        assert api.post(f'/runs/{run["id"]}/actions/{action}').status_code == 202
        time.sleep(1.5)  # a report or two later
    assert api.post(f'/runs/{run["id"]}/actions/stop').json()['status'] == 'stopping'
    assert script.wait(30) == 0
    assert "heard ['pause', 'pause', 'stop'] stop True" in script.stdout.read()  # a pause is not a stop
    done = helpers.wait_for_status(api, run, 'stopped')
    # the script finished it within the grace; the run says why it stopped: who asked
    assert done['status_message'] == 'Stopped by admin@example.com.' and done['status_cause'] == 'user'
