"""Sample data: three projects to look around in. Their finished runs come with steps, metric histories, logs and
artifacts (small real files in the artifact store: config.json, output.log, a tiny model.safetensors); for whoever
may launch on this machine, two of them also get a live run: a short loop on the local provider that reports through
the SDK like a training job (examples/sample_job.py). The rows are written in one transaction per project; its files
are stored after it commits.

Finished runs are created queued and moved to their end through lifecycle, as every status is written. Live runs are
launched like any other run, so the poller and their own reports move them on: no sample run waits in a status that
nothing will move it out of. Loading twice changes nothing: a sample project the user can see already is left alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import struct
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models import LogLine, Project, Run, RunStatus, RunStep, StepStatus, User
from models.logs import level_of
from services import artifacts, audit, auth, data_files, hub, lifecycle, projects, run_control, run_table, runs
from services.background import logs_kept
from services.errors import ServiceError
from services.metric_store import Point, write_points
from services.sample_catalogue import (
    EPOCHS,
    EVAL_EVERY,
    POINTS_PER_CURVE,
    SAMPLES,
    STEP_NAMES,
    TRAINING,
    SampleProject,
    SampleRun,
    learning_rate,
    loss,
    score,
)

log = logging.getLogger(__name__)

S = RunStatus
__all__ = ['LIVE_RUN', 'LIVE_STEPS', 'SAMPLES', 'SAMPLE_NOTE', 'load']  # SAMPLES: services/sample_catalogue

SAMPLE_NOTE = '[sample data] Made by "Load sample data": no job ran; this is what a run\'s log looks like.'
FIXED_MINUTES = {'provisioning': 3.0, 'setup': 6.0, 'evaluation': 9.0, 'upload': 2.0}  # the rest is training
LIVE_RUN = 'live-sample-loop'
LIVE_STEPS, LIVE_SECONDS_PER_STEP = 600, 0.5  # five minutes of a loop that costs this machine next to nothing
LIVE_JOB = Path(__file__).resolve().parent.parent / 'examples' / 'sample_job.py'
_loading: dict[asyncio.AbstractEventLoop, defaultdict[int, asyncio.Lock]] = {}  # per event loop: per user


async def load(user: User) -> list[Project]:
    """Create the sample projects this user cannot see yet; returns the ones created."""
    user = await auth.refreshed(user)
    live = await runs.may_launch_local(user)
    created = []
    # one load per user at a time in this process (a double click, two tabs); the user's row lock in _create
    # serialises those of other processes. On SQLite the projects table has no unique (owner, name) to rely on.
    async with _loading.setdefault(asyncio.get_running_loop(), defaultdict(asyncio.Lock))[user.id]:
        for index, sample in enumerate(SAMPLES):
            project = await _create(user, sample, random.Random(index))
            if project is None:
                continue
            created.append(project)
            await hub.publish(hub.Change(kind='project', action='created', id=project.id, project_id=project.id,
                                         data=await projects.snapshot(project)))
            await _store_files(project)
            await _show_columns(user, project, sample)
            if sample.live and live:
                await _launch_live_run(user, project, seed=index)
    return created


async def _create(user: User, sample: SampleProject, rng: random.Random) -> Project | None:
    """The sample project with its finished runs, or None when the user sees one of that name already: not only
    one they own (an admin sees everyone's samples, a member those shared with them)."""
    async with in_transaction() as conn:
        await User.select_for_update().using_db(conn).get(id=user.id)
        if sample.name in {project.name for project in await projects.visible_projects(user)}:
            return None
        project = await Project.create(owner=user, name=sample.name, description=sample.description,
                                       budget_usd=Decimal(str(sample.budget_usd)), using_db=conn)
        used = Decimal(0)
        now = datetime.now(UTC)
        for run in sample.runs:
            used += await _finished_run(conn, project, user, sample, run, rng, now)
        project.used_usd = used
        await project.save(update_fields=['used_usd', 'updated_at'], using_db=conn)
        await audit.record(user, 'project.sample_loaded', 'project', project.id, using_db=conn, project_id=project.id,
                           name=sample.name)
    return project


async def _show_columns(user: User, project: Project, sample: SampleProject) -> None:
    """The loading user's runs table of the sample starts with the config keys its runs differ in and the metrics
    that rank them: last week's best run is found by a glance, or a click on a column."""
    metrics = [column for column in sample.columns if column.partition(':')[0] in run_table.AGGREGATES]
    configs = [column for column in sample.columns if column not in metrics]
    await run_table.save_view(user, project.id, run_table.View(config_columns=configs, metric_columns=metrics))


async def _launch_live_run(user: User, project: Project, *, seed: int) -> None:
    """A real job on this machine, launched as any run is; a refusal leaves the sample without it, and says why."""
    command = f'python - {LIVE_STEPS} {LIVE_SECONDS_PER_STEP} {seed} <<\'EOF\'\n{LIVE_JOB.read_text()}\nEOF'
    config = {'what': 'a loop on this machine that reports made-up curves like a training job (nothing is trained)',
              'steps': LIVE_STEPS, 'seconds_per_step': LIVE_SECONDS_PER_STEP, 'seed': seed}
    try:
        await run_control.start(user, project.id, name=LIVE_RUN, provider='local', config=config,
                                spec={'command': command})
    except ServiceError as error:
        log.warning('sample project %s gets no live run: %s', project.id, error.message)


async def _finished_run(conn: BaseDBAsyncClient, project: Project, user: User, sample: SampleProject,
                        run_sample: SampleRun, rng: random.Random, now: datetime) -> Decimal:
    """A run as it would be after its end: created queued days ago, then moved to its outcome by lifecycle."""
    created = now - timedelta(days=run_sample.days_ago)
    started = created + timedelta(minutes=rng.randint(2, 9)) if run_sample.hours else None
    ended = started + timedelta(hours=run_sample.hours) if started else created + timedelta(minutes=rng.randint(1, 5))
    machine = sample.machine
    gpus = run_sample.gpus or machine.count
    price = machine.price * gpus
    cost = (price * Decimal(str(run_sample.hours))).quantize(Decimal('0.000001'))
    total = sample.total_steps
    points = run_sample.points
    config = {**sample.base_config, **run_sample.config}
    run = await Run.create(
        project=project, created_by=user, name=run_sample.name, provider='novita', gpu_product=machine.product,
        gpu_count=gpus, price_per_hour=price, cost_usd=cost, started_at=started, job_ref=None,
        progress=points / total, step=points or None, total_steps=total if points else None, config=config,
        tags=list(run_sample.tags), note=run_sample.note, last_report_at=ended if points else None,
        max_cost_usd=Decimal(str(run_sample.limit_usd)) if run_sample.limit_usd else None,
        max_duration_s=round(run_sample.hours * 3600) if run_sample.cause == lifecycle.Cause.DURATION else None,
        using_db=conn)
    await Run.filter(id=run.id).using_db(conn).update(created_at=created)  # auto_now_add wrote now
    who = user.name or user.email
    await lifecycle.move(run, run_sample.outcome, cause=run_sample.cause, reason=run_sample.reason.format(who=who),
                         by=user if run_sample.cause == lifecycle.Cause.USER else None, using_db=conn,
                         notify=False, ended_at=ended)
    await RunStep.bulk_create(_steps(run, run_sample, started, ended, price), using_db=conn)
    await LogLine.bulk_create(_log(run, sample, run_sample, started, ended, rng), using_db=conn)
    if points:
        await _metrics(conn, run, sample, run_sample, started or created, ended, rng)
    return cost


async def _store_files(project: Project) -> int:
    """Real files for the sample's finished runs, stored through the artifact store like any other, once the
    project's rows are committed: each run's config.json and output.log, and a tiny model.safetensors for those that
    trained. A store that fails leaves them without (said once; the log keeper tries the logs again later)."""
    finished = await Run.filter(project_id=project.id, status__in=list(lifecycle.FINISHED_STATUSES)).order_by('id')
    stored = 0
    with tempfile.TemporaryDirectory(prefix='sample-files-', dir=data_files.scratch_dir()) as scratch:
        for run in finished:
            files = [('config.json', 'file', json.dumps(run.config, indent=2, sort_keys=True).encode() + b'\n')]
            if run.step:
                files.append(('model.safetensors', 'model', _weights(run.id)))
            try:
                for name, kind, data in files:
                    path = Path(scratch) / f'{run.id}-{name}'
                    path.write_bytes(data)
                    await artifacts.store_file(artifacts.Uploader(run, None), name=name, type=kind, path=path)
                    stored += 1
                stored += await logs_kept.keep(run)
            except ServiceError as error:  # the store is down or missing: the sample is usable without its files
                log.warning('sample project %s is stored without its files: %s', project.id, error.message)
                break
    return stored


def _weights(seed: int) -> bytes:
    """A valid safetensors file of a few KB: one 32 x 32 float32 tensor of made-up weights, saying so."""
    rng = random.Random(seed)
    tensor = struct.pack('<1024f', *(rng.gauss(0, 0.02) for _ in range(1024)))
    header = json.dumps({'__metadata__': {'note': 'Trainboard sample data: made-up weights, nothing was trained'},
                         'weight': {'dtype': 'F32', 'shape': [32, 32], 'data_offsets': [0, len(tensor)]}},
                        separators=(',', ':')).encode()
    header += b' ' * (-len(header) % 8)  # the format pads its header to 8 bytes with spaces
    return struct.pack('<Q', len(header)) + header + tensor


def _steps(run: Run, sample: SampleRun, started: datetime | None, ended: datetime,
           price: Decimal) -> list[RunStep]:
    """Steps as the run ended: done before the one it ended in, skipped after it; minutes to provision, set up,
    evaluate and upload, the rest training, each costing its share."""
    outcome = sample.outcome
    # a run that never started failed in provisioning, or was cancelled before any step began
    current = len(STEP_NAMES) if outcome == S.SUCCEEDED else TRAINING if started else 0 if outcome == S.FAILED else -1
    ran = STEP_NAMES[:current + 1] if started else ()
    minutes = {name: FIXED_MINUTES.get(name, 0.0) for name in ran}
    if started:
        minutes['training'] = (ended - started).total_seconds() / 60 - sum(minutes.values())
    steps, at = [], started
    for index, name in enumerate(STEP_NAMES):
        if name in minutes:
            step_start, step_end = at, ended if index == len(ran) - 1 else at + timedelta(minutes=minutes[name])
            at = step_end
        elif index == current:  # ended where it stood, before it started
            step_start = step_end = ended
        else:
            step_start = step_end = None
        state = StepStatus.SUCCEEDED if index < current else StepStatus.SKIPPED if index > current else \
            StepStatus.FAILED if outcome == S.FAILED else StepStatus.STOPPED
        description = ''
        if name == 'training' and sample.points:
            description = f'epoch {max(1, min(EPOCHS, math.ceil(EPOCHS * run.progress)))} of {EPOCHS}'
        hours = (step_end - step_start).total_seconds() / 3600 if step_start and step_end else 0.0
        steps.append(RunStep(run=run, index=index, name=name, status=state, started_at=step_start, ended_at=step_end,
                             description=description,
                             cost_usd=(price * Decimal(str(round(hours, 6)))).quantize(Decimal('0.000001'))))
    return steps


def _log(run: Run, project: SampleProject, sample: SampleRun, started: datetime | None, ended: datetime,
         rng: random.Random) -> list[LogLine]:
    """What the run printed, as a trainer using `logging` does, in line with its metrics and its end; its first line
    says it is made up."""
    lines = [SAMPLE_NOTE]
    total, points = project.total_steps, sample.points
    if started:
        lines += [f'INFO trainer: {run.gpu_count} x {run.gpu_product}, {total:,} steps, {EPOCHS} epochs',
                  f'INFO trainer: config {json.dumps(run.config, sort_keys=True)}',
                  'INFO data: dataset ready (cached shards)']
    every = max(1, total // 40)
    for step in range(every, points + 1, every):
        lines.append(f'INFO trainer: step {step}/{total} loss {loss(step, total, sample.quality):.4f} '
                     f'lr {learning_rate(step, total, run.config["lr"], run.config["warmup_steps"]):.2e}')
        if rng.random() < 0.08:
            lines.append(f'WARNING data: loader worker {rng.randint(0, 7)} slow: {rng.uniform(1.1, 3.0):.1f} s/batch')
        if step % (total // EPOCHS) < every:
            lines.append(f'INFO eval: {project.score} {score(project.score, step, total, sample.quality):.4f}')
    if sample.outcome == S.FAILED and points:
        lines += ['ERROR trainer: step failed, traceback follows', 'Traceback (most recent call last):',
                  '  File "train.py", line 212, in train_step', '    loss.backward()',
                  f'RuntimeError: {sample.reason.split(" at step")[0]}']
    lines.append({S.SUCCEEDED: 'INFO trainer: training done: model.safetensors uploaded'}.get(
        sample.outcome, run.status_message))
    first = (started or ended).timestamp()
    gap = (ended.timestamp() - first) / max(1, len(lines) - 1)
    return [LogLine(run=run, timestamp=first + gap * index, line=line, level=level_of(line))
            for index, line in enumerate(lines)]


async def _metrics(conn: BaseDBAsyncClient, run: Run, project: SampleProject, sample: SampleRun, start: datetime,
                   end: datetime, rng: random.Random) -> None:
    """train/loss falling with noise and one spike, the validation score, lr's warmup and cosine decay, and the
    GPU's utilisation: a few hundred points each, timed across the run."""
    total, reached, quality = project.total_steps, sample.points, sample.quality
    every = max(1, total // POINTS_PER_CURVE)
    t0, per_step = start.timestamp(), (end - start).total_seconds() / max(1, reached)
    spike = rng.randrange(reached // 4, reached // 2 + 1, every) if reached >= 4 * every else -1
    lr, warmup = run.config['lr'], run.config['warmup_steps']
    rows: list[Point] = []
    for index, step in enumerate(range(every, reached + 1, every)):
        train_loss = loss(step, total, quality) + rng.gauss(0, 0.03) + (1.4 if step == spike else 0)
        values = {'train/loss': train_loss, 'lr': learning_rate(step, total, lr, warmup),
                  'system/gpu_utilization': min(100.0, rng.gauss(93, 3) if step > every * 2 else rng.gauss(40, 5))}
        if project.score == 'val/accuracy':
            values['train/accuracy'] = min(0.99, score('val/accuracy', step, total, quality) * 1.04
                                           + rng.gauss(0, 0.01))
        if (index + 1) % EVAL_EVERY == 0:
            values['val/loss'] = loss(step, total, quality) * 1.08 + 0.02 * step / total + rng.gauss(0, 0.015)
            values[project.score] = score(project.score, step, total, quality) + rng.gauss(0, 0.004)
        rows.extend(Point(name, step, value, None, t0 + step * per_step) for name, value in values.items())
    await write_points(conn, run.id, rows)  # the same write path as reports, roll-ups included


