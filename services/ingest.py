"""Reports from training code: the one write path for metrics, progress, steps, logs and status.

A report is checked whole before anything is written: one bad part refuses the whole request and stores nothing.
Then it is written in one transaction, and after the commit one change per kind goes to the live hub.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from models import LogLine, Run, RunStatus, RunStep, StepStatus
from models.logs import level_of
from services import (
    bounds,
    database,
    hub,
    lifecycle,
    log_secrets,
    metric_store,
    notifications,
    progress,
    projects,
    run_logs,
    runs,
)
from services.errors import Conflict, Invalid, NotFound, ServiceError
from services.group_commit import GroupCommit
from services.lifecycle import Cause
from services.metric_store import Point, parse_value, write_points, write_points_of_runs

BIGINT_MAX = bounds.BIGINT_MAX  # steps are BigIntField
MAX_POINTS = 10_000
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_LOG_LINES = 10_000
MAX_LINE_CHARS = 10_000  # a job's own output can hold anything: a progress bar redrawn for an hour is one line
REPORTABLE_STATES = lifecycle.REPORTABLE
# what a group of points-only reports reads of their runs: whether each takes points and moves, and its answer
GROUP_FIELDS = ('id', 'project_id', 'status', 'control', 'job_ref', 'provider')
WRITERS_POSTGRES = 2  # transactions written at once on PostgreSQL (SQLite has one connection): the database's cores
KNOWN_PARTS = {'metrics', 'progress', 'steps', 'logs', 'status'}
# what a report writes besides the status (which only lifecycle.move writes)
REPORTED_FIELDS = ['progress', 'step', 'total_steps', 'progress_rate', 'progress_at', 'progress_window', 'eta_seconds',
                   'last_report_at', 'stall_notified_at', 'updated_at']
STEP_ENDS = {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.STOPPED}
# what a report writes of a step: never its cost, which the poller adds to meanwhile (progress.accrue_steps)
STEP_FIELDS = ['status', 'description', 'started_at', 'ended_at']


class TooLarge(ServiceError):
    status_code = 413


# a lambda: _write_reports is defined below, with the report's parts
_writes: GroupCommit[_Incoming, _Stored] = GroupCommit(lambda conn, reports: _write_reports(conn, reports))
arriving = _writes.arriving  # the report route's way in: see GroupCommit.arriving


@dataclass(slots=True)
class Report:
    points: list[Point] = field(default_factory=list)
    fraction: float | None = None
    step: int | None = None
    total_steps: int | None = None
    steps: list[tuple[str, StepStatus, str | None]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    state: RunStatus | None = None
    message: str = ''


async def report(run: Run, body: Any, *, signature: runs.Signature | None = None) -> dict[str, Any]:
    """Validate and store one report; answers how many points were new and how many the run already had.
    A signed report spends its signature with the rest: a replay is refused (409) and stores nothing.

    Reports that arrive together are stored in one transaction (services/group_commit.py): one flush to disk for
    all of them. Each is answered only after that transaction committed, so an answered point is stored."""
    parsed = parse(body)
    if RunStatus(run.status).is_finished:
        raise Conflict(f'Run {run.id} has finished ({run.status}); it takes no more reports.')

    writers = WRITERS_POSTGRES if database.is_postgres(connections.get('default')) else 1
    stored = await _writes.write(_Incoming(run.id, parsed, signature), order=run.id, writers=writers,
                                 weight=max(1, len(parsed.points) + len(parsed.logs)))
    run, new_points = stored.run, stored.new_points
    await _publish(run, new_points, parsed.logs, stored.steps_changed or stored.moved or parsed.fraction is not None)
    if run.status != stored.status_before:  # the project's run counts changed
        await projects.publish_updated(run.project_id)
    if stored.moved and run.status in lifecycle.ENDS_TOLD:  # its end is an event: the bells of those concerned re-read
        await notifications.announce(run.project_id)
    answer = {'metrics_accepted': len(new_points), 'metrics_duplicate': len(parsed.points) - len(new_points)}
    if run.control:
        answer['control'] = {'action': run.control}
    return answer


@dataclass(slots=True)
class _Incoming:
    run_id: int
    parsed: Report
    signature: runs.Signature | None


@dataclass(slots=True)
class _Stored:
    run: Run
    status_before: str
    new_points: list[Point]
    steps_changed: bool
    moved: bool


async def _write_reports(conn: Any, reports: list[_Incoming]) -> list[_Stored | Exception]:
    """Reports that arrived together, in one transaction. Those that only carry points to runs that are running
    (what training code sends at every step) are written together: one read of their runs, one statement per table
    for all their points, one update of their runs. Any other report, and every report of a run that has one, is
    written on its own, in the order they came (`_store`)."""
    results: list[_Stored | Exception | None] = [None] * len(reports)
    alone = {report.run_id for report in reports if not _points_only(report)}
    together = [i for i, report in enumerate(reports) if report.run_id not in alone]
    if together:
        ids = sorted({reports[i].run_id for i in together})  # locked in id order, as every group does
        found = {row['id']: Run._init_from_db(**row) for row in await metric_store.lock_runs(conn, ids, GROUP_FIELDS)}
        for run in found.values():
            if not RunStatus(run.status).is_finished and _moves(run):  # its first sign of life starts it
                alone.add(run.id)
        points: dict[int, list[Point]] = {}
        for i in together:
            run = found.get(reports[i].run_id)
            if run is None:
                results[i] = NotFound(f'Run {reports[i].run_id} not found.')
            elif RunStatus(run.status).is_finished:
                results[i] = Conflict(f'Run {run.id} has finished ({run.status}); it takes no more reports.')
            elif run.id not in alone:  # the first of a (name, step) wins, as when written one after the other
                points.setdefault(run.id, []).extend(reports[i].parsed.points)
        written = await write_points_of_runs(conn, points)
        # which points were new; none was stored before (the usual case): all of them, with no set of 1,000 ids
        new = None if all(len(written[run_id]) == len(batch) for run_id, batch in points.items()) else \
            {id(point) for batch in written.values() for point in batch}
        now = datetime.now(UTC)
        if points:  # what a report decides (REPORTED_FIELDS) of a running run that only gets points
            await Run.filter(id__in=list(points)).using_db(conn).update(last_report_at=now, stall_notified_at=None,
                                                                        updated_at=now)
        for i in together:
            run = found.get(reports[i].run_id)
            if results[i] is None and run is not None and run.id in points:
                run.last_report_at, run.stall_notified_at, run.updated_at = now, None, now
                stored = reports[i].parsed.points if new is None else \
                    [p for p in reports[i].parsed.points if id(p) in new]
                results[i] = _Stored(run, run.status, stored, steps_changed=False, moved=False)
    for i, report in enumerate(reports):
        if results[i] is None:
            results[i] = await _store(conn, report.run_id, report.parsed, report.signature)
    return results  # type: ignore[return-value]  # every one is set


def _points_only(report: _Incoming) -> bool:
    parsed = report.parsed
    return bool(parsed.points) and report.signature is None and not parsed.logs and not parsed.steps \
        and parsed.fraction is None and parsed.state is None


def _moves(run: Run) -> bool:
    """Whether points alone move the run (a queued external run starts)."""
    return lifecycle.from_report(RunStatus(run.status), None, signs_of_life=True, has_job=run.job_ref is not None,
                                 awaits_launch=run.provider != 'external') is not None


async def _store(conn: Any, run_id: int, parsed: Report, signature: runs.Signature | None) -> _Stored:
    """One report's writes, in the (shared) transaction `conn`."""
    # locked until commit: a cancel or stop that comes in meanwhile is saved after us, so it wins; and no other
    # transaction writes the run's points meanwhile (metric_store.write_points)
    run = await Run.select_for_update().using_db(conn).get(id=run_id)
    status_before = run.status
    if RunStatus(run.status).is_finished:
        raise Conflict(f'Run {run.id} has finished ({run.status}); it takes no more reports.')
    if signature is not None:
        await runs.spend_signature(conn, signature)
    new_points = await write_points(conn, run.id, parsed.points) if parsed.points else []
    now = time.time()
    await _write_logs(conn, run, parsed.logs, now)
    steps_changed = await _apply_steps(run, parsed, conn)
    _apply_progress(run, parsed, now)
    moved = await _apply_status(run, parsed, conn)  # after: a run that succeeds is at 100%
    run.last_report_at = datetime.now(UTC)
    run.stall_notified_at = None  # heard from: a stall told of is over (it is not stopped), and a new one is told
    # only what a report decides: the poller writes cost and provider state at the same time
    await run.save(using_db=conn, update_fields=REPORTED_FIELDS)
    return _Stored(run, status_before, new_points, steps_changed, moved)


