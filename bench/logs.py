"""A run's log of a million lines, as the run page and the download read it (services/run_logs).

    .venv/bin/python bench/logs.py [--lines 1000000] [--database-url URL | --postgres postgres://...]

Prints how long the run page's reads take (the newest page, a page from the middle, a search for a rare word, a level
filter, the live lines after the newest) and how long the whole log's download takes and how much memory it holds
at most (tracemalloc: the download reads a page of rows at a time, so it stays far below the log's size). SQLite in a
temporary file, and a fresh PostgreSQL schema too when --postgres is given (or TRAINBOARD_TEST_POSTGRES_URL is set),
unless --database-url names the one database to use. No pass/fail: the figures go in the report.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import Figure, report  # noqa: E402
from models import LogLine, Role, Run  # noqa: E402
from models.logs import level_of  # noqa: E402
from services import auth, database, projects, run_logs, runs  # noqa: E402
from services.database import is_postgres  # noqa: E402

BATCH = 10_000


async def main(lines: int, url: str) -> None:
    where = f'{"PostgreSQL" if is_postgres(url) else "SQLite"}, {lines:,} lines'
    await database.migrate_database(url)
    await database.open_orm(url)
    try:
        admin = await auth.create_user(f'bench{time.time_ns()}@example.com', 'a long password', role=Role.ADMIN)
        project = await projects.create_project(admin, name=f'bench {time.time_ns()}')
        created, _ = await runs.create_run(admin, project['id'], name='million')
        run = await Run.get(id=created['id'])
        started = time.perf_counter()
        for start in range(0, lines, BATCH):
            rows = [_line(n) for n in range(start, min(lines, start + BATCH))]
            await LogLine.bulk_create([LogLine(run_id=run.id, timestamp=1764162422.0 + n / 10, line=text,
                                               level=level_of(text)) for n, text in rows])
        print(f'{lines:,} lines stored in {time.perf_counter() - started:.1f} s')
        newest = await run_logs.read(admin, run.id)
        middle_id = newest.lines[-1].id - lines // 2
        await measure(where, 'newest page (200 lines)', lambda: run_logs.read(admin, run.id))
        await measure(where, 'a page from the middle', lambda: run_logs.read(admin, run.id, before_id=middle_id))
        await measure(where, 'live lines after the newest', lambda: run_logs.read(admin, run.id,
                                                                                 after_id=newest.lines[-1].id))
        await measure(where, 'level filter: errors', lambda: run_logs.read(admin, run.id,
                                                                           where=run_logs.Filter('', 'error')))
        await measure(where, 'search, common word ("loss")', lambda: run_logs.read(admin, run.id,
                                                                                   where=run_logs.Filter('LOSS')))
        await measure(where, 'search, rare word (whole scan)',
                      lambda: run_logs.read(admin, run.id, where=run_logs.Filter('sigterm')))
        for traced in (False, True):  # the time without tracemalloc (which slows Python down), then the memory
            if traced:
                tracemalloc.start()
            started = time.perf_counter()
            _name, body = await run_logs.download(admin, run.id, ZoneInfo('America/Los_Angeles'))
            size = 0
            async for chunk in body:
                size += len(chunk)
            elapsed = time.perf_counter() - started
            if traced:
                peak = tracemalloc.get_traced_memory()[1] / 2**20
                print(f'download: peak memory {peak:.1f} MiB')
                tracemalloc.stop()
                report(Figure('the whole log\'s download: peak memory (tracemalloc)', where, peak, 'MiB',
                              lower_is_better=True))
            else:
                print(f'download: {size / 2**20:.0f} MiB in {elapsed:.1f} s ({size / 2**20 / elapsed:.0f} MiB/s)')
                report(Figure(f'the whole log\'s download ({size / 2**20:.0f} MiB)', where, elapsed, 's',
                              lower_is_better=True))
    finally:
        await database.close_orm()


async def measure(where: str, what: str, read: Callable[[], Awaitable[object]], rounds: int = 5) -> None:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await read()
        times.append((time.perf_counter() - started) * 1000)
    print(f'{what:<34} median {statistics.median(times):8.1f} ms   max {max(times):8.1f} ms')
    report(Figure(f'run page: {what} (median of {rounds})', where, statistics.median(times), 'ms',
                  lower_is_better=True))


def _line(n: int) -> tuple[int, str]:
    if n % 997 == 0:
        return n, f'2026-11-26 13:07:02,123 ERROR trainer: loss is NaN at step {n}'
    if n == 123_457:
        return n, 'received SIGTERM, checkpointing'
    return n, f'2026-11-26 13:07:02,123 INFO trainer: epoch {n // 10000} step {n} loss {1 / (n + 1):.5f}'


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--lines', type=int, default=1_000_000)
    parser.add_argument('--database-url', default='')
    parser.add_argument('--postgres', default=os.environ.get('TRAINBOARD_TEST_POSTGRES_URL', ''),
                        help='also on a fresh schema of this PostgreSQL database (when no --database-url is given)')
    args = parser.parse_args()
    if args.database_url:
        asyncio.run(main(args.lines, args.database_url))
    else:
        with tempfile.TemporaryDirectory() as folder:
            asyncio.run(main(args.lines, f'sqlite://{folder}/bench.sqlite3'))
        if args.postgres:
            from tortoise.backends.base.executor import EXECUTOR_CACHE

            from tests import helpers
            helpers.POSTGRES_URL = args.postgres
            EXECUTOR_CACHE.clear()  # Tortoise caches INSERTs per connection name, whatever the dialect
            url = helpers.database_url('postgres', Path(folder))
            try:
                asyncio.run(main(args.lines, url))
            finally:
                helpers.drop_schema(url)
