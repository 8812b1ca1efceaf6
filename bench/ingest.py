"""Ingest and chart figures: points per second through /report (single points from 1 and from N clients, batched
with a store already holding many points), a chart query and a CSV export on 1M points.

    .venv/bin/python bench/ingest.py [--postgres postgres://...] [--clients 8] [--stored 10000000] [--points 1000000]

Runs a real server (python main.py) on a fresh SQLite file, and on PostgreSQL when a URL is given
(or TRAINBOARD_TEST_POSTGRES_URL is set). `--sqlite-only` / `--postgres-only` pick one.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import http.client
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import Figure, report  # noqa: E402
from tests import helpers  # noqa: E402

WHERE = {'sqlite': 'SQLite', 'postgres': 'PostgreSQL'}
SINGLE_GOAL = 1_000  # points/s from 8 clients sending one point per request (issue 14)
BATCHED_GOAL = 100_000  # points/s in 1,000-point reports, with 10M points stored (issue 14)
HISTORY_RUNS = 10  # --stored is spread over this many runs of 10 metrics each, as a team's past runs would be


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--postgres', default=os.environ.get('TRAINBOARD_TEST_POSTGRES_URL', ''))
    parser.add_argument('--sqlite-only', action='store_true')
    parser.add_argument('--postgres-only', action='store_true')
    parser.add_argument('--port', type=int, default=None, help='the server\'s port (a free one by default)')
    parser.add_argument('--points', type=int, default=1_000_000, help='points of the chart/export run; 0: skip it')
    parser.add_argument('--stored', type=int, default=0, help='points stored before batched ingest is measured')
    parser.add_argument('--batched-seconds', type=float, default=5.0)
    parser.add_argument('--clients', type=int, default=8, help='concurrent single-point clients')
    parser.add_argument('--single-seconds', type=float, default=5.0)
    args = parser.parse_args()
    backends = [] if args.postgres_only else ['sqlite']
    if args.postgres and not args.sqlite_only:
        backends.append('postgres')
    for backend in backends:
        if backend == 'postgres':
            helpers.POSTGRES_URL = args.postgres
        with tempfile.TemporaryDirectory() as tmp:
            url = helpers.database_url(backend, Path(tmp))
            server = helpers.Server(helpers.app_env(url, Path(tmp) / 'data'), port=args.port).start()
            try:
                bench(server, url, backend, args)
            finally:
                server.stop()
                helpers.drop_schema(url)


def bench(server: helpers.Server, url: str, backend: str, args: argparse.Namespace) -> None:
    where = WHERE[backend]
    with server.client() as api:
        project = api.post('/projects', json={'name': 'bench'}).json()

        def new_run(name: str) -> dict:
            return api.post(f'/projects/{project["id"]}/runs', json={'name': name}).json()

        print(f'== {backend}', flush=True)
        rate = _single_rate(server, [new_run('single')], args.single_seconds)
        report(Figure('single-point ingest, 1 client', where, rate, 'points/s'))
        rate = _single_rate(server, [new_run(f'single-{i}') for i in range(args.clients)], args.single_seconds)
        report(Figure(f'single-point ingest, {args.clients} clients', where, rate, 'points/s',
                      goal=SINGLE_GOAL if args.clients == 8 else None))

        stored = ''
        if args.stored:
            start = time.perf_counter()
            history = [new_run(f'history-{i}') for i in range(HISTORY_RUNS)]
            _store(url, [run['id'] for run in history], args.stored)
            print(f'  stored {args.stored:,} points beforehand in {time.perf_counter() - start:.0f} s', flush=True)
            stored = f', {args.stored:,} stored'
        rate = _batched_rate(server, new_run('batched'), seconds=args.batched_seconds)
        report(Figure(f'batched ingest, 1,000-point reports{stored}', where, rate, 'points/s',
                      goal=BATCHED_GOAL if args.stored >= 10_000_000 else None))

        if args.points:
            _charts(server, api, new_run('million'), args.points, where)


def _charts(server: helpers.Server, api: httpx.Client, big: dict, points: int, where: str) -> None:
    start = time.perf_counter()
    _fill(server, big, points)
    print(f'  loaded {points:,} points of one metric in {time.perf_counter() - start:.1f} s')
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        answer = api.get(f'/runs/{big["id"]}/metrics/loss', params={'max_points': 1000})
        timings.append((time.perf_counter() - start) * 1000)
    body = answer.json()
    print(f'  ({len(body["points"])} points of {body["total"]:,}; max {max(timings):.1f} ms)')
    report(Figure(f'chart query of {points:,} points, max_points=1000, median', where, statistics.median(timings),
                  'ms', lower_is_better=True))
    timings = []
    for lo in range(0, points, points // 10):
        start = time.perf_counter()
        api.get(f'/runs/{big["id"]}/metrics/loss',
                params={'max_points': 1000, 'min_step': lo, 'max_step': lo + points // 7})
        timings.append((time.perf_counter() - start) * 1000)
    report(Figure('zoomed chart query (1/7 range), median', where, statistics.median(timings), 'ms',
                  lower_is_better=True))
    start = time.perf_counter()
    with api.stream('GET', f'/runs/{big["id"]}/metrics/loss.csv', timeout=120) as response:
        size = sum(len(chunk) for chunk in response.iter_bytes())
    report(Figure(f'CSV export of {points:,} points ({size / 2**20:.0f} MiB)', where, time.perf_counter() - start,
                  's', lower_is_better=True))


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


def _single_rate(server: helpers.Server, runs: list[dict], seconds: float) -> float:
    """One client per run, each sending one point per request and waiting for its answer, as many training processes
    logging every step would. http.client rather than httpx: the clients share the server's two cores, and a lighter
    client leaves more of them to the server."""
    host, port = server.url.removeprefix('http://').split(':')
    barrier = threading.Barrier(len(runs) + 1)
    deadline = [0.0]

    def client(run: dict) -> int:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {'Authorization': f'Bearer {run["token"]}', 'Content-Type': 'application/json'}
        path = f'/api/v1/runs/{run["id"]}/report'
        sent = 0
        barrier.wait()
        while time.perf_counter() < deadline[0]:
            body = orjson.dumps({'metrics': [{'name': 'loss', 'step': sent, 'value': 1.0 / (1 + sent)}]})
            conn.request('POST', path, body=body, headers=headers)
            answer = conn.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f'report answered {answer.status}')
            sent += 1
        conn.close()
        return sent

    with concurrent.futures.ThreadPoolExecutor(len(runs)) as pool:
        futures = [pool.submit(client, run) for run in runs]
        deadline[0] = time.perf_counter() + seconds
        start = time.perf_counter()
        barrier.wait()
        total = sum(future.result() for future in futures)
    return total / (time.perf_counter() - start)


def _fill(server: helpers.Server, run: dict, points: int) -> None:
    with httpx.Client(base_url=f'{server.url}/api/v1', timeout=60) as client:
        for start in range(0, points, 10_000):
            _post(client, run, _batch('loss', start, min(10_000, points - start)))


# --- a store that already holds many points --------------------------------------------------------------------

def _store(url: str, run_ids: list[int], points: int) -> None:
    """`points` points over the runs, 10 metrics each, written as SQL that matches what ingest writes: the history,
    each metric's latest value and its roll-ups. The values fall with the step, so each bucket's minimum is at its
    last step and its maximum at its first, which SQL's MIN and MAX then give exactly."""
    from services.metric_store import BUCKET_BASE, LEVELS
    per_metric = points // (len(run_ids) * 10)
    metrics = [(run_id, f'history/metric-{m}') for run_id in run_ids for m in range(10)]
    now = time.time()
    history = 'INSERT INTO metrics (run_id, name, step, value, special, timestamp) SELECT {run}, {name}, s, ' \
              '1.0 / (1 + s), NULL, {now} FROM {steps}'
    latest = 'INSERT INTO latest_metrics (run_id, name, step, value, special, timestamp, count) VALUES ' \
             '({run}, {name}, {last}, 1.0 / (1 + {last}), NULL, {now}, {count})'
    buckets = 'INSERT INTO metric_buckets (run_id, name, level, bucket, count, min_step, min_value, max_step, ' \
              'max_value) SELECT {run}, {name}, {level}, step / {width}, COUNT(*), MAX(step), MIN(value), MIN(step), ' \
              'MAX(value) FROM metrics WHERE run_id = {run} AND name = {name} GROUP BY step / {width}'
    statements = []
    for run_id, name in metrics:
        names = {'run': run_id, 'name': f"'{name}'", 'now': now, 'last': per_metric - 1, 'count': per_metric}
        statements.append(history.format(**names, steps='{steps}'))
        statements.append(latest.format(**names))
        statements.extend(buckets.format(**names, level=level, width=BUCKET_BASE ** level) for level in LEVELS)
    from services.database import is_postgres, sqlite_path
    if is_postgres(url):
        steps = f'generate_series(0, {per_metric - 1}) AS s'
        asyncio.run(_store_postgres(url, [s.replace('{steps}', steps) for s in statements]))
    else:
        steps = f'(WITH RECURSIVE n(s) AS (SELECT 0 UNION ALL SELECT s + 1 FROM n WHERE s < {per_metric - 1}) ' \
                'SELECT s FROM n)'
        with sqlite3.connect(sqlite_path(url), timeout=60) as db:
            for statement in statements:
                db.execute(statement.replace('{steps}', steps))


async def _store_postgres(url: str, statements: list[str]) -> None:
    import asyncpg

    from services.database import asyncpg_dsn, postgres_schema
    conn = await asyncpg.connect(asyncpg_dsn(url), server_settings={'search_path': postgres_schema(url) or 'public'})
    try:
        for statement in statements:
            await conn.execute(statement)
        await conn.execute('ANALYZE')
        # the gigabyte of WAL the fill wrote is flushed now, not by a checkpoint in the middle of the measurement
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await conn.execute('CHECKPOINT')
    finally:
        await conn.close()


if __name__ == '__main__':
    main()