def parse(body: Any) -> Report:
    """The report, checked whole; Invalid/TooLarge name the offending item."""
    if not isinstance(body, dict):
        raise Invalid('The report must be a JSON object.')
    if unknown := set(body) - KNOWN_PARTS:
        raise Invalid(f'Unknown report part(s): {", ".join(sorted(unknown))}; known: {", ".join(sorted(KNOWN_PARTS))}.')
    result = Report()
    metrics = body.get('metrics') or []
    if not isinstance(metrics, list):
        raise Invalid('metrics must be a list of points.')
    if len(metrics) > MAX_POINTS:
        raise TooLarge(f'{len(metrics)} points in one report; send at most {MAX_POINTS:,} per request.')
    result.points = _points(metrics, time.time())
    if (progress := body.get('progress')) is not None:
        _progress(result, progress)
    steps = body.get('steps') or []
    if not isinstance(steps, list):
        raise Invalid('steps must be a list.')
    for index, item in enumerate(steps):
        result.steps.append(_step(index, item))
    logs = body.get('logs') or []
    if not isinstance(logs, list) or not all(isinstance(line, str) for line in logs):
        raise Invalid('logs must be a list of strings.')
    if len(logs) > MAX_LOG_LINES:
        raise TooLarge(f'{len(logs)} log lines in one report; send at most {MAX_LOG_LINES:,}.')
    result.logs = logs
    if (status := body.get('status')) is not None:
        state = status.get('state') if isinstance(status, dict) else None
        if not isinstance(state, str) or state not in {s.value for s in REPORTABLE_STATES}:
            raise Invalid('status.state must be one of ' + ', '.join(sorted(s.value for s in REPORTABLE_STATES)) + '.')
        result.state = RunStatus(state)
        result.message = bounds.strip_nul(str(status.get('message') or '')[:2000])
    return result


