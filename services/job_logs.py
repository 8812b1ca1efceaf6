"""Copies each launched job's own output (stdout and stderr, as its provider keeps it) into its run's log.

One scheduler job (TRAINBOARD_JOB_LOGS_INTERVAL_S, 0 turns it off) reads every live job's output on from where the
last read ended (the cursor is stored with the run, so a restart neither loses nor repeats lines), a few jobs at a
time. A job that has just ended is read once more, for its last lines.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q

import settings
from models import Run, RunStatus
from providers.base import ProviderError
from services import ingest, providers
from services.errors import ServiceError

log = logging.getLogger(__name__)

LIVE = [RunStatus.PROVISIONING, RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.STOPPING]
AT_ONCE = 8  # concurrent reads: Novita serves each instance's log from its own address
FINISHED_RECENTLY_S = 120  # read a finished job's output for this long after it ended: its last lines


async def collect() -> int:
    """Read on in every live (or just ended) job's output; how many lines were new."""
    recently = max(FINISHED_RECENTLY_S, 3 * settings.current.job_logs_interval_s)
    ended_after = datetime.now(UTC) - timedelta(seconds=recently)
    jobs = await Run.filter(Q(status__in=LIVE) | Q(ended_at__gte=ended_after), job_ref__isnull=False) \
        .exclude(provider='external')
    gate = asyncio.Semaphore(AT_ONCE)

    async def read(run: Run) -> int:
        async with gate:
            return await _read_on(run)
    return sum(await asyncio.gather(*(read(run) for run in jobs)))


async def _read_on(run: Run) -> int:
    try:
        chunk = await (await providers.get(run.provider)).logs(run.job_ref, run.log_cursor or '')
    except (ProviderError, ServiceError) as error:  # the next round tries again; the poller reports outages
        log.debug('could not read the output of run %s: %s', run.id, error.message)
        return 0
    if chunk.cursor == (run.log_cursor or ''):
        return 0
    if chunk.lines:
        await ingest.record_output(run, logs=chunk.lines)
    await Run.filter(id=run.id).update(log_cursor=chunk.cursor)
    return len(chunk.lines)
