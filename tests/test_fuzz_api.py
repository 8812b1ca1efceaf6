"""The whole API, fuzzed from its own OpenAPI schema by schemathesis: no input makes a real server answer 5xx.

Schemathesis runs as its command-line tool (its pytest plugin does not work with pytest 9) against a real server
per database, through every phase: the schema's examples, boundary values of every field, random inputs and
sequences of calls. The seed is fixed and the examples per operation bounded: a run is repeatable and takes
about a minute per database. tests/fuzz_hooks.py signs the calls in and points reports at a real run.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import helpers
from tests.fakes.novita import FakeNovita

pytestmark = pytest.mark.fuzz
SEED = 20261125
EXAMPLES_PER_OPERATION = 10


@pytest.fixture
def fuzzed_server(database_url: str, tmp_path: Path, novita: FakeNovita) -> Iterator[helpers.Server]:
    # launches go to the Novita fake, never out of this machine; local runs would run a fuzzed command here
    env = helpers.app_env(database_url, tmp_path / 'data', TRAINBOARD_NOVITA_BASE_URL=novita.url,
                          TRAINBOARD_LOCAL_RUNS='off')
    server = helpers.Server(env).start()
    yield server
    server.stop()


def test_no_input_gets_a_server_error(fuzzed_server: helpers.Server, tmp_path: Path) -> None:
    token = fuzzed_server.token()
    with fuzzed_server.client(token) as api:
        schema = api.get(f'{fuzzed_server.url}/openapi.json')  # signed in: components/session.SignInRequired
    (tmp_path / 'openapi.json').write_text(schema.text)
    env = {**os.environ, 'PYTHONPATH': str(helpers.ROOT), 'SCHEMATHESIS_HOOKS': 'tests.fuzz_hooks',
           'FUZZ_API_URL': f'{fuzzed_server.url}/api/v1', 'FUZZ_ADMIN_TOKEN': token,
           'FUZZ_ADMIN_EMAIL': helpers.ADMIN_EMAIL, 'FUZZ_ADMIN_PASSWORD': helpers.ADMIN_PASSWORD}
    command = [sys.executable, '-m', 'schemathesis.cli', 'run', str(tmp_path / 'openapi.json'),
               '--url', fuzzed_server.url, '--checks', 'not_a_server_error', '--seed', str(SEED),
               '--max-examples', str(EXAMPLES_PER_OPERATION), '--workers', '1', '--no-color']
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    summary = done.stdout[-20_000:]
    assert done.returncode == 0, f'{summary}\n--- server log ---\n{_errors(fuzzed_server.log())}'
    assert 'No issues found' in summary or ' passed' in summary, summary
    assert httpx.get(f'{fuzzed_server.url}/api/v1/health').status_code == 200


def _errors(log: str) -> str:
    """The server's tracebacks, which say where each 5xx came from."""
    return '\n'.join(line for line in log.splitlines() if 'Error' in line or 'File "' in line)[-10_000:]
