"""The leader's log keeper: once a run has ended, its whole log (every LogLine, in order, each with its UTC time) goes
to the artifact store as the run's `output.log` (type `log`), so it outlives the database's rows and downloads like
any other file.

A run is due when it is finished, its log not kept yet (`Run.logs_kept_at` NULL; the migration set 0 for runs that
ended before this), and its last lines are in: a job whose provider keeps its output is read for a while after it
ends (services/background/job_logs), so its log is kept only after that. The log is written to a temporary file a
page of rows at a time (a run may have millions of lines), stored through services/artifacts.store_file, and the run
marked by a compare-and-set: two processes that both believe they lead (a failover) may both write the same bytes,
and one marks it.

A store that fails (a missing bucket, refused keys) leaves the run unmarked: it is tried again later, each run backing
off on its own, and the store's failure is logged once when it flips (services/artifact_store), not at every try.
Nothing secret goes in: only the lines the run page shows, with the run's own environment values (which the server
keeps encrypted and shows masked) replaced by [hidden].
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tortoise.expressions import Q

import settings
from models import Artifact, ArtifactStatus, LogLine, Run
from models.runs import FINISHED
from services import artifacts, data_files
from services.background import job_logs
from services.errors import ServiceError, Unavailable
from services.log_secrets import hidden, secrets_of

log = logging.getLogger(__name__)

NAME, TYPE = 'output.log', 'log'
PAGE = 5000  # log rows read from the database at a time
BATCH = 5  # runs kept per run of the task; the rest wait for the next
INTERVAL_S = 30.0  # how often the leader looks for runs whose log is due
BASE_DELAY_S = 60.0  # a run whose log could not be stored is tried again after this, doubling, at most MAX_DELAY_S
MAX_DELAY_S = 3600.0



class BackOff:
    """The runs whose log the store refused, and when each may be tried again: twice as late after each failure."""

    def __init__(self) -> None:
        self.waiting: dict[int, tuple[int, float]] = {}  # run id -> (failed tries, epoch seconds of the next try)

    def failed(self, run_id: int, now: float) -> None:
        tries = self.waiting.get(run_id, (0, 0.0))[0] + 1
        self.waiting[run_id] = (tries, now + min(BASE_DELAY_S * 2 ** (tries - 1), MAX_DELAY_S))

    def done(self, run_id: int) -> None:
        self.waiting.pop(run_id, None)

    def waiting_at(self, now: float) -> list[int]:
        return [run_id for run_id, (_tries, at) in self.waiting.items() if at > now]


back_off = BackOff()


def settled_after_s() -> float:
    """How long after its end a job whose provider keeps its output may still get lines (job_logs reads it on)."""
    return max(job_logs.FINISHED_RECENTLY_S, 3 * settings.current.job_logs_interval_s) \
        + settings.current.job_logs_interval_s


async def keep_due(now: float | None = None) -> int:
    """Keep the logs of the runs due at `now` (epoch seconds; tests move it on), the longest ended first, at most
    `BATCH`; how many were kept."""
    now = time.time() if now is None else now
    settled = datetime.fromtimestamp(now - settled_after_s(), UTC)
    due = await Run.filter(Q(ended_at__lte=settled) | Q(ended_at__isnull=True)
                           | ~Q(provider__in=list(job_logs.KEEPING_LOGS)),
                           status__in=list(FINISHED), logs_kept_at__isnull=True) \
        .exclude(id__in=back_off.waiting_at(now)).order_by('ended_at', 'id').limit(BATCH)
    kept = 0
    for run in due:
        try:
            kept += await keep(run, now)
        except Unavailable:  # the store's failure: logged once by artifact_store when it flipped
            back_off.failed(run.id, now)
        except Exception:  # a bug, or the database: this run waits; the others go on
            log.exception('the log of run %s could not be kept', run.id)
            back_off.failed(run.id, now)
    return kept


async def keep(run: Run, now: float | None = None) -> bool:
    """Store `run`'s log as its `output.log` (none when it has no lines) and mark the run; False when another process
    marked it first."""
    now = time.time() if now is None else now
    scratch = await asyncio.to_thread(data_files.scratch_dir)
    handle, name = tempfile.mkstemp(prefix=f'run-{run.id}-', suffix='.log', dir=scratch)
    os.close(handle)
    path = Path(name)
    try:
        if not await write_log(run, path):  # it printed nothing (cancelled before it started, say): nothing to keep
            back_off.done(run.id)
            return bool(await Run.filter(id=run.id, logs_kept_at__isnull=True).update(logs_kept_at=now))
        try:
            await artifacts.store_file(artifacts.Uploader(run, None), name=await _name_for(run), type=TYPE, path=path)
        except Unavailable:
            raise
        except ServiceError as refused:  # too large for TRAINBOARD_MAX_ARTIFACT_BYTES, say: never kept, said once
            log.warning('the log of run %s is not kept: %s', run.id, refused.message)
            await Run.filter(id=run.id, logs_kept_at__isnull=True).update(logs_kept_at=0)
            return False
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
    back_off.done(run.id)
    return bool(await Run.filter(id=run.id, logs_kept_at__isnull=True).update(logs_kept_at=now))


async def write_log(run: Run, path: Path) -> int:
    """Write `run`'s log to `path`, one `<UTC time> <line>` per line, a page of rows at a time; how many lines."""
    secrets = secrets_of(run)
    count, after = 0, 0
    with path.open('w', encoding='utf-8', newline='\n') as file:
        while True:
            rows = await LogLine.filter(run_id=run.id, id__gt=after).order_by('id').limit(PAGE) \
                .values_list('id', 'timestamp', 'line')
            if not rows:
                return count
            text = ''.join(f'{stamp(timestamp)} {hidden(line, secrets)}\n' for _id, timestamp, line in rows)
            await asyncio.to_thread(file.write, text)
            count, after = count + len(rows), rows[-1][0]


def stamp(timestamp: float) -> str:
    """A line's time as the file shows it: UTC to the millisecond ('2026-11-26 01:45:40.123Z')."""
    return datetime.fromtimestamp(timestamp, UTC).strftime('%Y-%m-%d %H:%M:%S.%f')[:-3] + 'Z'


def forget() -> None:
    """Drop the back-off of every run (tests)."""
    back_off.waiting.clear()


async def _name_for(run: Run) -> str:
    """`output.log`, unless the run's code saved a file of its own by that name: that one stays. (A record a failed
    try of this task left, uploading with nothing stored, is ours to reuse.)"""
    own = await Artifact.filter(run_id=run.id, name=NAME, status=ArtifactStatus.READY).exclude(type=TYPE).exists()
    return f'trainboard-{NAME}' if own else NAME

