"""The project page's runs table: what one user sees of a project's runs, searched, filtered, sorted and grouped.

A page reads a project's runs once (`load`: one query for the runs with who launched them, one or two for the
summary metrics of every run at once) and then answers each change of the view (`apply`) in one pass over those
rows in memory: with 1,000 runs a filter or a sort costs a few milliseconds and no query. A run that changes is
read again alone (`load_one`) and put back in place. The view (columns, sort, filters, grouping) is remembered per
user and project (`saved_view` / `save_view`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from tortoise import connections

from models import RunTableView, User
from services import database, metric_store, projects
from services.errors import Invalid, ServiceError

AGGREGATES = ('last', 'min', 'max')  # what a metric column shows of its metric's history
SORTABLE = ('name', 'status', 'provider', 'launched_by', 'progress', 'duration', 'cost', 'started', 'created')
MAX_COLUMNS = 40  # config and metric columns, each
MAX_FILTER_VALUES = 100
MAX_TEXT = 200  # a search, a column or group key


@dataclass(kw_only=True, slots=True)
class View:
    """How a user looks at a project's runs. Metric columns are '<aggregate>:<metric name>' ('min:val/loss');
    config columns and the group key are config keys; `group_by` is '' (none), 'tag' or 'config:<key>'."""
    search: str = ''  # words that must all appear in the name, a tag or a config 'key=value'
    statuses: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    launched_by: list[str] = field(default_factory=list)  # as shown: the launcher's name or email
    tags: list[str] = field(default_factory=list)  # runs with any of these
    days: int | None = None  # started (or, not started yet, created) within the last `days` days
    archived: bool = False  # archived runs too
    config_columns: list[str] = field(default_factory=list)
    metric_columns: list[str] = field(default_factory=list)
    sort: str = 'created'
    descending: bool = True
    group_by: str = ''
    group_metric: str = ''  # a metric column key, for the groups' best and mean
    group_best: str = 'min'  # 'min' or 'max': which value of `group_metric` is the best

    @classmethod
    def from_json(cls, data: Any) -> View:
        """A view from stored or sent JSON; raises Invalid naming the first field out of bounds."""
        if not isinstance(data, dict):
            raise Invalid('A table view is a JSON object.')
        view = cls()
        for name in (f.name for f in fields(cls)):
            if name in data:
                setattr(view, name, data[name])
        return view.checked()

    def checked(self) -> View:
        if not isinstance(self.search, str) or len(self.search) > MAX_TEXT:
            raise Invalid(f'The search takes at most {MAX_TEXT} characters.')
        for name in ('statuses', 'providers', 'launched_by', 'tags', 'config_columns', 'metric_columns'):
            values = getattr(self, name)
            if not isinstance(values, list) or len(values) > MAX_FILTER_VALUES \
                    or not all(isinstance(v, str) and 0 < len(v) <= MAX_TEXT for v in values):
                raise Invalid(f'{name} must be a list of at most {MAX_FILTER_VALUES} texts of 1 to {MAX_TEXT} '
                              'characters.')
            setattr(self, name, list(dict.fromkeys(values)))  # once each, in order
        if len(self.config_columns) > MAX_COLUMNS or len(self.metric_columns) > MAX_COLUMNS:
            raise Invalid(f'At most {MAX_COLUMNS} config and {MAX_COLUMNS} metric columns.')
        for key in [*self.metric_columns, *([self.group_metric] if self.group_metric else [])]:
            if key.partition(':')[0] not in AGGREGATES or not key.partition(':')[2]:
                raise Invalid(f'A metric column is "<last|min|max>:<metric>", not "{key}".')
        if self.days is not None and (isinstance(self.days, bool) or not isinstance(self.days, int)
                                      or not 1 <= self.days <= 36_500):
            raise Invalid('days must be a whole number of days from 1 to 36,500, or null for any time.')
        if not isinstance(self.sort, str) or not (self.sort in SORTABLE or self.sort.startswith('config:')
                                                  or self.sort.partition(':')[0] in AGGREGATES):
            raise Invalid(f'Cannot sort by "{self.sort}".')
        if not isinstance(self.group_by, str) or not (self.group_by in ('', 'tag')
                                                      or self.group_by.startswith('config:')):
            raise Invalid('group_by is "", "tag" or "config:<key>".')
        if self.group_best not in ('min', 'max'):
            raise Invalid('group_best is "min" or "max".')
        self.archived, self.descending = bool(self.archived), bool(self.descending)
        return self

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def metric_keys(self) -> list[str]:
        """Every metric column the rows must carry: the columns, the sort and the group's metric."""
        keys = list(self.metric_columns)
        for key in (self.sort, self.group_metric):
            if key and key.partition(':')[0] in AGGREGATES and key not in keys:
                keys.append(key)
        return keys


