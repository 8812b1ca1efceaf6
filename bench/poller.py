"""One poll cycle over 1,000 active Novita runs, against the fake Novita API: wall time and API calls.

    .venv/bin/python bench/poller.py [--runs 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import Figure, report  # noqa: E402


async def main(runs: int) -> None:
    from tests.fakes.novita import API_KEY, PRODUCTS, FakeNovita, Instance
    fake = FakeNovita().start()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(TRAINBOARD_DATA_DIR=tmp, TRAINBOARD_NOVITA_BASE_URL=fake.url)
        import settings
        settings.reload()
        from models import Project, Run, RunStatus, User
        from services import credentials, database
        from services.background import poller
        url = f'sqlite://{tmp}/bench.sqlite3'
        await database.migrate_database(url)
        await database.open_orm(url)
        try:
            user = await User.create(email='bench@example.com', password_hash='x', role='admin')
            await credentials.add(user, provider='novita', label='bench', secret=API_KEY)
            project = await Project.create(name='bench', owner=user)
            await Run.bulk_create([Run(project=project, name=f'run {i}', provider='novita',
                                                 status=RunStatus.RUNNING, price_per_hour=0.67, gpu_count=1)
                                             for i in range(runs)])
            all_runs = await Run.all()
            for run in all_runs:
                run.job_ref = f'{run.id:08x}'
                fake.instances[run.job_ref] = Instance(run.job_ref, f'trainboard-run-{run.id}', PRODUCTS[0]['id'], 1,
                                                       'img', '', [], 'onDemand', status='running')
            await Run.bulk_update(all_runs, fields=['job_ref'], batch_size=500)
            await poller.poll_once()  # warm up: the first cycle starts the billing clocks
            fake.calls.clear()
            start = time.perf_counter()
            await poller.poll_once()
            elapsed = time.perf_counter() - start
            calls = [c for c in fake.calls if 'instances' in c]
            print(f'poll cycle over {runs:,} active runs: {elapsed * 1000:.0f} ms, {len(fake.calls)} API calls '
                  f'({len(calls)} list calls of {100} instances per page)')
            report(Figure(f'one poll cycle over {runs:,} active Novita runs', 'SQLite, fake Novita API',
                          elapsed * 1000, 'ms', lower_is_better=True),
                   Figure(f'Novita API calls in that cycle ({len(calls)} list pages)', 'SQLite, fake Novita API',
                          len(fake.calls), 'calls', lower_is_better=True))
        finally:
            await database.close_orm()
            fake.stop()


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=1000)
    asyncio.run(main(parser.parse_args().runs))
