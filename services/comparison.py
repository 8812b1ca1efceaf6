"""Comparing runs: which runs of a link the caller may see, their configs side by side (the keys that differ), their
metric summaries, and the rows of a parallel-coordinates view.

A comparison's link names runs by id (`/compare?runs=12,15,19`) and may be opened by anyone: every run is checked
against the caller's current role on its own project, so a comparison may span projects, and a run the caller may not
see is left out exactly like one that does not exist (the link must not tell which). Everything is read for all runs
at once: the runs with their projects, the caller's memberships, the latest values with the roll-ups' extremes: four
queries whatever the number of runs.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from tortoise import connections

from models import Membership, Run, User
from services import auth, bounds, metric_store
from services.database import is_postgres
from services.errors import Invalid

MAX_RUNS = 200
MAX_ID_DIGITS = 10  # INT_MAX has 10 digits: a longer id names no run (and is not parsed: huge ints are costly)
LINK_MAX = 4 * MAX_RUNS * (MAX_ID_DIGITS + 1)  # characters of a link's ids: room for spaces and repeats, no more
PARALLEL_AXES_MAX = 12  # config axes of the parallel view beyond the metric's: more are unreadable
EXAMPLE = '/compare?runs=12,15,19'
Stat = Literal['last', 'min', 'max']
STATS: tuple[Stat, ...] = ('last', 'min', 'max')
MISSING = None  # a config key a run does not have


@dataclass(frozen=True, slots=True)
class ComparedRun:
    id: int
    name: str
    label: str  # the name, or "name #id" when another compared run has the same name: legends must tell them apart
    project_id: int
    project_name: str
    status: str
    config: dict[str, Any]  # flattened: nested keys joined with '.'


@dataclass(frozen=True, slots=True)
class Summary:
    last: float | str | None  # 'NaN', 'Infinity', '-Infinity' as reported
    min: float | None
    max: float | None
    step: int
    count: int

    def stat(self, which: Stat) -> float | None:
        value = {'last': self.last, 'min': self.min, 'max': self.max}[which]
        return value if isinstance(value, int | float) and math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class ConfigRow:
    key: str
    values: tuple[Any, ...]  # one per compared run, in their order; MISSING where a run lacks the key
    differs: bool


@dataclass(slots=True)
class Comparison:
    runs: list[ComparedRun]
    left_out: list[str]  # ids of the link that name no run the caller may see, as written
    metrics: list[str] = field(default_factory=list)  # every metric any compared run has, sorted
    summaries: dict[tuple[int, str], Summary] = field(default_factory=dict)  # (run id, metric) -> its summary
    config: list[ConfigRow] = field(default_factory=list)  # every key of any run's config, sorted

    @property
    def run_ids(self) -> list[int]:
        return [run.id for run in self.runs]

    @property
    def project_ids(self) -> set[int]:
        return {run.project_id for run in self.runs}


@dataclass(frozen=True, slots=True)
class ParallelAxis:
    name: str
    kind: Literal['value', 'category']
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Parallel:
    axes: list[ParallelAxis]  # the differing config keys, then the metric
    rows: list[list[Any]]  # one per compared run, in their order: a value per axis (None where it has none)
    keys_left_out: int  # differing keys beyond PARALLEL_AXES_MAX, or not drawable (lists, objects)


def parse_ids(text: str) -> list[str]:
    """The ids of a comparison link, as written, each once and in order; Invalid with a hint for anything that is
    not a comma-separated list of at most MAX_RUNS numbers."""
    if len(text) > LINK_MAX:
        raise Invalid(f'This link is too long: at most {MAX_RUNS} runs can be compared at once, named by id.')
    tokens = [token.strip() for token in text.split(',')]
    tokens = list(dict.fromkeys(token for token in tokens if token))
    if not tokens:
        raise Invalid(f'No runs to compare: name them by id in the link, like {EXAMPLE}.')
    if len(tokens) > MAX_RUNS:
        raise Invalid(f'At most {MAX_RUNS} runs can be compared at once; this link names {len(tokens):,}.')
    for token in tokens:
        if not token.isascii() or not token.isdigit():
            shown = token if len(token) <= 20 else token[:20] + '…'
            raise Invalid(f'"{shown}" is not a run id: name runs by their numbers, separated by commas, '
                          f'like {EXAMPLE}.')
    return tokens


async def compare(user: User, ids: list[str]) -> Comparison:
    """The runs of `ids` (as parse_ids gives them) that the caller may see now, with their configs and metric
    summaries; the others are `left_out`."""
    # "7" and "007" are one run
    wanted = list(dict.fromkeys(int(token) for token in ids
                                if len(token) <= MAX_ID_DIGITS and 1 <= int(token) <= bounds.INT_MAX))
    found = {run.id: run for run in await visible_runs(user, wanted)}
    left_out = [token for token in ids if len(token) > MAX_ID_DIGITS or int(token) not in found]
    runs = [found[run_id] for run_id in wanted if run_id in found]
    names: dict[str, int] = defaultdict(int)
    for run in runs:
        names[run.name] += 1
    compared = [ComparedRun(id=run.id, name=run.name,
                            label=run.name if names[run.name] == 1 else f'{run.name} #{run.id}',
                            project_id=run.project_id, project_name=run.project.name, status=str(run.status.value),
                            config=flatten(run.config or {}))
                for run in runs]
    comparison = Comparison(runs=compared, left_out=left_out, config=config_rows(compared))
    comparison.summaries = await _summaries(comparison.run_ids)
    comparison.metrics = sorted({name for _, name in comparison.summaries})
    return comparison


async def visible_runs(user: User, run_ids: list[int]) -> list[Run]:
    """The runs among `run_ids` whose project the caller may see now (any role), with their projects: three queries
    (the caller, the runs, the caller's projects) whatever their number."""
    user = await auth.refreshed(user)
    if not run_ids:
        return []
    found = await Run.filter(id__in=run_ids).select_related('project')
    if user.is_admin:
        return found
    project_ids = {run.project_id for run in found}
    member_of = set(await Membership.filter(user_id=user.id, project_id__in=project_ids)
                    .values_list('project_id', flat=True))
    return [run for run in found if run.project.owner_id == user.id or run.project_id in member_of]


async def summaries(user: User, run_ids: list[int]) -> dict[tuple[int, str], Summary]:
    """Each metric's last, lowest and highest value for the runs among `run_ids` that the caller may see now."""
    return await _summaries([run.id for run in await visible_runs(user, run_ids)])


async def series(user: User, run_ids: list[int], name: str, *, max_points: int = 1000,
                 min_step: int | None = None, max_step: int | None = None) -> dict[int, dict[str, Any]]:
    """One metric of each run the caller may see, downsampled on the server (metric_store.series), by run id."""
    visible = {run.id for run in await visible_runs(user, run_ids)}
    return {run_id: await metric_store.series(run_id, name, max_points=max_points, min_step=min_step,
                                              max_step=max_step)
            for run_id in run_ids if run_id in visible}


def config_rows(runs: list[ComparedRun]) -> list[ConfigRow]:
    """Every config key of any run, sorted, with each run's value and whether they differ (a run without the key
    differs from one with it)."""
    keys = sorted({key for run in runs for key in run.config})
    rows = []
    for key in keys:
        values = tuple(run.config.get(key, MISSING) for run in runs)
        seen = {_comparable(value) for value in values}
        rows.append(ConfigRow(key=key, values=values, differs=len(seen) > 1))
    return rows


def parallel(comparison: Comparison, metric: str | None, stat: Stat = 'last') -> Parallel:
    """The parallel-coordinates view: an axis per differing config key that holds plain values (numbers on a value
    axis; anything else as categories), then the metric's `stat`, a row per run."""
    differing = [row for row in comparison.config if row.differs]
    drawable = [row for row in differing
                if all(value is MISSING or isinstance(value, str | int | float | bool) for value in row.values)]
    kept = drawable[:PARALLEL_AXES_MAX]
    axes: list[ParallelAxis] = []
    columns: list[list[Any]] = []
    for row in kept:
        if all(value is MISSING or _is_number(value) for value in row.values):
            axes.append(ParallelAxis(name=row.key, kind='value'))
            columns.append([value if value is not MISSING and math.isfinite(value) else None for value in row.values])
        else:
            shown = [shown_value(value) for value in row.values]
            axes.append(ParallelAxis(name=row.key, kind='category', categories=tuple(sorted(set(shown)))))
            columns.append(shown)
    if metric is not None:
        axes.append(ParallelAxis(name=f'{metric} ({stat})', kind='value'))
        columns.append([summary.stat(stat) if (summary := comparison.summaries.get((run.id, metric))) else None
                        for run in comparison.runs])
    rows = [[column[index] for column in columns] for index in range(len(comparison.runs))]
    return Parallel(axes=axes, rows=rows, keys_left_out=len(differing) - len(kept))


def flatten(config: dict[str, Any], prefix: str = '') -> dict[str, Any]:
    """Nested objects as dotted keys ({'optim': {'lr': 1}} -> {'optim.lr': 1}): each leaf a row of the diff."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f'{name}.'))
        else:
            flat[name] = value
    return flat


def shown_value(value: Any) -> str:
    """A config value as a cell shows it: JSON (so "1" and 1, true and "true" look different), '—' when missing."""
    if value is MISSING:
        return '—'
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# --- helpers -------------------------------------------------------------------------------------------------------

async def _summaries(run_ids: list[int]) -> dict[tuple[int, str], Summary]:
    """One query for any number of runs: the latest values, joined to the extremes of the coarsest roll-ups (every
    point is merged into every level, so a metric's few coarsest buckets hold its minimum and maximum). The join
    reads those buckets by their (run, name, level) index: filtering the runs' buckets by level would scan them all."""
    if not run_ids:
        return {}
    conn = connections.get('default')
    runs_in = '= ANY($2::int[])' if is_postgres(conn) else f'IN ({", ".join("?" * len(run_ids))})'
    rows = await conn.execute_query_dict(
        'SELECT l.run_id, l.name, l.step, l.value, l.special, l.count, MIN(b.min_value) AS low, '
        'MAX(b.max_value) AS high FROM latest_metrics l LEFT JOIN metric_buckets b '
        f'ON b.run_id = l.run_id AND b.name = l.name AND b.level = {"$1" if is_postgres(conn) else "?"} '
        f'WHERE l.run_id {runs_in} GROUP BY l.run_id, l.name, l.step, l.value, l.special, l.count',
        [metric_store.LEVELS[-1], run_ids] if is_postgres(conn) else [metric_store.LEVELS[-1], *run_ids])
    return {(row['run_id'], row['name']): Summary(last=row['special'] or row['value'], min=row['low'],
                                                  max=row['high'], step=int(row['step']), count=int(row['count']))
            for row in rows}


def _comparable(value: Any) -> str:
    """One text per distinct value: 1 and 1.0 are equal, 1 and "1" or true are not."""
    if _is_number(value) and float(value).is_integer():
        value = float(value)
    return json.dumps([type(value).__name__ if not _is_number(value) else 'number', value], sort_keys=True,
                      default=str)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
