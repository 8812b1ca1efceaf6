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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models import LogLine, Project, Run, RunStatus, RunStep, StepStatus, User
from services import artifacts, audit, auth, data_files, hub, lifecycle, projects, run_control, runs
from services.background import logs_kept
from services.errors import ServiceError
from services.metric_store import Point, write_points

log = logging.getLogger(__name__)

S = RunStatus


@dataclass(frozen=True, slots=True)
class SampleRun:
    name: str
    outcome: RunStatus  # how it ended: a finished status
    points: int  # training steps of metric history
    reason: str = ''


@dataclass(frozen=True, slots=True)
class SampleProject:
    name: str
    description: str
    budget_usd: float
    runs: tuple[SampleRun, ...]
    live: bool = False  # gets a live run on this machine, for users who may launch one


SAMPLES = (
    SampleProject('Vision: ResNet-50 on ImageNet-mini', 'Image classification baselines on a 100-class subset.',
                  250.0, (
        SampleRun('resnet50-baseline', S.SUCCEEDED, 4000),
        SampleRun('resnet50-cosine-lr', S.STOPPED, 2600, 'Stopped on request at step 2600.'),
        SampleRun('resnet50-bs1024', S.FAILED, 900, 'CUDA out of memory at step 900'),
        SampleRun('resnet50-mixup', S.CANCELLED, 0, 'Cancelled before it started.')), live=True),
    SampleProject('LLM: Llama fine-tune', 'Instruction tuning of a 7B model with LoRA.', 1200.0, (
        SampleRun('lora-r16-lr2e-4', S.SUCCEEDED, 3000),
        SampleRun('lora-r64', S.STOPPED, 1800, 'Stopped on request at step 1800.'),
        SampleRun('full-ft-8xH100', S.FAILED, 0, 'Could not launch: no 8 x H100 machine was available.'),
        SampleRun('lora-r8-warmup', S.STOPPED, 1200, 'Stopped on request at step 1200.')), live=True),
    SampleProject('Speech: Whisper distillation', 'Distilling whisper-large into a small student.', 80.0, (
        SampleRun('student-base', S.SUCCEEDED, 5000),
        SampleRun('student-tiny', S.CANCELLED, 300, 'Cancelled on request at step 300.'),
        SampleRun('student-small-long', S.STOPPED, 2200, 'Stopped on request at step 2200.'))),
)
STEP_NAMES = ('provisioning', 'setup', 'training', 'evaluation', 'upload')
TRAINING = STEP_NAMES.index('training')
TOTAL_STEPS = 5000
GPU = {'product': 'NVIDIA RTX 4090 24GB', 'price': Decimal('0.35')}
SAMPLE_NOTE = '[sample data] Made by "Load sample data": no job ran; this is what a run\'s log looks like.'
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
        for run in sample.runs:
            used += await _finished_run(conn, project, user, run, rng)
        project.used_usd = used
        await project.save(update_fields=['used_usd', 'updated_at'], using_db=conn)
        await audit.record(user, 'project.sample_loaded', 'project', project.id, using_db=conn, project_id=project.id,
                           name=sample.name)
    return project


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


async def _finished_run(conn: BaseDBAsyncClient, project: Project, user: User, sample: SampleRun,
                        rng: random.Random) -> Decimal:
    """A run as it would be after its end: created queued, then moved to its outcome by lifecycle."""
    now = datetime.now(UTC)
    started = now - timedelta(minutes=rng.randint(20, 600)) if sample.points else None
    ended = now - timedelta(minutes=rng.randint(1, 15))
    hours = (ended - started).total_seconds() / 3600 if started else 0.0
    cost = (GPU['price'] * Decimal(str(round(hours, 6)))).quantize(Decimal('0.000001'))
    total = sample.points if sample.outcome == S.SUCCEEDED else TOTAL_STEPS
    run = await Run.create(
        project=project, created_by=user, name=sample.name, provider='novita', gpu_product=GPU['product'],
        gpu_count=1, price_per_hour=GPU['price'], cost_usd=cost, started_at=started, job_ref=None,
        progress=sample.points / total if total else 0.0, step=sample.points or None,
        total_steps=total if sample.points else None,
        config={'model': sample.name.split('-')[0], 'lr': 3e-4, 'batch_size': 256, 'epochs': 10, 'seed': 42},
        using_db=conn)
    await lifecycle.move(run, sample.outcome, cause=lifecycle.Cause.SYSTEM, reason=sample.reason, using_db=conn,
                         notify=False, ended_at=ended)
    await RunStep.bulk_create(_steps(run, sample.outcome, started, ended), using_db=conn)
    await LogLine.bulk_create(_log(run, sample, started, ended), using_db=conn)
    if sample.points:
        await _metrics(conn, run, sample.points, started or now, rng)
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


