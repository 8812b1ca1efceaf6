"""Sample data: a few projects with runs in every state, steps, realistic metric histories and artifact records.

Loading twice changes nothing: a sample project the user already has is left as it is.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from models import Artifact, Project, Run, RunStatus, RunStep, StepStatus, User
from services import audit, auth, hub, projects
from services.metric_store import Point, write_points

STEP_NAMES = ('provisioning', 'setup', 'training', 'evaluation', 'upload')
SAMPLES = (
    ('Vision: ResNet-50 on ImageNet-mini', 'Image classification baselines on a 100-class subset.', 250.0,
     ((RunStatus.SUCCEEDED, 'resnet50-baseline', 4000), (RunStatus.RUNNING, 'resnet50-cosine-lr', 2600),
      (RunStatus.FAILED, 'resnet50-bs1024', 900), (RunStatus.QUEUED, 'resnet50-mixup', 0))),
    ('LLM: Llama fine-tune', 'Instruction tuning of a 7B model with LoRA.', 1200.0,
     ((RunStatus.RUNNING, 'lora-r16-lr2e-4', 3000), (RunStatus.PAUSED, 'lora-r64', 1800),
      (RunStatus.PROVISIONING, 'full-ft-8xH100', 0), (RunStatus.STOPPED, 'lora-r8-warmup', 1200))),
    ('Speech: Whisper distillation', 'Distilling whisper-large into a small student.', 80.0,
     ((RunStatus.SUCCEEDED, 'student-base', 5000), (RunStatus.CANCELLED, 'student-tiny', 300),
      (RunStatus.STOPPING, 'student-small-long', 2200))),
)
GPU = {'product': 'NVIDIA RTX 4090 24GB', 'price': Decimal('0.35')}


async def load(user: User) -> list[Project]:
    """Create the sample projects this user does not have yet; returns the ones created."""
    user = await auth.refreshed(user)
    created = []
    for index, (name, description, budget, runs) in enumerate(SAMPLES):
        if await Project.exists(owner=user, name=name):
            continue
        rng = random.Random(index)
        async with in_transaction() as conn:
            project = await Project.create(owner=user, name=name, description=description,
                                           budget_usd=Decimal(str(budget)))
            used = Decimal(0)
            for status, run_name, points in runs:
                used += await _sample_run(conn, project, user, status, run_name, points, rng)
            project.used_usd = used
            await project.save(update_fields=['used_usd', 'updated_at'])
            await audit.record(user, 'project.sample_loaded', 'project', project.id, name=name)
        created.append(project)
        await hub.publish(hub.Change(kind='project', action='created', id=project.id, project_id=project.id,
                                     data=await projects.snapshot(project)))
    return created


async def _sample_run(conn: Any, project: Project, user: User, status: RunStatus, name: str, points: int,
                      rng: random.Random) -> Decimal:
    now = datetime.now(UTC)
    total_steps = 5000
    started = None if status in {RunStatus.QUEUED, RunStatus.PROVISIONING} else \
        now - timedelta(minutes=rng.randint(20, 600))
    finished = status.is_finished
    ended = now - timedelta(minutes=rng.randint(1, 15)) if finished and started else None
    progress = 1.0 if status == RunStatus.SUCCEEDED else points / total_steps
    hours = ((ended or now) - started).total_seconds() / 3600 if started else 0.0
    cost = (GPU['price'] * Decimal(str(round(hours, 6)))).quantize(Decimal('0.000001'))
    run = await Run.create(
        project=project, created_by=user, name=name, status=status, progress=progress, provider='novita',
        gpu_product=GPU['product'], gpu_count=1, price_per_hour=GPU['price'], cost_usd=cost,
        started_at=started, ended_at=ended, job_ref=None,  # a sample: no job of ours to poll or stop
        eta_seconds=None if finished or not started or progress == 0 else hours * 3600 * (1 - progress) / progress,
        status_message={RunStatus.FAILED: 'CUDA out of memory at step 912',
                        RunStatus.CANCELLED: 'cancelled by the user'}.get(status, ''),
        config={'model': name.split('-')[0], 'lr': 3e-4, 'batch_size': 256, 'epochs': 10, 'seed': 42})
    await RunStep.bulk_create(_steps(run, status, started, ended or now))
    if points:
        await _metrics(conn, run, points, started or now, rng)
    if finished and points:
        await Artifact.bulk_create([
            Artifact(run=run, name=name, type=kind, size_bytes=size, sha256=f'{rng.getrandbits(256):064x}',
                     storage_url=f's3://trainboard-samples/{run.id}/{name}')
            for name, kind, size in (('model.safetensors', 'model', rng.randint(90, 400) * 2**20),
                                     ('train.log', 'log', rng.randint(20, 900) * 2**10))])
    return cost


def _steps(run: Run, status: RunStatus, started: datetime | None, end: datetime) -> list[RunStep]:
    """Steps consistent with the run's status: done before the current one, pending after."""
    current = {RunStatus.QUEUED: -1, RunStatus.PROVISIONING: 0, RunStatus.SUCCEEDED: len(STEP_NAMES)}.get(status, 2)
    span = (end - started) / len(STEP_NAMES) if started else timedelta(0)
    steps = []
    for index, step_name in enumerate(STEP_NAMES):
        step_start = started + span * index if started else None
        if index < current:
            state, step_end = StepStatus.SUCCEEDED, (started + span * (index + 1) if started else None)
        elif index == current:
            state = {RunStatus.FAILED: StepStatus.FAILED, RunStatus.CANCELLED: StepStatus.FAILED,
                     RunStatus.STOPPED: StepStatus.FAILED}.get(status, StepStatus.RUNNING)
            step_end = end if state == StepStatus.FAILED else None
        else:
            state, step_start, step_end = StepStatus.PENDING, None, None
        steps.append(RunStep(run=run, index=index, name=step_name, status=state, started_at=step_start,
                             ended_at=step_end, description='epoch 3 of 10' if step_name == 'training' else ''))
    return steps


async def _metrics(conn: Any, run: Run, points: int, start: datetime, rng: random.Random) -> None:
    """Loss falling with noise and a spike, accuracy rising to a plateau, a cosine learning-rate schedule."""
    t0 = start.timestamp()
    rows: list[Point] = []
    spike = rng.randint(points // 4, points // 2)
    for step in range(1, points + 1):
        loss = 2.3 * math.exp(-step / 900) + 0.15 + rng.gauss(0, 0.03) + (1.2 if step == spike else 0)
        values = {
            'train/loss': loss,
            'train/accuracy': min(0.99, 0.95 * (1 - math.exp(-step / 700)) + rng.gauss(0, 0.01)),
            'train/lr': 3e-4 * 0.5 * (1 + math.cos(math.pi * step / 5000)),
        }
        if step % 100 == 0:
            values['eval/loss'] = loss * 1.08 + rng.gauss(0, 0.02)
        rows.extend(Point(name, step, value, None, t0 + step * 2.0) for name, value in values.items())
    await write_points(conn, run.id, rows)  # the same write path as reports, roll-ups included
