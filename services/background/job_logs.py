"""Copies each launched job's own output (stdout and stderr, as its provider keeps it) into its run's log.

One scheduler job (TRAINBOARD_JOB_LOGS_INTERVAL_S, 0 turns it off) reads every live job's output on from where the
last read ended (the cursor is stored with the run, so a restart neither loses nor repeats lines), a few jobs at a
time. A job that has just ended is read once more, for its last lines.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q

import settings
from models import Run
from providers import registry
from services import ingest, lifecycle, providers

LIVE = lifecycle.LIVE
KEEPING_LOGS = registry.names(logs=True)  # the providers that keep their jobs' output
FINISHED_RECENTLY_S = 120  # read a finished job's output for this long after it ended: its last lines


async def collect() -> int:
    """Read on in every live (or just ended) job's output; how many lines were new."""
    recently = max(FINISHED_RECENTLY_S, 3 * settings.current.job_logs_interval_s)
    ended_after = datetime.now(UTC) - timedelta(seconds=recently)
    jobs = await Run.filter(Q(status__in=LIVE) | Q(ended_at__gte=ended_after), job_ref__isnull=False,
                            provider__in=list(KEEPING_LOGS))
    return await providers.each_job(jobs, _read_on)


async def _read_on(run: Run) -> int:
    chunk = await (await providers.get(run.provider, run.credential_id)).logs(run.job_ref, run.log_cursor or '')
    if chunk.cursor == (run.log_cursor or ''):
        return 0
    if chunk.lines:
        await ingest.record_output(run, logs=chunk.lines)
    await Run.filter(id=run.id).update(log_cursor=chunk.cursor)
    return len(chunk.lines)