@dataclass(kw_only=True, slots=True)
class RunRow:
    """One run as the table knows it: raw values (numbers stay numbers, so they sort as numbers)."""
    id: int
    name: str
    status: str
    progress: float
    cost_usd: float
    provider: str
    launched_by: str  # the launcher's name, else email; '' when nobody (or a deleted user) launched it
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    config: dict[str, Any]
    tags: list[str]
    note: str
    archived: bool
    metrics: dict[str, float | str | None] = field(default_factory=dict)  # metric column key -> value
    _haystack: str | None = None

    @property
    def haystack(self) -> str:
        """What the search looks in, lower case: made on the first search, then kept."""
        if self._haystack is None:
            self._haystack = ' '.join([self.name, *self.tags, *(
                f'{key}={_text(value) if isinstance(value, dict | list | bool) else value}'
                for key, value in self.config.items())]).lower()
        return self._haystack

    def duration_s(self, now: datetime) -> float | None:
        if self.started_at is None:
            return None
        return max(0.0, ((self.ended_at or now) - self.started_at).total_seconds())


@dataclass(kw_only=True, slots=True)
class Group:
    key: str
    count: int
    best: float | None
    mean: float | None
    cost_usd: float


@dataclass(kw_only=True, slots=True)
class Result:
    rows: list[RunRow]  # filtered and sorted
    groups: list[Group]
    hidden_archived: int  # archived runs that match but are hidden (the archived filter is off)


async def load(user: User, project_id: int, metric_keys: list[str]) -> list[RunRow]:
    """Every run of the project (archived ones too) with the summary metrics `metric_keys` names."""
    await projects.get_project(user, project_id)
    return await _read(project_id, None, metric_keys)


async def fill_metrics(project_id: int, rows: list[RunRow], metric_keys: list[str]) -> None:
    """Give `rows` (read with no metric columns) the summary metrics `metric_keys` names, in place: the first page
    of a table first, the rest after (a page of 25 runs costs a fraction of a thousand's)."""
    if rows and metric_keys:
        metrics = await _summaries(project_id, [row.id for row in rows], metric_keys)
        for row in rows:
            row.metrics = metrics.get(row.id, {})


async def load_one(user: User, run_id: int, project_id: int, metric_keys: list[str]) -> RunRow | None:
    """One run again (after a change), or None when it is gone or no longer this user's to see."""
    try:
        await projects.get_project(user, project_id)
    except ServiceError:  # deleted, or no longer this user's to see
        return None
    found = await _read(project_id, run_id, metric_keys)
    return found[0] if found else None


def apply(rows: list[RunRow], view: View, now: datetime | None = None) -> Result:
    """The rows `view` shows, in its order, and its groups: one pass to filter, one sort, one pass to group."""
    now = now or datetime.now(UTC)
    words = view.search.lower().split()
    statuses, providers_, launchers, tags = (set(view.statuses), set(view.providers), set(view.launched_by),
                                             set(view.tags))
    since = now - timedelta(days=view.days) if view.days else None
    shown: list[RunRow] = []
    hidden_archived = 0
    for row in rows:
        if (words and not all(word in row.haystack or _compares(row, word) for word in words)) \
                or (statuses and row.status not in statuses) or (providers_ and row.provider not in providers_) \
                or (launchers and row.launched_by not in launchers) or (tags and tags.isdisjoint(row.tags)) \
                or (since and (row.started_at or row.created_at) < since):
            continue
        if row.archived and not view.archived:
            hidden_archived += 1
            continue
        shown.append(row)
    shown = _sorted(shown, view, now)
    return Result(rows=shown, groups=_groups(shown, view) if view.group_by else [], hidden_archived=hidden_archived)


def sort_value(row: RunRow, key: str, now: datetime) -> Any:
    """What a column sorts by: numbers as numbers, None when the run has no value (sorted last either way)."""
    match key:
        case 'name' | 'status' | 'provider' | 'launched_by':
            return getattr(row, key).lower() or None
        case 'progress':
            return row.progress
        case 'cost':
            return row.cost_usd
        case 'duration':
            return row.duration_s(now)
        case 'started':
            return row.started_at
        case 'created':
            return row.created_at
    if key.startswith('config:'):
        return _comparable(row.config.get(key[7:]))
    return _comparable(row.metrics.get(key))


