"""The `mlflow` client against Trainboard and against MLflow's own tracking server: batched and single-point ingest,
and a long metric's history read back.

    .venv/bin/python bench/mlflow_ingest.py [--peers] [--seconds 10] [--threads 8] [--history-points 100000]

Both servers run on this machine, in this run, on SQLite: Trainboard as `python main.py`, MLflow as
`mlflow server --backend-store-uri sqlite:///... --workers 1` from a virtual environment of its own
(`.bench/mlflow-venv`, made with `pip install mlflow==<the client's version>` when --peers is given). The same
client code sends to both, so the client's own cost is in both figures; each server gets every call once first, so
that neither's first-request set-up (seconds, for MLflow's) is timed:

- batched: `log_batch` of 1,000 metrics, one batch at a time from one process, for --seconds;
- single-point: `log_metric`, one point a request, from --threads threads of one client process (one process, not
  eight, so that on a 2-core machine the clients leave the server a core: their Python shares one), for --seconds;
- history: `get_metric_history` of one metric of --history-points points (written in batches of 1,000 first), the
  median of 5 reads, every page the server answers in.

Goal (issue 13): batched ingest at least 10x MLflow's own server. The other two are reported with MLflow's figure
and the ratio, no goal.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.figures import Figure, report  # noqa: E402
from tests import helpers  # noqa: E402

PEER_VENV = ROOT / '.bench' / 'mlflow-venv'
BATCH = 1000
READS = 5
GOAL_RATIO = 10
CLIENT = '''
import json, statistics, sys, threading, time
from mlflow import MlflowClient
from mlflow.entities import Metric
mode, seconds, size = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
client = MlflowClient()
run = client.create_run(client.create_experiment(f'bench-{mode}-{time.time_ns()}')).info.run_id


def batch(first, count):
    now = int(time.time() * 1000)
    client.log_batch(run, metrics=[Metric('loss', 1.0 / (step + 1), now, step) for step in range(first, first + count)])


if mode == 'warm':  # each call once, so that neither server's first-request set-up is timed
    batch(0, size)
    client.log_metric(run, 'warm', 0.0, step=0)
    client.get_metric_history(run, 'loss')
    print(json.dumps({}))
elif mode == 'batched':  # size: points a batch
    sent, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        batch(sent, size)
        sent += size
    print(json.dumps({'rate': sent / (time.perf_counter() - start)}))
elif mode == 'single':  # size: client threads
    sent = [0] * size

    def one_client(index):
        step, until = 0, time.perf_counter() + seconds
        while time.perf_counter() < until:
            client.log_metric(run, f'loss/{index}', 1.0 / (step + 1), step=step)
            step += 1
        sent[index] = step
    threads = [threading.Thread(target=one_client, args=(i,)) for i in range(size)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({'rate': sum(sent) / (time.perf_counter() - start)}))
elif mode == 'history':  # size: points of the metric
    for first in range(0, size, 1000):
        batch(first, min(1000, size - first))
    times = []
    for _ in range(int(seconds)):
        start = time.perf_counter()
        got = client.get_metric_history(run, 'loss')
        times.append((time.perf_counter() - start) * 1000)
        assert len(got) == size, f'{len(got)} points read back of {size}'
    print(json.dumps({'ms': statistics.median(times)}))
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--peers', action='store_true', help=f'install MLflow into {PEER_VENV} if it is missing')
    parser.add_argument('--seconds', type=float, default=10.0, help='of batched and of single-point ingest, each')
    parser.add_argument('--threads', type=int, default=8, help='client threads of single-point ingest')
    parser.add_argument('--history-points', type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with trainboard(Path(tmp)) as (url, token):
            ours = measure(url, {'MLFLOW_TRACKING_TOKEN': token}, args)
        print(f'Trainboard:           {ours["batched"]:>10,.0f} points/s batched, {ours["single"]:>8,.0f} points/s '
              f'single, history read {ours["history"]:,.0f} ms  (SQLite)')
        theirs, peer_name = {}, ''
        if not (PEER_VENV / 'bin' / 'mlflow').exists() and not args.peers:
            print(f'MLflow server:        not measured (no {PEER_VENV}; run with --peers to install it)')
        else:
            if not (PEER_VENV / 'bin' / 'mlflow').exists():
                install_peer()
            peer_name = f'MLflow {peer_version()} server, --workers 1'
            with mlflow_server(Path(tmp)) as url:
                theirs = measure(url, {}, args)
            print(f'MLflow server:        {theirs["batched"]:>10,.0f} points/s batched, {theirs["single"]:>8,.0f} '
                  f'points/s single, history read {theirs["history"]:,.0f} ms  ({peer_name}, SQLite)')
            print(f'ratio:                {ours["batched"] / theirs["batched"]:>10.1f}x batched (goal: at least '
                  f'{GOAL_RATIO}x), {ours["single"] / theirs["single"]:.1f}x single, '
                  f'{theirs["history"] / ours["history"]:.1f}x history read')
        # what the client costs by itself, against a server that does nothing: no server can be faster than this, so
        # it bounds the ratio of the totals (the goal counts the client in both); the rest is each server's own time
        with null_server() as url:
            alone = _client(url, {}, 'batched', args.seconds, BATCH)['rate']
        print(f'the client alone:     {alone:>10,.0f} points/s batched (against a server that does nothing)')
    batched_peer = theirs.get('batched')
    report(Figure(f'the mlflow client alone: log_batch of {BATCH:,} to a server that does nothing', 'this machine',
                  alone, 'points/s'))
    if batched_peer:
        report(Figure('the highest ratio any server could reach with this client (the client alone / MLflow)',
                      'SQLite', alone / batched_peer, 'x', goal=GOAL_RATIO))
    report(Figure(f"server time a point of log_batch ({BATCH:,}), the client's own time taken out", 'SQLite',
                  _server_us(ours['batched'], alone), 'µs', lower_is_better=True,
                  peer=_server_us(batched_peer, alone) if batched_peer else None, peer_name=peer_name))
    report(Figure(f'batched ingest: log_batch of {BATCH:,}, one client', 'SQLite', ours['batched'], 'points/s',
                  goal=GOAL_RATIO * batched_peer if batched_peer else None, peer=batched_peer, peer_name=peer_name),
           Figure(f'single-point ingest: log_metric, {args.threads} client threads', 'SQLite', ours['single'],
                  'points/s', peer=theirs.get('single'), peer_name=peer_name),
           Figure(f'history read: get_metric_history of {args.history_points:,} points (median of {READS})',
                  'SQLite', ours['history'], 'ms', lower_is_better=True, peer=theirs.get('history'),
                  peer_name=peer_name))


def _server_us(rate: float, client_alone: float) -> float:
    return max(1e6 / rate - 1e6 / client_alone, 0.0)


@contextlib.contextmanager
def null_server() -> Iterator[str]:
    """An MLflow tracking server that does nothing: a run made, every write taken, nothing kept."""
    run = {'run': {'info': {'run_id': 'r', 'run_uuid': 'r', 'experiment_id': '1', 'status': 'RUNNING',
                            'start_time': 0, 'lifecycle_stage': 'active', 'artifact_uri': ''}, 'data': {}}}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (the standard library's name)
            self.rfile.read(int(self.headers.get('Content-Length') or 0))
            answer = {'experiment_id': '1'} if self.path.endswith('/experiments/create') else \
                run if self.path.endswith('/runs/create') else {}
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()


def measure(url: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    _client(url, env, 'warm', 0, BATCH)
    return {'batched': _client(url, env, 'batched', args.seconds, BATCH)['rate'],
            'single': _client(url, env, 'single', args.seconds, args.threads)['rate'],
            'history': _client(url, env, 'history', READS, args.history_points)['ms']}


def _client(url: str, env: dict[str, str], mode: str, seconds: float, size: int) -> dict[str, float]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith('MLFLOW_')}
    environ.update(MLFLOW_TRACKING_URI=url, **env)
    done = subprocess.run([sys.executable, '-c', textwrap.dedent(CLIENT), mode, str(seconds), str(size)],
                          env=environ, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f'{mode} against {url}: {done.stderr[-3000:]}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def peer_version() -> str:
    done = subprocess.run([str(PEER_VENV / 'bin' / 'mlflow'), '--version'], capture_output=True, text=True)
    return done.stdout.split()[-1] if done.returncode == 0 and done.stdout.strip() else '(version unknown)'


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
