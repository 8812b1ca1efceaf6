"""What "Load sample data" makes: three projects of a small team's last two weeks, as plain values.

Each project has runs from thirteen days ago to today, so that a table sorted or filtered by date, by a config value
or by a metric has something to find ("last week's best run", "today's"); configs of eight or nine keys that differ
where a sweep would; tags and notes; every way a run ends (succeeded, failed with its error, stopped by a person, by
its cost limit, by its duration limit, cancelled); and metrics grouped by prefix (train/, val/, system/, and a bare
`lr`) with a few hundred points each. services/sample_data.py writes them; the curves are made up and deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from models import RunStatus
from services.lifecycle import Cause

S = RunStatus


@dataclass(frozen=True, slots=True)
class Machine:
    product: str
    price: Decimal  # per GPU and hour
    count: int = 1


@dataclass(frozen=True, slots=True)
class SampleRun:
    name: str
    outcome: RunStatus  # how it ended: a finished status
    points: int  # training steps it reached (0: it never trained)
    days_ago: float  # when it was created
    hours: float  # how long it ran (0: it never started)
    config: dict[str, Any] = field(default_factory=dict)  # over the project's base config
    quality: float = 1.0  # > 1 learns better than the baseline: a lower loss floor, a higher score
    reason: str = ''  # '{who}': the name of the user who loads the samples
    cause: Cause = Cause.SYSTEM
    tags: tuple[str, ...] = ()
    note: str = ''
    limit_usd: float | None = None  # its cost limit, for the run a cost limit stopped
    gpus: int = 0  # 0: the project's machine's count


@dataclass(frozen=True, slots=True)
class SampleProject:
    name: str
    description: str
    budget_usd: float
    machine: Machine
    total_steps: int
    score: str  # the validation metric besides val/loss: 'val/accuracy' (higher is better), 'val/wer' (lower)
    base_config: dict[str, Any]
    runs: tuple[SampleRun, ...]
    columns: tuple[str, ...] = ()  # the runs table's extra columns, as the loading user first sees them: config
    # keys, and metric columns as '<last|min|max>:<metric>'
    live: bool = False  # gets a live run on this machine, for users who may launch one


STEP_NAMES = ('provisioning', 'setup', 'training', 'evaluation', 'upload')
TRAINING = STEP_NAMES.index('training')
EPOCHS = 10
POINTS_PER_CURVE = 300  # train/ metrics are logged every total_steps / 300 steps: a few hundred points a chart
EVAL_EVERY = 10  # val/ metrics every tenth logged point

SAMPLES = (
    SampleProject(
        'Vision: ResNet-50 on ImageNet-mini', 'Image classification baselines on a 100-class subset.', 250.0,
        Machine('NVIDIA RTX 4090 24GB', Decimal('0.35')), 5000, 'val/accuracy',
        {'model': 'resnet50', 'optimizer': 'adamw', 'lr': 3e-4, 'batch_size': 256, 'warmup_steps': 500,
         'weight_decay': 0.05, 'augment': 'flip+crop', 'epochs': EPOCHS, 'seed': 42},
        (
            SampleRun('resnet50-baseline', S.SUCCEEDED, 4000, 13.2, 6.5, tags=('baseline',),
                      note='Reference run: every change is compared with this one.'),
            SampleRun('resnet50-cosine-lr', S.STOPPED, 2600, 11.9, 4.1, {'lr': 1e-3}, 1.05,
                      'Stopped by {who}: lr 1e-3 diverges early, not worth the rest.', Cause.USER, ('lr-sweep',)),
            SampleRun('resnet50-bs1024', S.FAILED, 900, 10.6, 1.4, {'batch_size': 1024, 'lr': 1.2e-3}, 0.9,
                      'CUDA out of memory at step 900', tags=('lr-sweep',)),
            SampleRun('resnet50-mixup', S.CANCELLED, 0, 9.8, 0, {'augment': 'mixup'},
                      reason='Cancelled before it started.', cause=Cause.USER, tags=('augment',)),
            SampleRun('resnet50-randaug', S.SUCCEEDED, 5000, 7.1, 7.9, {'augment': 'randaugment', 'lr': 5e-4}, 1.18,
                      tags=('augment', 'best'), note='Best val/accuracy so far: randaugment + lr 5e-4.'),
            SampleRun('resnet50-sgd-momentum', S.SUCCEEDED, 5000, 6.3, 7.6,
                      {'optimizer': 'sgd', 'lr': 0.1, 'weight_decay': 1e-4, 'warmup_steps': 0}, 0.95,
                      tags=('optimizer',)),
            SampleRun('resnet50-randaug-wd01', S.STOPPED, 3100, 4.4, 5.0,
                      {'augment': 'randaugment', 'lr': 5e-4, 'weight_decay': 0.1}, 1.1,
                      'Stopped: cost limit $1.75 ($1.75 spent, and a stop takes time).', Cause.COST_LIMIT,
                      ('augment',), limit_usd=1.75),
            SampleRun('resnet50-label-smoothing', S.FAILED, 1700, 2.2, 2.9,
                      {'augment': 'randaugment', 'lr': 5e-4, 'label_smoothing': 0.1}, 1.0,
                      'Loss became NaN at step 1700 (fp16 overflow); last checkpoint at step 1500.'),
            SampleRun('resnet50-randaug-seed7', S.SUCCEEDED, 5000, 0.4, 8.1,
                      {'augment': 'randaugment', 'lr': 5e-4, 'seed': 7}, 1.16, tags=('augment', 'seed-check'),
                      note='Same as resnet50-randaug with another seed: is the gain real?'),
        ), ('augment', 'lr', 'max:val/accuracy', 'min:val/loss'), live=True),
    SampleProject(
        'LLM: Llama fine-tune', 'Instruction tuning of a 7B model with LoRA.', 1200.0,
        Machine('NVIDIA H100 80GB', Decimal('2.49')), 3000, 'val/accuracy',
        {'model': 'llama-2-7b', 'method': 'lora', 'lora_r': 16, 'lr': 2e-4, 'batch_size': 32, 'seq_len': 2048,
         'warmup_steps': 100, 'precision': 'bf16', 'seed': 0},
        (
            SampleRun('lora-r16-lr2e-4', S.SUCCEEDED, 3000, 12.8, 5.2, tags=('baseline',)),
            SampleRun('lora-r64', S.STOPPED, 1800, 11.1, 4.4, {'lora_r': 64}, 1.02,
                      'Stopped by {who}: r=64 is no better than r=16 so far, at twice the memory.', Cause.USER,
                      ('rank',)),
            SampleRun('full-ft-8xH100', S.FAILED, 0, 10.3, 0, {'method': 'full', 'lr': 2e-5, 'batch_size': 128},
                      reason='Could not launch: no 8 x H100 machine was available.', gpus=8),
            SampleRun('lora-r8-warmup', S.STOPPED, 1200, 8.6, 3.0, {'lora_r': 8, 'warmup_steps': 300}, 0.97,
                      'Stopped: duration limit 3h.', Cause.DURATION, ('rank', 'warmup')),
            SampleRun('lora-r16-lr1e-4', S.SUCCEEDED, 3000, 6.9, 5.3, {'lr': 1e-4}, 1.12, tags=('best',),
                      note='Lower lr wins: best val/accuracy of the sweep.'),
            SampleRun('qlora-r16-4bit', S.SUCCEEDED, 3000, 3.5, 6.8, {'method': 'qlora', 'precision': 'nf4'}, 1.06,
                      tags=('memory',), note='Fits a 24 GB card; 30% slower.'),
            SampleRun('lora-r16-lr1e-4-seq4k', S.FAILED, 650, 0.3, 1.1, {'lr': 1e-4, 'seq_len': 4096}, 1.1,
                      'CUDA out of memory at step 650 (seq_len 4096)', tags=('long-context',)),
        ), ('method', 'lora_r', 'lr', 'max:val/accuracy', 'min:val/loss'), live=True),
    SampleProject(
        'Speech: Whisper distillation', 'Distilling whisper-large into a small student.', 80.0,
        Machine('NVIDIA A100 80GB', Decimal('1.19')), 6000, 'val/wer',
        {'teacher': 'whisper-large-v3', 'student': 'base', 'lr': 1e-4, 'batch_size': 64, 'warmup_steps': 1000,
         'distill_temperature': 2.0, 'spec_augment': False, 'seed': 1},
        (
            SampleRun('student-base', S.SUCCEEDED, 6000, 12.5, 9.5, tags=('baseline',)),
            SampleRun('student-tiny', S.CANCELLED, 300, 9.2, 0.6, {'student': 'tiny'}, 0.8,
                      'Cancelled by {who}: tiny is too small to be useful.', Cause.USER),
            SampleRun('student-small-long', S.STOPPED, 2200, 7.7, 6.0, {'student': 'small', 'lr': 5e-5}, 1.05,
                      'Stopped by {who}: the budget is better spent on spec_augment.', Cause.USER),
            SampleRun('student-base-specaug', S.SUCCEEDED, 6000, 5.4, 9.8, {'spec_augment': True}, 1.15,
                      tags=('best',), note='spec_augment: val/wer 16.1% → 14.0%.'),
            SampleRun('student-base-t4', S.SUCCEEDED, 6000, 0.5, 10.2, {'spec_augment': True,
                                                                         'distill_temperature': 4.0}, 1.1),
        ), ('student', 'spec_augment', 'distill_temperature', 'min:val/wer', 'min:val/loss')),
)


def loss(step: int, total: int, quality: float) -> float:
    """A training loss falling from 2.4 to a floor that a better run keeps lower."""
    return 2.25 * math.exp(-4.0 * step / total) + 0.15 + 0.4 / quality


def score(metric: str, step: int, total: int, quality: float) -> float:
    """The validation score: accuracy rising to a plateau, or a word error rate falling to one (as fractions)."""
    reached = 1 - math.exp(-5.0 * step / total)
    if metric == 'val/wer':
        return 0.35 - (0.35 - 0.16 / quality) * reached
    return min(0.97, (0.72 + 0.1 * (quality - 1)) * reached)


def learning_rate(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warmup, then cosine decay to zero."""
    if warmup and step < warmup:
        return peak * step / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