async def record_output(run: Run, *, points: list[Point] | None = None, logs: list[str] | None = None) -> int:
    """What a provider holds about a job (its own output, GPU usage), stored through the same write path as reports;
    how many points were new. It is not a report: a job that only prints has still not reported (stall timeout)."""
    points, logs = points or [], logs or []
    async with in_transaction() as conn:
        await metric_store.lock_runs(conn, [run.id])
        new_points = await write_points(conn, run.id, points) if points else []
        await _write_logs(conn, run, logs, time.time())
    await _publish_output(run, new_points, logs)
    return len(new_points)


async def _write_logs(conn: Any, run: Run, lines: list[str], now: float) -> None:
    """Each line cut to MAX_LINE_CHARS (whoever sent it: the page shows every line whole), its run's secrets hidden
    before it is stored (a job that prints its token must not show it to every viewer, nor to a search), and without
    NUL (PostgreSQL would refuse the whole batch: a job that printed one kept no log at all)."""
    if not lines:
        return
    secrets = log_secrets.secrets_of(run)
    stored = [log_secrets.hidden(bounds.strip_nul(line[:MAX_LINE_CHARS]), secrets) for line in lines]
    await LogLine.bulk_create([LogLine(run_id=run.id, timestamp=now, line=text, level=level_of(text))
                               for text in stored], using_db=conn)


