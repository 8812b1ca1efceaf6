"""The one-file binary (`make binary`), built and started as a user would: from an empty directory outside the
checkout, with no flag but its port, its data in the user's data directory, signed in through the one-time link it
prints and opens, running a local job that imports the SDK and saves a checkpoint to S3 (moto).

Slow (it builds the binary: about a minute of CPU, three minutes of wall time on a busy machine), and run in CI all the
same: nothing else tests the build. Its start-up time is bench/binary.py's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from settings import Settings
from tests import helpers
from tests.s3 import MotoS3
from tests.test_browser import browser  # noqa: F401  (the module's Chromium)

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only, pytest.mark.browser]
ADMIN_EMAIL, ADMIN_PASSWORD = 'ada@example.com', 'a binary passphrase'
JOB = '''
import trainboard
run = trainboard.init()
for step in range(5):
    run.log({'loss': 1 / (step + 1)}, step=step)
with open('last.ckpt', 'wb') as checkpoint:
    checkpoint.write(b'weights' * 1000)
run.save('last.ckpt')
print('sdk from', trainboard.__file__)
run.finish()
'''


@pytest.fixture(scope='module')
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built as `make binary` builds it, into a directory of the test's own (not the checkout's dist/); or, while
    working on this test alone, one built before: TRAINBOARD_TEST_BINARY=dist/trainboard (CI never sets it)."""
    if built := os.environ.get('TRAINBOARD_TEST_BINARY'):
        return Path(built).resolve()
    dist = tmp_path_factory.mktemp('dist')
    subprocess.run([sys.executable, 'scripts/build_binary.py', '--dist', str(dist)], cwd=helpers.ROOT, check=True)
    return dist / 'trainboard'


