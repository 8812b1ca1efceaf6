"""Ingest and chart figures: points per second through /report, a chart query and a CSV export on 1M points.

    .venv/bin/python bench/ingest.py [--postgres postgres://...] [--points 1000000]

Runs a real server (python main.py) on a fresh SQLite file, and on PostgreSQL when a URL is given
(or TRAINBOARD_TEST_POSTGRES_URL is set).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import helpers  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--postgres', default=os.environ.get('TRAINBOARD_TEST_POSTGRES_URL', ''))
    parser.add_argument('--points', type=int, default=1_000_000)
    parser.add_argument('--batched-seconds', type=float, default=5.0)
    parser.add_argument('--single-requests', type=int, default=500)
    args = parser.parse_args()
    backends = ['sqlite'] + (['postgres'] if args.postgres else [])
    for backend in backends:
        if backend == 'postgres':
            helpers.POSTGRES_URL = args.postgres
        with tempfile.TemporaryDirectory() as tmp:
            url = helpers.database_url(backend, Path(tmp))
            server = helpers.Server(helpers.app_env(url, Path(tmp) / 'data')).start()
            try:
                bench(server, backend, args)
            finally:
                server.stop()
                helpers.drop_schema(url)


def bench(server: helpers.Server, backend: str, args: argparse.Namespace) -> None:
    with server.client() as api:
        project = api.post('/projects', json={'name': 'bench'}).json()
        batched = api.post(f'/projects/{project["id"]}/runs', json={'name': 'batched'}).json()
        single = api.post(f'/projects/{project["id"]}/runs', json={'name': 'single'}).json()
        big = api.post(f'/projects/{project["id"]}/runs', json={'name': 'million'}).json()

        print(f'== {backend}')
        rate = _batched_rate(server, batched, seconds=args.batched_seconds)
        print(f'  batched, 1,000-point reports:  {rate:,.0f} points/s')
        rate = _single_rate(server, single, args.single_requests)
        print(f'  single-point reports:          {rate:,.0f} points/s')

        start = time.perf_counter()
        _fill(server, big, args.points)
        print(f'  loaded {args.points:,} points of one metric in {time.perf_counter() - start:.1f} s')
        timings = []
        for _ in range(20):
            start = time.perf_counter()
            answer = api.get(f'/runs/{big["id"]}/metrics/loss', params={'max_points': 1000})
            timings.append((time.perf_counter() - start) * 1000)
        body = answer.json()
        print(f'  chart query, max_points=1000:  median {statistics.median(timings):.1f} ms, '
              f'max {max(timings):.1f} ms ({len(body["points"])} points of {body["total"]:,})')
        timings = []
        for lo in range(0, args.points, args.points // 10):
            start = time.perf_counter()
            api.get(f'/runs/{big["id"]}/metrics/loss',
                    params={'max_points': 1000, 'min_step': lo, 'max_step': lo + args.points // 7})
            timings.append((time.perf_counter() - start) * 1000)
        print(f'  zoomed chart query (1/7 range): median {statistics.median(timings):.1f} ms, '
              f'max {max(timings):.1f} ms')
        start = time.perf_counter()
        with api.stream('GET', f'/runs/{big["id"]}/metrics/loss.csv', timeout=120) as response:
            size = sum(len(chunk) for chunk in response.iter_bytes())
        print(f'  CSV export of {args.points:,} points: {time.perf_counter() - start:.2f} s ({size / 2**20:.1f} MiB)')


def _post(client: httpx.Client, run: dict, body: dict) -> None:
    answer = client.post(f'/runs/{run["id"]}/report', json=body, headers={'Authorization': f'Bearer {run["token"]}'})
    answer.raise_for_status()


def _batch(name: str, start: int, size: int) -> dict:
    now = time.time()
    return {'metrics': [{'name': name, 'step': s, 'value': 1.0 / (1 + s % 977), 'time': now}
                        for s in range(start, start + size)]}


def _batched_rate(server: helpers.Server, run: dict, seconds: float, workers: int = 2) -> float:
    """Several clients at once, each with its own metric, as several training processes would send. The bodies are
    encoded before the clock starts: this machine's two cores are shared by the clients and the server."""
    per_worker = int(seconds * 100)  # more 1,000-point bodies than a worker can send in `seconds`
    tag = uuid.uuid4().hex[:6]  # fresh metric names: every point is new
    bodies = [[orjson.dumps(_batch(f'worker{index}-{tag}/loss', n * 1000, 1000)) for n in range(per_worker)]
              for index in range(workers)]
    headers = {'Authorization': f'Bearer {run["token"]}', 'Content-Type': 'application/json'}
    deadline = time.perf_counter() + seconds

    def worker(index: int) -> int:
        sent = 0
        with httpx.Client(base_url=f'{server.url}/api/v1', timeout=30) as client:
            for body in bodies[index]:
                if time.perf_counter() >= deadline:
                    break
                client.post(f'/runs/{run["id"]}/report', content=body, headers=headers).raise_for_status()
                sent += 1000
        return sent

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        total = sum(pool.map(worker, range(workers)))
    return total / (time.perf_counter() - start)


def _single_rate(server: helpers.Server, run: dict, requests: int) -> float:
    with httpx.Client(base_url=f'{server.url}/api/v1', timeout=30) as client:
        start = time.perf_counter()
        for step in range(requests):
            _post(client, run, _batch('loss', step, 1))
        return requests / (time.perf_counter() - start)


def _fill(server: helpers.Server, run: dict, points: int) -> None:
    with httpx.Client(base_url=f'{server.url}/api/v1', timeout=60) as client:
        for start in range(0, points, 10_000):
            _post(client, run, _batch('loss', start, min(10_000, points - start)))


if __name__ == '__main__':
    main()