def _steps(run: Run, outcome: RunStatus, started: datetime | None, ended: datetime) -> list[RunStep]:
    """Steps as the run ended: done before the one it ended in, skipped after it."""
    # a run that never started failed in provisioning, or was cancelled before any step began
    current = len(STEP_NAMES) if outcome == S.SUCCEEDED else TRAINING if started else 0 if outcome == S.FAILED else -1
    span = (ended - started) / len(STEP_NAMES) if started else timedelta(0)
    steps = []
    for index, name in enumerate(STEP_NAMES):
        step_start = started + span * index if started else None
        if index < current:
            state, step_end = StepStatus.SUCCEEDED, step_start + span if step_start else None
        elif index == current:
            state = StepStatus.FAILED if outcome == S.FAILED else StepStatus.STOPPED
            step_start, step_end = step_start or ended, ended
        else:
            state, step_start, step_end = StepStatus.SKIPPED, None, None
        steps.append(RunStep(run=run, index=index, name=name, status=state, started_at=step_start, ended_at=step_end,
                             description='epoch 3 of 10' if name == 'training' and index <= current else ''))
    return steps


def _log(run: Run, sample: SampleRun, started: datetime | None, ended: datetime) -> list[LogLine]:
    """What the run printed, in line with its metrics and its end, said to be made up in its first line."""
    lines = [SAMPLE_NOTE]
    if sample.points:
        lines.append(f'{GPU["product"]}: dataset ready, training for {TOTAL_STEPS} steps')
        lines += [f'step {step}: loss {_loss(step):.3f}' for step in range(250, sample.points + 1, 250)]
    lines.append({S.SUCCEEDED: 'training done: model.safetensors uploaded'}.get(sample.outcome, sample.reason))
    first = (started or ended).timestamp()
    every = (ended.timestamp() - first) / max(1, len(lines) - 1)
    return [LogLine(run=run, timestamp=first + every * index, line=line) for index, line in enumerate(lines)]


def _loss(step: int) -> float:
    return 2.3 * math.exp(-step / 900) + 0.15


async def _metrics(conn: BaseDBAsyncClient, run: Run, points: int, start: datetime, rng: random.Random) -> None:
    """Loss falling with noise and a spike, accuracy rising to a plateau, a cosine learning-rate schedule."""
    t0 = start.timestamp()
    rows: list[Point] = []
    spike = rng.randint(points // 4, points // 2)
    for step in range(1, points + 1):
        loss = _loss(step) + rng.gauss(0, 0.03) + (1.2 if step == spike else 0)
        values = {
            'train/loss': loss,
            'train/accuracy': min(0.99, 0.95 * (1 - math.exp(-step / 700)) + rng.gauss(0, 0.01)),
            'train/lr': 3e-4 * 0.5 * (1 + math.cos(math.pi * step / TOTAL_STEPS)),
        }
        if step % 100 == 0:
            values['eval/loss'] = loss * 1.08 + rng.gauss(0, 0.02)
        rows.extend(Point(name, step, value, None, t0 + step * 2.0) for name, value in values.items())
    await write_points(conn, run.id, rows)  # the same write path as reports, roll-ups included