class Started:
    """The binary running, and everything it has printed so far."""

    def __init__(self, binary: Path, cwd: Path, env: dict[str, str], data_dir: Path, *args: str) -> None:
        self.port = helpers.free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.data_dir = data_dir  # where it should keep its data
        self.jobs_dir = Settings.from_env({'TRAINBOARD_DATA_DIR': str(data_dir)}).local_jobs_dir  # its default
        self.s3: MotoS3 | None = None  # the bucket its artifacts go to
        self.bucket = ''
        self.output: list[str] = []
        self.process = subprocess.Popen([str(binary), '--port', str(self.port), *args], cwd=cwd, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout
        for line in self.process.stdout:
            self.output.append(line)

    def printed(self, pattern: str, timeout: float = 120) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := re.search(pattern, ''.join(self.output)):
                return found
            assert self.process.poll() is None, f'the binary exited with {self.process.returncode}:\n{self.log}'
            time.sleep(0.1)
        raise AssertionError(f'the binary did not print {pattern!r} within {timeout} s:\n{self.log}')

    @property
    def log(self) -> str:
        return ''.join(self.output)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def started(binary: Path, tmp_path: Path) -> Iterator[Started]:
    """Started with no setting but a port of the test's own: a HOME of the test's own, so the user's data directory
    is the test's, and nothing of this process's environment but PATH. Its "browser" (webbrowser reads BROWSER) writes
    down the address it is opened on, and the library path it was started with."""
    anywhere = tmp_path / 'anywhere'
    anywhere.mkdir()
    recorder = tmp_path / 'browser.sh'
    recorder.write_text(f'#!/bin/sh\necho "$1 $LD_LIBRARY_PATH" > {tmp_path / "opened"}\n')
    recorder.chmod(0o755)
    s3 = MotoS3().start()
    bucket = s3.bucket()
    env = {'PATH': os.environ['PATH'], 'HOME': str(tmp_path / 'home'), 'LANG': 'C.UTF-8', 'BROWSER': str(recorder),
           # variables still apply: the job is launched, and its output read, sooner; its checkpoint goes to S3,
           # through the part of botocore the build keeps (scripts/pyinstaller_hooks)
           'TRAINBOARD_POLL_INTERVAL_S': '0.5', 'TRAINBOARD_JOB_LOGS_INTERVAL_S': '0.5', **s3.settings(bucket)}
    user_data_dir = tmp_path / 'home' / '.local' / 'share' / 'trainboard'  # platformdirs' on Linux
    server = Started(binary, anywhere, env, user_data_dir)
    server.s3, server.bucket = s3, bucket
    yield server
    server.stop()
    s3.stop()
    shutil.rmtree(server.jobs_dir, ignore_errors=True)
    assert not list(anywhere.iterdir()), 'the binary wrote into the directory it was started from'


def test_the_binary_sets_up_signs_in_and_runs_a_local_job(started: Started, browser, tmp_path: Path) -> None:  # noqa: F811
    link = started.printed(r'one-time link: (\S+)').group(1)
    assert link.startswith(f'{started.url}/setup?token=')
    opened = tmp_path / 'opened'
    helpers.wait_until(opened.exists, timeout=60)
    assert opened.read_text().split(' ') == [link, '\n']  # with the system's libraries, not the binary's
    health = httpx.get(f'{started.url}/api/v1/health', timeout=10)
    assert health.status_code == 200 and health.json() == {'status': 'ok'}
    assert (started.data_dir / 'trainboard.sqlite3').exists()
    started.printed('started the new database .* from the one migrated when this binary was built')  # 2 s sooner

    tab = browser.new_context().new_page()
    tab.goto(link)  # the token is filled in: a name, an email and a password make the admin
    tab.get_by_label('Name').fill('Ada')
    tab.get_by_label('Email').fill(ADMIN_EMAIL)
    tab.get_by_label('Password').fill(ADMIN_PASSWORD)
    tab.get_by_role('button', name='Create admin').click()
    tab.get_by_role('button', name='New project').wait_for()

    token = httpx.post(f'{started.url}/api/v1/auth/token', json={'email': ADMIN_EMAIL, 'password': ADMIN_PASSWORD})
    api = httpx.Client(base_url=f'{started.url}/api/v1', headers={'Authorization': f'Bearer {token.json()["token"]}'},
                       timeout=10)
    project = api.post('/projects', json={'name': 'from the binary'}).json()
    tab.goto(f'{started.url}/projects/{project["id"]}')
    tab.get_by_role('button', name='New run').click()
    example = tab.get_by_label('Command').input_value()  # what a new user launches first
    tab.context.close()
    answer = api.post(f'/projects/{project["id"]}/runs', json={'name': 'sdk', 'provider': 'local',
                                                               'command': f"python - <<'EOF'\n{JOB}\nEOF"})
    assert answer.status_code == 201, answer.text
    done = helpers.wait_for_status(api, answer.json(), 'succeeded', 'failed', timeout=90)
    lines = lambda: [line['line'] for line in api.get(f'/runs/{done["id"]}/logs').json()]  # noqa: E731
    assert done['status'] == 'succeeded', (done, lines(), started.log)
    assert api.get(f'/runs/{done["id"]}/metrics').json()[0]['count'] == 5
    assert [(a['name'], a['status']) for a in api.get(f'/runs/{done["id"]}/artifacts').json()] == \
        [('last.ckpt', 'ready')]
    stored = [key for key in started.s3.keys(started.bucket) if key.endswith('/last.ckpt')]
    assert len(stored) == 1 and started.s3.read(started.bucket, stored[0]) == b'weights' * 1000
    helpers.wait_until(lambda: any(line.startswith('sdk from ') for line in lines()))
    # the job's copy of the SDK, not the binary's own (unpacked where the job's user may not read it)
    sdk = started.jobs_dir / 'sdk' / 'trainboard.py'
    assert [line for line in lines() if line.startswith('sdk from ')] == [f'sdk from {sdk}']

    # the example the New run dialog offers runs too: a copy its user can read, not the binary's unpacked one
    assert example == f'python {started.jobs_dir / "examples" / "train_mlp.py"} --epochs 20', example
    answer = api.post(f'/projects/{project["id"]}/runs', json={'name': 'example', 'provider': 'local',
                                                               'command': example + ' --epochs 1 --delay 0'})
    done = helpers.wait_for_status(api, answer.json(), 'succeeded', 'failed', timeout=90)
    assert done['status'] == 'succeeded', (done, lines(), started.log)


def test_the_binary_says_its_flags_and_version(binary: Path, tmp_path: Path) -> None:
    env = {'PATH': os.environ['PATH'], 'HOME': str(tmp_path), 'COLUMNS': '500'}  # no line broken in a path
    shown = subprocess.run([str(binary), '--help'], env=env, capture_output=True, text=True, check=True).stdout
    for flag in ('--host', '--port', '--data-dir', '--no-browser', '--version'):
        assert flag in shown
    assert f'default {tmp_path / ".local" / "share" / "trainboard"})' in shown  # the user's data directory
    version = subprocess.run([str(binary), '--version'], env=env, capture_output=True, text=True, check=True).stdout
    assert version.strip() == f'trainboard {metadata.version("trainboard")}'
