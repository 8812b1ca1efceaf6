"""GPU utilisation and memory of running jobs whose provider measures them, stored as the run's `system/...` metrics.

One scheduler job (TRAINBOARD_GPU_METRICS_INTERVAL_S, 0 turns it off) asks the provider for each running job's
samples since the last ones stored. A sample's step is the second of the run it was taken at, so a sample fetched
twice is stored once, like any duplicate point.
"""

from __future__ import annotations

import time

from models import Run, RunStatus
from providers import registry
from services import ingest, metric_store, providers

PREFIX = 'system/'
MEASURED = registry.names(gpu_metrics=True)  # the providers that measure their jobs' GPUs (not this machine, yet)
FIRST_WINDOW_S = 600  # how far back the first fetch of a run (or the first after a restart) looks


async def collect() -> int:
    """Fetch every measured running job's new GPU samples; how many points were stored."""
    running = await Run.filter(status=RunStatus.RUNNING, job_ref__isnull=False, started_at__isnull=False,
                               provider__in=list(MEASURED))
    for gone in set(_latest) - {run.id for run in running}:
        del _latest[gone]
    return await providers.each_job(running, _fetch)


async def _fetch(run: Run) -> int:
    since = _latest.get(run.id, time.time() - FIRST_WINDOW_S)
    samples = await (await providers.get(run.provider, run.credential_id)).gpu_usage(run.job_ref, since)
    started = run.started_at.timestamp()
    points = [metric_store.Point(PREFIX + s.name, max(0, int(s.time - started)), s.value, None, s.time)
              for s in samples if s.time > 0]
    if not points:
        return 0
    _latest[run.id] = max(p.timestamp for p in points)
    return await ingest.record_output(run, points=points)


_latest: dict[int, float] = {}  # run id -> time of the newest sample stored, to ask only for newer ones
