"""The project page with a team's history: 1,000 runs x 30 config keys x 20 metrics.

    .venv/bin/python bench/workbench.py [--postgres postgres://...] [--runs 1000] [--no-browser] [--port 9210]

Fills a fresh SQLite file (and a PostgreSQL schema when a URL is given, or TRAINBOARD_TEST_POSTGRES_URL is set)
through the real write paths (runs in bulk, every metric point through metric_store.write_points, so the latest
values and roll-ups are what ingest makes), then measures:

- the table's server work in this process: reading every run with 5 config and 5 metric columns (last, min, max),
  a filter (search + status) and a sort (by a metric), and one page of cells; goal < 200 ms for a filter or sort;
- a real server (python main.py): the page's first response (server-side build of the project page), and in
  Debian's Chromium the time from navigation to the table showing its first row (goal: first paint < 1 s), and a
  sort by clicking a header until the first row changes (browser round trip).
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
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import Figure, report  # noqa: E402
from tests import helpers  # noqa: E402

GOAL_TABLE_MS, GOAL_PAINT_MS = 200, 1000
CONFIG_KEYS = 30
METRICS = 20
POINTS = 20  # per metric and run: 400,000 points in all for 1,000 runs
VIEW = {'config_columns': ['lr', 'batch_size', 'optimizer', 'warmup', 'seed'],
        'metric_columns': ['last:train/loss', 'min:val/loss', 'max:val/acc', 'last:val/acc', 'min:train/loss'],
        'sort': 'created', 'descending': True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--postgres', default=os.environ.get('TRAINBOARD_TEST_POSTGRES_URL', ''))
    parser.add_argument('--runs', type=int, default=1000)
    parser.add_argument('--no-browser', action='store_true')
    parser.add_argument('--port', type=int, default=9210)
    parser.add_argument('--skip-sqlite', action='store_true')
    parser.add_argument('--keep', default='', help='fill (SQLite) in this folder and keep it, to look at it after')
    args = parser.parse_args()
    for backend in ([] if args.skip_sqlite else ['sqlite']) + (['postgres'] if args.postgres else []):
        if backend == 'postgres':
            helpers.POSTGRES_URL = args.postgres
            # Tortoise caches each model's INSERT per connection name, not per dialect (as tests/conftest.py says)
            from tortoise.backends.base.executor import EXECUTOR_CACHE
            EXECUTOR_CACHE.clear()
        with tempfile.TemporaryDirectory() as tmp:
            if args.keep and backend == 'sqlite':
                tmp = args.keep
                Path(tmp).mkdir(parents=True, exist_ok=True)
            url = helpers.database_url(backend, Path(tmp))
            print(f'== {backend}: {args.runs:,} runs x {CONFIG_KEYS} config keys x {METRICS} metrics '
                  f'({POINTS} points each)')
            where = f'{"PostgreSQL" if backend == "postgres" else "SQLite"}, {args.runs:,} runs'
            project_id = asyncio.run(_fill_and_measure(url, Path(tmp), args.runs, where))
            try:
                _serve_and_measure(url, Path(tmp), project_id, args, where)
            finally:
                helpers.drop_schema(url)


async def _fill_and_measure(url: str, tmp: Path, count: int, where: str) -> int:
    os.environ['TRAINBOARD_DATA_DIR'] = str(tmp / 'data')
    import settings
    settings.reload()
    from models import Role, RunTableView
    from services import auth, database, projects, run_table
    from services.run_table import View
    await database.migrate_database(url)
    await database.open_orm(url)
    try:
        started = time.perf_counter()
        admin = await auth.create_user(helpers.ADMIN_EMAIL, helpers.ADMIN_PASSWORD, name='Admin', role=Role.ADMIN)
        project = await projects.create_project(admin, name='workbench')
        await _fill(admin, project['id'], count)
        print(f'  filled in {time.perf_counter() - started:.1f} s')
        await RunTableView.create(user=admin, project_id=project['id'], view=VIEW)

        view = View.from_json(VIEW)
        load = await _times(lambda: run_table.load(admin, project['id'], view.metric_keys))
        rows = await run_table.load(admin, project['id'], view.metric_keys)
        print(f'  read every run with 5 config + 5 metric columns: {_ms(load)}')
        filtered = View.from_json({**VIEW, 'search': 'lr=0.001 adamw', 'statuses': ['succeeded', 'stopped']})
        found = len(run_table.apply(rows, filtered).rows)
        spent = _sync_times(lambda: run_table.apply(rows, filtered))
        print(f'  filter (search + status), over the rows read: {_ms(spent)} -> {found} runs')
        by_metric = View.from_json({**VIEW, 'sort': 'min:val/loss', 'descending': False})
        sort = _sync_times(lambda: run_table.apply(rows, by_metric))
        print(f'  sort by min val/loss: {_ms(sort)}')
        grouped = View.from_json({**VIEW, 'group_by': 'config:optimizer', 'group_metric': 'min:val/loss'})
        group = _sync_times(lambda: run_table.apply(rows, grouped))
        print(f'  group by a config key, best and mean of a metric: {_ms(group)}')
        from components.runs_table import cells
        now = datetime.now(UTC)
        page = run_table.apply(rows, view).rows[:50]
        one_page = _sync_times(lambda: [cells(r, view.config_columns, view.metric_columns, now) for r in page])
        print(f'  one page (50 rows) of cells: {_ms(one_page)}')
        print('  goal: a filter or sort < 200 ms (the page re-reads nothing for either)')
        report(_figure('table: read every run, 5 config + 5 metric columns', where, load),
               _figure('table: filter (search + status)', where, spent, GOAL_TABLE_MS),
               _figure('table: sort by a metric', where, sort, GOAL_TABLE_MS),
               _figure('table: group by a config key, best and mean of a metric', where, group),
               _figure('table: one page (50 rows) of cells', where, one_page))
        return project['id']
    finally:
        await database.close_orm()


async def _fill(admin, project_id: int, count: int) -> None:
    from tortoise.transactions import in_transaction

    from models import Run, RunStatus
    from services import metric_store
    rng = random.Random(7)
    now = datetime.now(UTC)
    statuses = [RunStatus.SUCCEEDED] * 6 + [RunStatus.FAILED, RunStatus.STOPPED, RunStatus.RUNNING, RunStatus.QUEUED]
    made = []
    for index in range(count):
        config = {'lr': rng.choice([0.1, 0.01, 0.001, 3e-4]), 'batch_size': rng.choice([32, 64, 128, 256]),
                  'optimizer': rng.choice(['adamw', 'sgd', 'lion']), 'warmup': rng.choice([True, False]),
                  'seed': index}
        config.update({f'hp_{k}': rng.random() for k in range(CONFIG_KEYS - len(config))})
        started = now - timedelta(hours=rng.uniform(1, 24 * 60))
        status = rng.choice(statuses)
        made.append(Run(project_id=project_id, created_by=admin, name=f'run-{index:04d}', status=status,
                        progress=1.0 if status == RunStatus.SUCCEEDED else rng.random(), config=config,
                        cost_usd=Decimal(f'{rng.uniform(0, 40):.4f}'), started_at=started,
                        ended_at=None if status in (RunStatus.RUNNING, RunStatus.QUEUED) else
                        started + timedelta(minutes=rng.uniform(5, 600)),
                        tags=rng.sample(['baseline', 'sweep', 'ablation', 'keep'], rng.randint(0, 2)), note=''))
    await Run.bulk_create(made, batch_size=200)
    ids = [run_id for run_id, in await Run.filter(project_id=project_id).values_list('id')]
    names = [f'{split}/{kind}' for split in ('train', 'val') for kind in ('loss', 'acc')] + \
            [f'system/m{i}' for i in range(METRICS - 4)]
    for chunk in range(0, len(ids), 50):
        async with in_transaction() as conn:
            for run_id in ids[chunk:chunk + 50]:
                points = [metric_store.Point(name=name, step=step, value=rng.random() / (step + 1), special=None,
                                             timestamp=float(step)) for name in names for step in range(POINTS)]
                await metric_store.write_points(conn, run_id, points)


def _serve_and_measure(url: str, tmp: Path, project_id: int, args: argparse.Namespace, where: str) -> None:
    if args.no_browser:
        return
    server = helpers.Server(helpers.app_env(url, tmp / 'data'), port=args.port).start(timeout=180)
    try:
        _browser(server, f'{server.url}/projects/{project_id}', where)  # pages need a browser's session
    finally:
        server.stop()


def _browser(server: helpers.Server, page: str, where: str) -> None:
    import httpx
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, signed_in
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = signed_in(browser, server.url, helpers.ADMIN_EMAIL, helpers.ADMIN_PASSWORD, width=1440)
            cookies = {c['name']: c['value'] for c in tab.context.cookies()}
            responses = []
            with httpx.Client(cookies=cookies, timeout=30) as client:
                for _ in range(5):
                    started = time.perf_counter()
                    answer = client.get(page)
                    responses.append(time.perf_counter() - started)
                    assert answer.status_code == 200 and 'run-0' in answer.text, answer.status_code
            print(f'  server: the project page\'s first response (built, HTML with the table): {_ms(responses)}')
            paints = []
            for _ in range(5):
                started = time.perf_counter()
                tab.goto(page, wait_until='commit')
                tab.locator('.runs-table tbody tr').first.wait_for(timeout=30_000)
                paints.append(time.perf_counter() - started)
            print(f'  Chromium: navigation to the table\'s first row shown (first paint): {_ms(paints)}  goal < 1 s')
            sorts = []
            for _ in range(5):  # ascending, descending, unsorted (newest first), ...
                first = tab.locator('.runs-table tbody tr').first.inner_text()
                started = time.perf_counter()
                tab.locator('.runs-table th', has_text='Cost').first.click()
                deadline = time.monotonic() + 10
                while tab.locator('.runs-table tbody tr').first.inner_text() == first and time.monotonic() < deadline:
                    tab.wait_for_timeout(5)
                sorts.append(time.perf_counter() - started)
            print(f'  Chromium: click the Cost header until the first row changes (round trip): {_ms(sorts)}')
            report(_figure('project page: the server\'s first response (HTML with the table)', where, responses),
                   _figure('project page: first paint in Chromium (navigation to the first row)', where, paints,
                           GOAL_PAINT_MS),
                   _figure('project page: sort by a header click in Chromium (round trip)', where, sorts))
        finally:
            browser.close()


async def _times(make, repeat: int = 5) -> list[float]:
    spent = []
    for _ in range(repeat):
        started = time.perf_counter()
        await make()
        spent.append(time.perf_counter() - started)
    return spent


def _sync_times(make, repeat: int = 5) -> list[float]:
    spent = []
    for _ in range(repeat):
        started = time.perf_counter()
        make()
        spent.append(time.perf_counter() - started)
    return spent


def _figure(what: str, where: str, seconds: list[float], goal_ms: float | None = None) -> Figure:
    return Figure(f'{what} (median of {len(seconds)})', where, statistics.median(seconds) * 1000, 'ms',
                  goal=goal_ms, lower_is_better=True)


def _ms(values: list[float]) -> str:
    return f'median {statistics.median(values) * 1000:,.1f} ms (max {max(values) * 1000:,.1f} ms)'


if __name__ == '__main__':
    main()
