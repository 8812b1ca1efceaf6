"""Chart reads of a long metric: how many points a downsampled read answers (goal: at least 90% of those asked), in
how long (goal: under 20 ms), and whether spikes survive.

    .venv/bin/python bench/downsample.py [--postgres postgres://...] [--points 10000000]

Writes the metric through the one write path (`metric_store.write_points`, as reports do) into a fresh SQLite file,
and into a fresh PostgreSQL schema when a URL is given (or TRAINBOARD_TEST_POSTGRES_URL is set), then times
`metric_store.series` for whole-run and zoomed reads, as the chart makes them.
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

from bench.figures import Figure, report  # noqa: E402
from services import auth, database, metric_store, projects, runs  # noqa: E402
from services.metric_store import Point  # noqa: E402
from tests import helpers  # noqa: E402

BATCH = 100_000
ASKED = [10, 1_000, 100_000]
REPEAT = 7
GOAL_SHARE, GOAL_MS = 0.9, 20.0
CHART = 1_000  # the time goal is a chart's read (issue 12: 1,000 points asked); a larger read is reported, no goal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--postgres', default=os.environ.get('TRAINBOARD_TEST_POSTGRES_URL', ''))
    parser.add_argument('--points', type=int, default=10_000_000)
    args = parser.parse_args()
    for backend in ['sqlite'] + (['postgres'] if args.postgres else []):
        if backend == 'postgres':
            helpers.POSTGRES_URL = args.postgres
        with tempfile.TemporaryDirectory() as tmp:
            os.environ['TRAINBOARD_DATA_DIR'] = str(Path(tmp) / 'data')
            url = helpers.database_url(backend, Path(tmp))
            EXECUTOR_CACHE.clear()  # Tortoise caches INSERTs per connection name, whatever the dialect
            try:
                asyncio.run(bench(url, backend, args.points))
            finally:
                helpers.drop_schema(url)


async def bench(url: str, backend: str, total: int) -> None:
    await database.migrate_database(url)
    await database.open_orm(url)
    try:
        owner = await auth.create_user('bench@example.com', 'a long password')
        project = await projects.create_project(owner, name='bench')
        run, _ = await runs.create_run(owner, project['id'], name='long')
        spikes = await _write(run['id'], total)
        print(f'== {backend}: {total:,} points, {len(spikes)} spikes of 1e6')
        print(f'  {"read":<34} {"asked":>8} {"answered":>9} {"share":>6} {"spikes":>7} {"median ms":>10} {"max ms":>7}')
        figures: list[Figure] = []
        reads = [('whole run', None, None), ('zoomed to 10%', total // 2, total // 2 + total // 10),
                 ('zoomed to 0.1%', total // 3, total // 3 + total // 1000)]
        for label, lo, hi in reads:
            for asked in ASKED:
                figures += await _time(run['id'], label, lo, hi, asked, spikes, backend)
        for asked in (1_000,):
            figures += await _time(run['id'], 'whole run, with times', None, None, asked, spikes, backend,
                                   with_time=True)
        report(*figures)
    finally:
        await database.close_orm()


async def _write(run_id: int, total: int) -> dict[int, float]:
    """A falling loss with noise and a spike every ~2M steps (at least one), written in report-sized batches."""
    rng = random.Random(7)
    spikes = {rng.randrange(total): 1e6 for _ in range(max(1, total // 2_000_000))}
    began = time.perf_counter()
    now = time.time() - total * 0.01
    for start in range(0, total, BATCH):
        points = [Point('train/loss', s, spikes.get(s, 2 / (1 + s / 1000) + rng.random() * 0.01), None,
                        now + s * 0.01) for s in range(start, min(start + BATCH, total))]
        async with in_transaction() as conn:
            await metric_store.write_points(conn, run_id, points)
    print(f'  (written in {time.perf_counter() - began:.0f} s)')
    return spikes


async def _time(run_id: int, label: str, lo: int | None, hi: int | None, asked: int, spikes: dict[int, float],
                backend: str, *, with_time: bool = False) -> list[Figure]:
    times, answer = [], {}
    for _ in range(REPEAT):
        began = time.perf_counter()
        answer = await metric_store.series(run_id, 'train/loss', max_points=asked, min_step=lo, max_step=hi,
                                           with_time=with_time)
        times.append((time.perf_counter() - began) * 1000)
    got = len(answer['points'])
    wanted = min(asked, answer['total'])
    inside = {s for s in spikes if (lo is None or s >= lo) and (hi is None or s <= hi)}
    kept = sum(1 for p in answer['points'] if p[0] in inside and p[1] == 1e6)
    share = got / wanted if wanted else 1.0
    median = statistics.median(times)
    time_goal = GOAL_MS if asked <= CHART else None
    flags = ('' if share >= GOAL_SHARE else ' <- fewer than 90%') + \
        ('' if time_goal is None or median < time_goal else ' <- slow')
    print(f'  {label:<34} {asked:>8,} {got:>9,} {share:>6.0%} {kept:>3}/{len(inside):<3} {median:>10.1f} '
          f'{max(times):>7.1f}{flags}')
    where = 'PostgreSQL' if backend == 'postgres' else 'SQLite'
    what = f'{label} ({answer["total"]:,} points), {asked:,} asked'
    figures = [Figure(f'{what}: share answered', where, share * 100, '%', goal=GOAL_SHARE * 100),
               Figure(f'{what}: read (median of {REPEAT})', where, median, 'ms', goal=time_goal,
                      lower_is_better=True)]
    if inside:
        figures.append(Figure(f'{what}: spikes kept', where, kept * 100 / len(inside), '%', goal=100))
    return figures


if __name__ == '__main__':
    main()
