"""The ETA of examples/train_mlp.py, run for real on the local provider, against the time it really took."""

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from components.new_run_dialog import EXAMPLE
from tests import helpers
from tests.helpers import Server


@pytest.fixture
def polling_server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    server = Server(helpers.app_env(database_url, tmp_path / 'data', TRAINBOARD_SCHEDULER_ENABLED='true',
                                    TRAINBOARD_POLL_INTERVAL_S='0.3')).start()
    yield server
    server.stop()


def test_the_example_s_eta_is_within_20_percent_after_a_tenth_of_the_run(polling_server: Server) -> None:
    api = polling_server.client()
    project = api.post('/projects', json={'name': 'eta'}).json()
    # 20 epochs of 15 batches at 0.08 s: about 25 s, with a setup and an evaluation after each epoch
    run = api.post(f'/projects/{project["id"]}/runs', json={
        'name': 'mlp', 'provider': 'local', 'command': EXAMPLE.replace('--epochs 20', '') + ' --epochs 20 --delay 0.08',
    }).json()
    seen: list[tuple[float, float | None]] = []  # (when, the ETA the page would show then)
    deadline = time.time() + 120
    while (state := api.get(f'/runs/{run["id"]}').json())['status'] in {'queued', 'provisioning', 'running'}:
        assert time.time() < deadline, state
        if state['status'] == 'running':
            seen.append((time.time(), state['eta_seconds']))
        time.sleep(0.25)
    assert state['status'] == 'succeeded', api.get(f'/runs/{run["id"]}/logs').json()
    began, ended = (datetime.fromisoformat(state[name]).timestamp() for name in ('started_at', 'ended_at'))
    checked = [(when - began, eta, ended - when) for when, eta in seen
               if 0.1 <= (when - began) / (ended - began) <= 0.9]
    assert len(checked) >= 20
    wrong = [f'{at:.1f} s in: ETA {eta} s, truly {left:.1f} s' for at, eta, left in checked
             if eta is None or abs(eta - left) > 0.2 * left]
    assert not wrong, wrong