# --- parsing -------------------------------------------------------------------------------------------------------

def _points(items: list[Any], now: float) -> list[Point]:
    # the hot loop of ingest, inlined: exact type checks first, the slow path only to say what is wrong
    points: list[Point] = []
    append, isfinite = points.append, math.isfinite
    for index, item in enumerate(items):
        if type(item) is dict:
            name, step, value, timestamp = item.get('name'), item.get('step'), item.get('value'), item.get('time', now)
            if type(name) is str and type(step) is int and 0 <= step <= BIGINT_MAX and 0 < len(name) <= 200 \
                    and '\x00' not in name and (type(timestamp) is float or type(timestamp) is int) \
                    and isfinite(timestamp):
                if type(value) is float and isfinite(value):
                    append(Point(name, step, value, None, float(timestamp)))
                    continue
                if type(value) is int and -BIGINT_MAX <= value <= BIGINT_MAX:
                    append(Point(name, step, float(value), None, float(timestamp)))
                    continue
        append(_checked_point(index, item, now))
    return points


def _checked_point(index: int, item: Any, now: float) -> Point:
    where = f'metrics[{index}]'
    if not isinstance(item, dict):
        raise Invalid(f'{where} must be an object with name, step and value.')
    name = item.get('name')
    if not isinstance(name, str) or not 1 <= len(name) <= 200:
        raise Invalid(f'{where}.name must be a string of 1 to 200 characters.')
    if problem := bounds.text_problem(name):
        raise Invalid(f'{where}.name {problem}.')
    step = item.get('step')
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step <= BIGINT_MAX:
        raise Invalid(f'{where}.step must be a whole number from 0 to {BIGINT_MAX:,} (2^63 - 1).')
    try:
        value, special = parse_value(item.get('value'))
    except ValueError as error:
        raise Invalid(f'{where}.value {error}.') from None
    timestamp = item.get('time', now)
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool) or not math.isfinite(timestamp):
        raise Invalid(f'{where}.time must be Unix seconds.')
    return Point(name, step, value, special, float(timestamp))


def _progress(result: Report, progress: Any) -> None:
    if not isinstance(progress, dict):
        raise Invalid('progress must be {"step": n, "total_steps": m} or {"fraction": f}.')
    if 'fraction' in progress:
        fraction = progress['fraction']
        if not isinstance(fraction, int | float) or isinstance(fraction, bool) or not 0 <= fraction <= 1:
            raise Invalid('progress.fraction must be a number from 0 to 1.')
        result.fraction = float(fraction)
        return
    step, total = progress.get('step'), progress.get('total_steps')
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (step, total)) or total <= 0 or step < 0:
        raise Invalid('progress needs whole numbers step >= 0 and total_steps > 0 (or a fraction).')
    if max(step, total) > BIGINT_MAX:
        raise Invalid(f'progress.step and progress.total_steps must be at most {BIGINT_MAX:,} (2^63 - 1).')
    result.step, result.total_steps = step, total
    result.fraction = min(1.0, step / total)


def _step(index: int, item: Any) -> tuple[str, StepStatus, str | None]:
    where = f'steps[{index}]'
    if not isinstance(item, dict) or not isinstance(item.get('name'), str) or not 1 <= len(item['name']) <= 100:
        raise Invalid(f'{where}.name must be a string of 1 to 100 characters.')
    if problem := bounds.text_problem(item['name']):
        raise Invalid(f'{where}.name {problem}.')
    try:
        status = StepStatus(item.get('status', 'running'))
    except ValueError:
        raise Invalid(f'{where}.status must be one of {", ".join(s.value for s in StepStatus)}.') from None
    description = item.get('description')
    if description is not None and not isinstance(description, str):
        raise Invalid(f'{where}.description must be a string.')
    return item['name'], status, None if description is None else bounds.strip_nul(description)


