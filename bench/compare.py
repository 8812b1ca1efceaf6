"""Comparison figure: the data of a 20-run comparison of one metric with many points (goal: under 500 ms).

    .venv/bin/python bench/compare.py [--postgres postgres://...] [--runs 20] [--points 100000] [--keys 30]

Fills a fresh SQLite file (and a PostgreSQL schema when a URL is given, or TRAINBOARD_TEST_POSTGRES_URL is set)
through the one write path (roll-ups included), then times what /compare reads before it draws, as a viewer (the
access check is the one members go through): the runs, their configs and metric summaries (comparison.compare), and
every run's downsampled series of the metric at the points a line gets on a 20-run chart (comparison.series).
Goal: the comparison data in all under 500 ms (median of 15).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tortoise.backends.base.executor import EXECUTOR_CACHE  # noqa: E402
from tortoise.transactions import in_transaction  # noqa: E402

import settings  # noqa: E402
from bench.figures import Figure, report  # noqa: E402
from components.compare_charts import points_per_line  # noqa: E402
from models import Run  # noqa: E402
from services import auth, comparison, database, projects  # noqa: E402
from services.metric_store import Point, write_points  # noqa: E402
from tests import helpers  # noqa: E402

GOAL_MS = 500
REPEATS = 15
BATCH = 50_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--postgres', default=os.environ.get('TRAINBOARD_TEST_POSTGRES_URL', ''))
    parser.add_argument('--runs', type=int, default=20)
    parser.add_argument('--points', type=int, default=100_000, help='points of the metric per run')
    parser.add_argument('--keys', type=int, default=30, help='config keys per run')
    args = parser.parse_args()
    for backend in ['sqlite'] + (['postgres'] if args.postgres else []):
        if backend == 'postgres':
            helpers.POSTGRES_URL = args.postgres
        # Tortoise caches each model's INSERT per connection name, not per dialect (see tests/conftest.py)
        EXECUTOR_CACHE.clear()
        with tempfile.TemporaryDirectory() as tmp:
            os.environ['TRAINBOARD_DATA_DIR'] = str(Path(tmp) / 'data')
            settings.reload()
            url = helpers.database_url(backend, Path(tmp))
            try:
                asyncio.run(bench(url, backend, args))
            finally:
                helpers.drop_schema(url)


async def bench(url: str, backend: str, args: argparse.Namespace) -> None:
    await database.migrate_database(url)
    await database.open_orm(url)
    try:
        viewer, ids = await _fill(args)
        per_line = points_per_line(len(ids))
        totals, reads, draws = [], [], []
        for _ in range(REPEATS):
            start = time.perf_counter()
            compared = await comparison.compare(viewer, ids)
            read = time.perf_counter()
            lines = await comparison.series(viewer, compared.run_ids, 'train/loss', max_points=per_line)
            done = time.perf_counter()
            reads.append((read - start) * 1000)
            draws.append((done - read) * 1000)
            totals.append((done - start) * 1000)
        points = sum(len(series['points']) for series in lines.values())
        differing = sum(row.differs for row in compared.config)
        print(f'== {backend}: {len(ids)} runs x {args.points:,} points of one metric, {args.keys} config keys each')
        print(f'  runs, configs, summaries:   median {statistics.median(reads):6.1f} ms '
              f'({len(compared.config)} keys, {differing} differ; {len(compared.summaries)} summaries)')
        print(f'  series of the metric:       median {statistics.median(draws):6.1f} ms '
              f'({points:,} points drawn, {per_line} per line)')
        median = statistics.median(totals)
        print(f'  comparison data, in all:    median {median:6.1f} ms, max {max(totals):.1f} ms '
              f'(goal < {GOAL_MS} ms: {"met" if median < GOAL_MS else "MISSED"})')
        where = 'PostgreSQL' if backend == 'postgres' else 'SQLite'
        size = f'{len(ids)} runs x {args.points:,} points'
        report(Figure(f'{size}: runs, configs, summaries (median)', where, statistics.median(reads), 'ms',
                      lower_is_better=True),
               Figure(f'{size}: series of the metric, {per_line} points a line (median)', where,
                      statistics.median(draws), 'ms', lower_is_better=True),
               Figure(f'{size}: comparison data in all (median)', where, median, 'ms', goal=GOAL_MS,
                      lower_is_better=True))
    finally:
        await database.close_orm()


async def _fill(args: argparse.Namespace) -> tuple[object, list[str]]:
    """A project with `runs` runs of a sweep, each with `points` points of train/loss; a viewer to compare them."""
    owner = await auth.create_user('owner@example.com', 'a long password')
    viewer = await auth.create_user('viewer@example.com', 'a long password')
    project = await projects.create_project(owner, name='bench')
    await projects.add_member(owner, project['id'], viewer.email, 'viewer')
    rng = random.Random(7)
    ids = []
    started = time.perf_counter()
    for index in range(args.runs):
        config = {f'key_{k:02}': (rng.choice([16, 32, 64]) if k % 3 == 0 else k) for k in range(args.keys)}
        config.update(lr=10 ** rng.uniform(-5, -2), optimizer=rng.choice(['adam', 'sgd', 'lion']))
        run = await Run.create(project_id=project['id'], created_by=owner, name=f'sweep-{index:02}', config=config)
        for first in range(1, args.points + 1, BATCH):
            async with in_transaction() as conn:
                await write_points(conn, run.id, [
                    Point('train/loss', step, 2.0 / step ** 0.3 + rng.gauss(0, 0.01), None, float(step))
                    for step in range(first, min(first + BATCH, args.points + 1))])
        ids.append(str(run.id))
    print(f'  (filled in {time.perf_counter() - started:.0f} s)')
    return viewer, ids


if __name__ == '__main__':
    main()