def config_keys(rows: list[RunRow]) -> list[str]:
    """Every top-level config key of the runs, sorted."""
    return sorted({key for row in rows for key in row.config})


async def metric_names(project_id: int) -> list[str]:
    """Every metric name any run of the project has, sorted (one DISTINCT over the latest-values table)."""
    conn = connections.get('default')
    found = await conn.execute_query_dict(
        database.in_dialect(conn, 'SELECT DISTINCT l.name FROM latest_metrics l JOIN runs r ON r.id = l.run_id '
                                'WHERE r.project_id = ? ORDER BY l.name'), [project_id])
    return [row['name'] for row in found]


async def saved_view(user: User, project_id: int) -> View:
    """How this user last left this project's table; the default view if never (or if it no longer validates)."""
    stored = await RunTableView.get_or_none(user_id=user.id, project_id=project_id)
    try:
        return View.from_json(stored.view) if stored else View()
    except Invalid:
        return View()


async def save_view(user: User, project_id: int, view: View) -> None:
    await projects.get_project(user, project_id)
    view.checked()
    updated = await RunTableView.filter(user_id=user.id, project_id=project_id).update(view=view.to_json())
    if not updated:
        await RunTableView.create(user_id=user.id, project_id=project_id, view=view.to_json())


# --- helpers -------------------------------------------------------------------------------------------------------

async def _read(project_id: int, run_id: int | None, metric_keys: list[str]) -> list[RunRow]:
    # plain SQL, converted here: the ORM's per-field conversion (an ISO parser per date) cost more than the query
    conn = connections.get('default')
    found = await conn.execute_query_dict(database.in_dialect(
        conn, 'SELECT r.id, r.name, r.status, r.progress, r.cost_usd, r.provider, r.created_at, r.started_at, '
              'r.ended_at, r.config, r.tags, r.note, r.archived_at, u.name AS user_name, u.email AS user_email '
              'FROM runs r LEFT JOIN users u ON u.id = r.created_by_id WHERE r.project_id = ?'
              + (' AND r.id = ?' if run_id is not None else '') + ' ORDER BY r.created_at DESC, r.id DESC'),
        [project_id] + ([run_id] if run_id is not None else []))
    ids = None if run_id is None else [run_id]
    metrics = await _summaries(project_id, ids, metric_keys) if metric_keys and found else {}
    rows = []
    for r in found:
        config, tags = _json(r['config']), _json(r['tags'])
        rows.append(RunRow(
            id=r['id'], name=r['name'], status=r['status'], progress=float(r['progress'] or 0),
            cost_usd=float(r['cost_usd'] or 0), provider=r['provider'],
            launched_by=r['user_name'] or r['user_email'] or '', created_at=_moment(r['created_at']),
            started_at=_moment(r['started_at']), ended_at=_moment(r['ended_at']),
            config=config if isinstance(config, dict) else {},
            tags=[str(tag) for tag in tags] if isinstance(tags, list) else [], note=r['note'] or '',
            archived=r['archived_at'] is not None, metrics=metrics.get(r['id'], {})))
    return rows


async def _summaries(project_id: int, run_ids: list[int] | None, keys: list[str]) -> dict[int, dict[str, Any]]:
    """The metric columns of every run of the project (or of these runs) in at most two queries: the last value from
    the latest-values table, the minimum and maximum from the coarsest roll-ups (metric_store keeps each bucket's
    minimum and maximum; a few buckets per metric at the top level cover its whole history)."""
    conn = connections.get('default')
    wanted: dict[str, set[str]] = {agg: set() for agg in AGGREGATES}
    for key in keys:
        agg, _, name = key.partition(':')
        wanted[agg].add(name)
    # the project's runs first, then each one's rows through the (run_id, name, ...) unique index: joined the other
    # way SQLite scanned every run's roll-ups (30 ms for 1,000 runs, 16 ms so)
    if run_ids is None:
        scope, args = 'run_id IN (SELECT id FROM runs WHERE project_id = ?)', [project_id]
    else:  # runs read from the project just before
        scope, args = f'run_id IN ({", ".join("?" * len(run_ids))})', list(run_ids)
    out: dict[int, dict[str, Any]] = {}
    if wanted['last']:
        names = sorted(wanted['last'])
        found = await conn.execute_query_dict(database.in_dialect(
            conn, 'SELECT run_id, name, value, special FROM latest_metrics '
                  f'WHERE {scope} AND name IN ({", ".join("?" * len(names))})'), [*args, *names])
        for row in found:
            out.setdefault(row['run_id'], {})[f'last:{row["name"]}'] = row['special'] or row['value']
    if names := sorted(wanted['min'] | wanted['max']):
        found = await conn.execute_query_dict(database.in_dialect(
            conn, 'SELECT run_id, name, MIN(min_value) AS lo, MAX(max_value) AS hi FROM metric_buckets '
                  f'WHERE {scope} AND level = ? '
                  f'AND name IN ({", ".join("?" * len(names))}) GROUP BY run_id, name'),
            [*args, metric_store.LEVELS[-1], *names])
        for row in found:
            values = out.setdefault(row['run_id'], {})
            if row['name'] in wanted['min']:
                values[f'min:{row["name"]}'] = row['lo']
            if row['name'] in wanted['max']:
                values[f'max:{row["name"]}'] = row['hi']
    return out


