"""Several processes on one PostgreSQL database: one leads and polls; when it dies, another takes over."""

from pathlib import Path

import httpx
import pytest

from tests import helpers
from tests.fakes.novita import FakeNovita
from tests.helpers import Server, launch_on_novita, wait_for_status

pytestmark = pytest.mark.skipif(not helpers.POSTGRES_URL, reason='leader election is for PostgreSQL: set '
                                'TRAINBOARD_TEST_POSTGRES_URL (.ci/run does); SQLite is single-process by design')


def test_one_process_polls_and_another_takes_over_when_it_dies(tmp_path: Path, novita: FakeNovita) -> None:
    novita.auto_advance = True
    url = helpers.database_url('postgres', tmp_path)
    env = helpers.app_env(url, tmp_path / 'data', TRAINBOARD_SECRET_KEY='shared between the processes',
                          TRAINBOARD_SCHEDULER_ENABLED='true', TRAINBOARD_POLL_INTERVAL_S='0.1',
                          TRAINBOARD_STOP_GRACE_S='1', TRAINBOARD_NOVITA_BASE_URL=novita.url)
    first = Server(env).start()
    second = Server(env).start()
    try:
        assert 'this process now leads' in first.log() and 'follows' not in first.log()
        assert 'this process follows' in second.log() and 'now leads' not in second.log()
        api, run = launch_on_novita(first)
        wait_for_status(api, run, 'running')
        first.process.kill()  # the leader crashes: its lock goes with its connection
        first.process.wait()
        with second.client() as other:
            helpers.wait_until(lambda: 'this process now leads' in second.log())
            httpx.post(f'{second.url}/api/v1/runs/{run["id"]}/report', json={'status': {'state': 'succeeded'}},
                       headers={'Authorization': f'Bearer {run["token"]}'}).raise_for_status()
            helpers.wait_until(lambda: not novita.live())  # the new leader polled, saw the end, deleted it
            assert wait_for_status(other, run, 'succeeded')['cost_usd'] > 0
    finally:
        first.stop()
        second.stop()
        helpers.drop_schema(url)
    assert not novita.live()
