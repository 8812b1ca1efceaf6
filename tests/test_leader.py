"""Several processes on one PostgreSQL database: one leads and polls; when it dies, another takes over."""

import time
from pathlib import Path

import httpx
import pytest

from tests import fleet, helpers
from tests.fakes.novita import FakeNovita
from tests.helpers import Server, launch_on_novita, wait_for_status

pytestmark = pytest.mark.skipif(not helpers.POSTGRES_URL, reason='leader election is for PostgreSQL: set '
                                'TRAINBOARD_TEST_POSTGRES_URL (.ci/run does); SQLite is single-process by design')
POLL_S = 0.1


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


def test_a_leader_killed_mid_run_loses_no_run_and_bills_none_twice(tmp_path: Path, novita: FakeNovita) -> None:
    """Runs running, and runs just queued for launch, when the leader is killed: the next leader launches each
    queued one once, polls every one to its end and frees its instance; Trainboard's bill is the cloud's."""
    novita.auto_advance = True
    url = helpers.migrated_database_url('postgres', tmp_path)
    env = fleet.cloud_env(url, tmp_path / 'data', novita, POLL_S)
    servers = [Server(env).start() for _ in range(2)]
    try:
        first = fleet.leader(servers)
        launched = fleet.launching(first)
        for run in launched.launch(3):
            wait_for_status(launched.api, run, 'running')
        launched.launch(2)  # queued: the leader may be launching them as it dies
        first.process.kill()
        first.process.wait()
        (other,) = [s for s in servers if s is not first]
        helpers.wait_until(lambda: fleet.LEADS in other.log())
        time.sleep(2)  # the new leader bills a while
        with other.client() as api:
            launched.api = api
            fleet.finish_all(launched, other, novita)
            audit = fleet.audit(launched, novita, POLL_S)
            project = api.get(f'/projects/{launched.project["id"]}').json()
    finally:
        for server in servers:
            server.stop()
        helpers.drop_schema(url)
    assert audit.lost == [] and audit.billed_twice == [], audit
    assert len(novita.instances) == 5  # one per run: none launched twice
    assert audit.cost_usd > 0 and float(audit.cost_usd) <= audit.cloud_usd * 1.5, audit
    assert abs(project['used_usd'] - float(audit.cost_usd)) < 1e-6, project  # the budget counted each cent once
