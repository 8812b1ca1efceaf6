"""Server-side downsampling of a metric for charts: about as many points as asked (at least 90%), whatever the history's
length or the zoom, and every spike kept (each bin's minimum and maximum). Timings are in bench/downsample.py."""

import random
import time
from datetime import UTC, datetime

import pytest
from tortoise.transactions import in_transaction

from models import Run
from services import auth, metric_store, projects, runs
from services.metric_store import Point

TOTAL = 200_000
SPIKES = {1_234: 1e6, 77_777: 1e6, 150_001: -1e6}


async def long_run() -> int:
    owner = await auth.create_user('olga@example.com', 'a long password')
    project = await projects.create_project(owner, name='Long')
    run, _ = await runs.create_run(owner, project['id'], name='long')
    rng = random.Random(3)
    for start in range(0, TOTAL, 50_000):
        points = [Point('train/loss', s, SPIKES.get(s, 2 / (1 + s / 1000) + rng.random() * 0.01), None, 1e9 + s)
                  for s in range(start, start + 50_000)]
        async with in_transaction() as conn:
            await metric_store.write_points(conn, run['id'], points)
    return run['id']


async def test_about_what_was_asked_and_every_spike(orm: str) -> None:
    run_id = await long_run()
    ranges = [(None, None), (100_000, 120_000), (1_000, 80_000), (150_000, 150_900), (5, 1_004)]
    for min_step, max_step in ranges:
        for asked in (10, 1_000, 100_000):
            answer = await metric_store.series(run_id, 'train/loss', max_points=asked, min_step=min_step,
                                               max_step=max_step)
            lo, hi = min_step or 0, TOTAL - 1 if max_step is None else max_step
            expected = min(asked, hi - lo + 1)
            points = answer['points']
            assert answer['total'] == hi - lo + 1
            assert 0.9 * expected <= len(points) <= expected, (min_step, max_step, asked, len(points))
            steps = [p[0] for p in points]
            assert steps == sorted(set(steps)) and lo <= steps[0] and steps[-1] <= hi
            for step, value in SPIKES.items():
                if lo <= step <= hi:
                    assert [step, value] in points, (min_step, max_step, asked, step)


async def test_a_sparse_metric_still_gives_what_was_asked(orm: str) -> None:
    """Steps every 1,000 (an eval metric): the roll-ups' buckets are mostly empty, the bins must not be."""
    owner = await auth.create_user('olga@example.com', 'a long password')
    project = await projects.create_project(owner, name='Sparse')
    run, _ = await runs.create_run(owner, project['id'], name='sparse')
    async with in_transaction() as conn:
        await metric_store.write_points(conn, run['id'], [Point('val/loss', s * 1_000, 1 / (s + 1), None, 1e9 + s)
                                                          for s in range(5_000)])
    answer = await metric_store.series(run['id'], 'val/loss', max_points=1_000)
    assert 900 <= len(answer['points']) <= 1_000


async def test_points_carry_their_time_when_asked(orm: str) -> None:
    owner = await auth.create_user('olga@example.com', 'a long password')
    project = await projects.create_project(owner, name='Timed')
    run, _ = await runs.create_run(owner, project['id'], name='timed')
    async with in_transaction() as conn:
        await metric_store.write_points(conn, run['id'], [Point('loss', s, 1.0, None, 1e9 + 2 * s)
                                                          for s in range(3_000)])
    for asked in (100, 5_000):
        points = (await metric_store.series(run['id'], 'loss', max_points=asked, with_time=True))['points']
        assert points and all(p[2] == 1e9 + 2 * p[0] for p in points)


@pytest.mark.parametrize('by_seconds', [True, False])
async def test_system_metrics_logged_by_step_get_a_step_axis(orm: str, by_seconds: bool) -> None:
    """GPU samples are stored at the second of the run; an SDK's `system/...` metric logged by step is by step."""
    owner = await auth.create_user('olga@example.com', 'a long password')
    project = await projects.create_project(owner, name='System')
    run, _ = await runs.create_run(owner, project['id'], name='sys')
    started = time.time() - 600
    await Run.filter(id=run['id']).update(started_at=datetime.fromtimestamp(started, tz=UTC))
    points = [Point('system/gpu_util', int(t) if by_seconds else s, 50.0, None, started + t)
              for s, t in enumerate(range(0, 600, 7))]
    async with in_transaction() as conn:
        await metric_store.write_points(conn, run['id'], points)
    assert await metric_store.step_unit(run['id'], 'system/gpu_util') == ('seconds' if by_seconds else 'step')