def _sorted(rows: list[RunRow], view: View, now: datetime) -> list[RunRow]:
    keyed = [(sort_value(row, view.sort, now), row) for row in rows]
    present = [pair for pair in keyed if pair[0] is not None]
    present.sort(key=lambda pair: pair[0], reverse=view.descending)
    return [row for _, row in present] + [row for value, row in keyed if value is None]


def _groups(rows: list[RunRow], view: View) -> list[Group]:
    members: dict[str, list[RunRow]] = {}
    for row in rows:
        if view.group_by == 'tag':
            keys = row.tags or ['(no tag)']
        else:
            value = row.config.get(view.group_by[7:])
            keys = ['(not set)' if value is None else _text(value)]
        for key in keys:
            members.setdefault(key, []).append(row)
    groups = []
    for key, found in members.items():
        values = [v for row in found if isinstance(v := row.metrics.get(view.group_metric), int | float)
                  and math.isfinite(v)] if view.group_metric else []
        best = (min if view.group_best == 'min' else max)(values) if values else None
        groups.append(Group(key=key, count=len(found), best=best, mean=sum(values) / len(values) if values else None,
                            cost_usd=sum(row.cost_usd for row in found)))
    # the best group first when there is a metric, else the largest
    if view.group_metric:
        sign = 1 if view.group_best == 'min' else -1
        groups.sort(key=lambda g: (g.best is None, sign * g.best if g.best is not None else 0, g.key))
    else:
        groups.sort(key=lambda g: (-g.count, g.key))
    return groups


COMPARISON = re.compile(r'^([^<>=]+?)(<=|>=|<|>|=)([^<>=]+)$')


def _compares(row: RunRow, word: str) -> bool:
    """`lr=3e-4`, `lr<0.01`, `train/accuracy>=0.9`: a config value (or a metric column shown) against a number, as
    numbers, whether they were sent as numbers (the SDK) or as text (MLflow's params)."""
    if not (found := COMPARISON.match(word)) or (wanted := _number(found[3])) is None:
        return False
    key, operator = found[1], found[2]
    config = {name.lower(): value for name, value in row.config.items()}
    value = _number(config[key] if key in config else row.metrics.get(f'last:{key}'))
    if value is None:
        return False
    return {'=': math.isclose(value, wanted, rel_tol=1e-9), '<': value < wanted, '>': value > wanted,
            '<=': value <= wanted, '>=': value >= wanted}[operator]


def _number(value: Any) -> float | None:
    """A finite number, given as one or as its text ('0.001', '3e-4'); None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value) if isinstance(value, int | float | str) else math.nan
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _json(value: Any) -> Any:
    """A JSON column as read: text on SQLite (and from asyncpg without a codec), already decoded otherwise."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _moment(value: Any) -> datetime | None:
    """A timestamp column as read: ISO text on SQLite, a datetime on PostgreSQL; always aware (UTC)."""
    if value is None or value == '':
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _comparable(value: Any) -> Any:
    """Numbers before texts, each in their own order; None for no value (NaN and other specials count as none)."""
    if value is None or isinstance(value, bool):
        return None if value is None else (0, float(value), '')
    if isinstance(value, int | float):
        return (0, float(value), '') if math.isfinite(value) else None
    if isinstance(value, str) and value in metric_store.SPECIALS:
        return None
    if isinstance(value, str) and (number := _number(value)) is not None:  # MLflow's params are texts: '0.001'
        return (0, number, '')
    return (1, 0.0, _text(value).lower())


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(',', ':'), sort_keys=True)[:MAX_TEXT]
    return str(value)
