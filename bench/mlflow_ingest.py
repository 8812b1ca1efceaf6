"""The `mlflow` client's log_batch of 1,000 metrics, against Trainboard and against MLflow's own tracking server.

    .venv/bin/python bench/mlflow_ingest.py [--peers] [--seconds 10]

Both servers run on this machine, in this run, on SQLite: Trainboard as `python main.py`, MLflow as
`mlflow server --backend-store-uri sqlite:///... --workers 1` from a virtual environment of its own
(`.bench/mlflow-venv`, made with `pip install mlflow==<the client's version>` when --peers is given). The same
client code sends to both, one batch at a time from one process, so the client's own cost is in both figures.
Goal (issue 13): Trainboard at least 10x MLflow's own server.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import helpers  # noqa: E402

PEER_VENV = ROOT / '.bench' / 'mlflow-venv'
BATCH = 1000
CLIENT = '''
import sys, time
from mlflow import MlflowClient
from mlflow.entities import Metric
client = MlflowClient()
experiment = client.create_experiment(f'bench-{time.time_ns()}')
run = client.create_run(experiment).info.run_id
seconds, batch = float(sys.argv[1]), int(sys.argv[2])
sent, start, step = 0, time.perf_counter(), 0
while time.perf_counter() - start < seconds:
    now = int(time.time() * 1000)
    client.log_batch(run, metrics=[Metric('loss', 1.0 / (step + i + 1), now, step + i) for i in range(batch)])
    step += batch
    sent += batch
print(sent / (time.perf_counter() - start))
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--peers', action='store_true', help=f'install MLflow into {PEER_VENV} if it is missing')
    parser.add_argument('--seconds', type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with trainboard(Path(tmp)) as (url, token):
            ours = rate(url, {'MLFLOW_TRACKING_TOKEN': token}, args.seconds)
        print(f'Trainboard:           {ours:>10,.0f} points/s  (log_batch of {BATCH:,}, SQLite)')
        if not (PEER_VENV / 'bin' / 'mlflow').exists():
            if not args.peers:
                print(f'MLflow server:        not measured (no {PEER_VENV}; run with --peers to install it)')
                return
            install_peer()
        with mlflow_server(Path(tmp)) as url:
            theirs = rate(url, {}, args.seconds)
        print(f'MLflow server:        {theirs:>10,.0f} points/s  (mlflow server --workers 1, SQLite)')
        print(f'ratio:                {ours / theirs:>10.1f}x  (goal: at least 10x)')


def rate(url: str, env: dict[str, str], seconds: float) -> float:
    environ = {key: value for key, value in os.environ.items() if not key.startswith('MLFLOW_')}
    environ.update(MLFLOW_TRACKING_URI=url, **env)
    done = subprocess.run([sys.executable, '-c', textwrap.dedent(CLIENT), str(seconds), str(BATCH)], env=environ,
                          capture_output=True, text=True, timeout=seconds + 120)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return float(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def trainboard(tmp: Path) -> Iterator[tuple[str, str]]:
    url = helpers.database_url('sqlite', tmp / 'trainboard')
    server = helpers.Server(helpers.app_env(url, tmp / 'trainboard' / 'data')).start(timeout=120)
    try:
        yield server.url, server.token()
    finally:
        server.stop()


@contextlib.contextmanager
def mlflow_server(tmp: Path) -> Iterator[str]:
    port = helpers.free_port()
    process = subprocess.Popen(
        [str(PEER_VENV / 'bin' / 'mlflow'), 'server', '--host', '127.0.0.1', '--port', str(port), '--workers', '1',
         '--backend-store-uri', f'sqlite:///{tmp / "mlflow.sqlite3"}', '--default-artifact-root', str(tmp / 'art')],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f'{url}/health', timeout=1).status_code == 200:
                    break
            time.sleep(0.5)
        else:
            raise RuntimeError('mlflow server did not start within 120 s')
        yield url
    finally:
        process.terminate()
        process.wait(30)


def install_peer() -> None:
    from importlib.metadata import version
    wanted = version('mlflow-skinny')  # the server of the client's own version
    print(f'installing mlflow=={wanted} into {PEER_VENV} ...', flush=True)
    subprocess.run([getattr(sys, '_base_executable', 'python3'), '-m', 'venv', str(PEER_VENV)], check=True)
    subprocess.run([str(PEER_VENV / 'bin' / 'python'), '-m', 'pip', 'install', '-q', f'mlflow=={wanted}'], check=True)


if __name__ == '__main__':
    main()