# --- applying ------------------------------------------------------------------------------------------------------

async def _apply_steps(run: Run, parsed: Report, conn: Any) -> bool:
    """One row per step name. A step reported again (`run.step('training', ...)` each epoch) is that row again: it
    spans from its first start to its latest end, and runs on (no end) while it is running again."""
    if not parsed.steps:
        return False
    existing = {step.name: step for step in await RunStep.filter(run_id=run.id).using_db(conn)}
    next_index = max((step.index for step in existing.values()), default=-1) + 1
    now = datetime.now(UTC)
    for name, status, description in parsed.steps:
        step = existing.get(name)
        new = step is None
        if step is None:
            step = existing[name] = RunStep(run_id=run.id, index=next_index, name=name)
            next_index += 1
        step.status = status
        if description is not None:
            step.description = description
        if status != StepStatus.PENDING and step.started_at is None:
            step.started_at = now
        if status in STEP_ENDS:
            step.ended_at = now
        elif status == StepStatus.RUNNING:
            step.ended_at = None
        await step.save(using_db=conn, update_fields=None if new else STEP_FIELDS)
    return True


def _apply_progress(run: Run, parsed: Report, now: float) -> None:
    if parsed.fraction is None:
        return
    if parsed.step is not None:
        run.step, run.total_steps = parsed.step, parsed.total_steps
    run.progress = parsed.fraction
    started_at = run.started_at.timestamp() if run.started_at else None
    window = progress.advance(run.progress_window, now, parsed.fraction, started_at=started_at)
    if window is None:
        return  # no progress made: the ETA counts on from the report that last advanced it
    pace = progress.pace(window, started_at=started_at)
    run.progress_window, run.progress_rate, run.eta_seconds = window, pace.rate, pace.eta_s
    run.progress_at = window[-1][0]


async def _apply_status(run: Run, parsed: Report, conn: Any) -> bool:
    """The status the report implies (its first sign of life starts a run; a finish ends it), moved to in the
    report's transaction; whether the run moved."""
    signs_of_life = bool(parsed.points or parsed.fraction is not None or parsed.steps or parsed.logs)
    to = lifecycle.from_report(RunStatus(run.status), parsed.state, signs_of_life=signs_of_life,
                               has_job=run.job_ref is not None, awaits_launch=run.provider != 'external')
    if to is None:
        return False
    reason = None if to == RunStatus.RUNNING else parsed.message
    return await lifecycle.move(run, to, cause=Cause.JOB, reason=reason, using_db=conn)


async def _publish(run: Run, new_points: list[Point], logs: list[str], run_changed: bool) -> None:
    """The run (when the report changed what its page shows) and its new output; tabs re-read the run, and the row
    is only a hint for the few fields a list patches."""
    if run_changed:
        await hub.publish(hub.Change(kind='run', action='updated', id=run.id, project_id=run.project_id,
                                     data=runs.row(run)))
    await _publish_output(run, new_points, logs)


async def _publish_output(run: Run, new_points: list[Point], logs: list[str]) -> None:
    if new_points or logs:
        by_name: dict[str, list[list[Any]]] = {}
        for point in new_points:  # not setdefault: it would make a list per point (a third of the time of a batch's)
            values = by_name.get(point.name)
            if values is None:
                values = by_name[point.name] = []
            values.append([point.step, point.special or point.value])  # as a tab reads them: [step, value]
        await hub.publish(hub.Change(kind='metrics', action='created', id=run.id, project_id=run.project_id,
                                     data={'points': by_name, 'logs': logs}))


async def log_tail(run_id: int, *, limit: int = 200, after_id: int | None = None) -> list[dict[str, Any]]:
    """The newest `limit` lines, or the oldest after `after_id` (services/run_logs reads pages, searches, filters)."""
    page = await run_logs.lines_of(run_id, limit=limit, after_id=after_id)
    return [line.as_dict() for line in page.lines]
