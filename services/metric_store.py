"""Metric history: the one batch write path, and the reads charts and exports make.

Every point goes through `write_points`, which skips the (run, name, step) points the run already has, inserts the
rest in one statement, and keeps two small tables beside the history: the latest value per metric, and roll-ups
(`MetricBucket`) at levels of BUCKET_BASE**L steps. A chart of a million points reads a few hundred roll-up rows
instead of the history, and keeps each bucket's minimum and maximum, so spikes survive the downsampling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sqlite3
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from models import LatestMetric, Run
from services.database import in_dialect, is_postgres

BUCKET_BASE = 16
LEVELS = range(1, 6)  # buckets of 16 .. 1,048,576 steps; base 16 writes ~7 roll-up rows per 100 points
SPECIALS = {'NaN': math.nan, 'Infinity': math.inf, '-Infinity': -math.inf}
EXPORT_CHUNK = 100_000
RANGE_SLACK = 4  # a metric's points are looked up as one range of steps when they fill 1/4 of it or more
METRIC_COLUMNS = ['run_id', 'name', 'step', 'value', 'special', 'timestamp']
# the points of ranges [[run id, name, first step, last step], ...] that are stored. On PostgreSQL a lateral subquery
# behind OFFSET 0, which the planner cannot turn into a join: as a join, a plan made while the table was small (a
# new database; a prepared statement keeps its plan until the next ANALYZE) hashed the ranges and read the whole
# history at every report, 30 ms a report at 150,000 points and growing. As it is, each range is an index lookup
STORED_POSTGRES = 'SELECT (r ->> 0)::int, r ->> 1, m.step FROM json_array_elements($1::json) AS r CROSS JOIN LATERAL ' \
                  '(SELECT step FROM metrics WHERE run_id = (r ->> 0)::int AND name = r ->> 1 ' \
                  'AND step BETWEEN (r ->> 2)::bigint AND (r ->> 3)::bigint OFFSET 0) AS m'
STORED_SQLITE = 'SELECT m.run_id, m.name, m.step FROM json_each(?) AS r JOIN metrics m ON m.run_id = r.value ->> 0 ' \
                'AND m.name = r.value ->> 1 AND m.step BETWEEN r.value ->> 2 AND r.value ->> 3'


@dataclass(slots=True)
class Point:
    name: str
    step: int
    value: float | None  # None when `special` holds 'NaN', 'Infinity' or '-Infinity'
    special: str | None
    timestamp: float


async def write_points(conn: BaseDBAsyncClient, run_id: int, points: list[Point]) -> list[Point]:
    """Store the points the run does not have yet, inside the caller's transaction; returns those new points.
    The caller holds the run's row lock (`lock_runs`): no other transaction writes the run's points meanwhile, so
    the points read as stored are all there are, and the rest go in with a plain INSERT."""
    return (await write_points_of_runs(conn, {run_id: points}))[run_id]


async def write_points_of_runs(conn: BaseDBAsyncClient, points: dict[int, list[Point]]) -> dict[int, list[Point]]:
    """`write_points` for several runs at once, in as many statements as for one (reports written together)."""
    firsts = {run_id: _first_of_each(batch) for run_id, batch in points.items()}
    have = await _stored(conn, firsts)
    new = {run_id: [p for p in batch if (run_id, p.name, p.step) not in have] if have else batch
           for run_id, batch in firsts.items()}
    await _insert(conn, new)
    await _update_latest(conn, new)
    await _update_buckets(conn, new)
    return new


async def lock_runs(conn: BaseDBAsyncClient, run_ids: list[int], fields: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The runs' rows locked until the transaction ends (in id order, as every writer locks them), so one
    transaction at a time writes a run's points; and their `fields`, read in the same statement. SQLite has one
    writer at a time anyway: there it only reads, and only when asked for fields. Plain SQL: on the ingest path a
    queryset's building and the parsing of every column cost more than the query."""
    postgres = is_postgres(conn)
    if not run_ids or not (postgres or fields):
        return []
    marks = ', '.join('?' * len(run_ids))
    query = f'SELECT {", ".join(fields or ("id",))} FROM runs WHERE id IN ({marks}) ORDER BY id' + \
        (' FOR UPDATE' if postgres else '')
    return await conn.execute_query_dict(in_dialect(conn, query), sorted(run_ids))


async def delete_of_project(conn: BaseDBAsyncClient, project_id: int) -> None:
    """The history of a project's runs, before the runs go: on PostgreSQL its rows have no foreign key to cascade on
    (migration 0015: each inserted row checked its run with a query)."""
    await conn.execute_query(in_dialect(
        conn, 'DELETE FROM metrics WHERE run_id IN (SELECT id FROM runs WHERE project_id = ?)'), [project_id])


async def _stored(conn: BaseDBAsyncClient, points: dict[int, list[Point]]) -> set[tuple[int, str, int]]:
    """The (run, name, step) of these points that are stored already, in one read of index ranges: a metric's
    range of steps when its points are dense in it (a batch of one metric's steps), each step alone otherwise (a
    point of each of many metrics, single-point reports). ON CONFLICT DO NOTHING would need no read, but it costs
    PostgreSQL a speculative insertion per row, twice the time of a plain INSERT, and a COPY cannot skip a row."""
    ranges = []
    for run_id, batch in points.items():
        by_name: dict[str, list[int]] = defaultdict(list)
        for point in batch:
            by_name[point.name].append(point.step)
        for name, steps in by_name.items():
            lo, hi = min(steps), max(steps)
            if hi - lo < RANGE_SLACK * len(steps):  # a range read returns at most this many times the points
                ranges.append((run_id, name, lo, hi))
            else:
                ranges.extend((run_id, name, step, step) for step in steps)
    if not ranges:
        return set()
    rows = await conn.execute_query(STORED_POSTGRES if is_postgres(conn) else STORED_SQLITE, [_json(ranges)])
    return {(row[0], row[1], row[2]) for row in _rows(rows)}


async def _insert(conn: BaseDBAsyncClient, points: dict[int, list[Point]]) -> None:
    """Points none of which is stored (`_stored`), as tuples: orjson writes a slotted dataclass five times slower.
    PostgreSQL takes them by COPY, in binary: no statement to parse, no JSON to read (a third less time than one
    INSERT over JSON). SQLite in one statement over them as JSON (`_upsert`)."""
    rows = [(run_id, p.name, p.step, p.value, p.special, p.timestamp)
            for run_id, batch in points.items() for p in batch]
    if rows and is_postgres(conn):
        async with conn.acquire_connection() as connection:  # the transaction's own
            await connection.copy_records_to_table('metrics', records=rows, columns=METRIC_COLUMNS)
    else:
        await _upsert(conn, f'INSERT INTO metrics ({", ".join(METRIC_COLUMNS)}) ',
                      ['int', 'text', 'bigint', 'float8', 'text', 'float8'], rows)


def _first_of_each(points: list[Point]) -> list[Point]:
    """The points without those that repeat a (name, step) earlier in the same batch (the first one wins)."""
    if len({(point.name, point.step) for point in points}) == len(points):  # none repeats: the batch as it is
        return points
    seen: set[tuple[str, int]] = set()
    kept = []
    for point in points:
        key = (point.name, point.step)
        if key not in seen:
            seen.add(key)
            kept.append(point)
    return kept


async def metric_names(run_id: int) -> list[dict[str, Any]]:
    conn = connections.get('default')
    rows = await conn.execute_query_dict(
        in_dialect(conn, 'SELECT name, step, value, special, timestamp, count FROM latest_metrics WHERE run_id = ? '
                   'ORDER BY name'), [run_id])
    return [{'name': r['name'], 'step': r['step'], 'value': _shown(r['value'], r['special']),
             'timestamp': r['timestamp'], 'count': r['count']} for r in rows]


async def project_metric_names(project_id: int) -> list[str]:
    """Every metric name any run of the project has, sorted (from the small latest-values table)."""
    return sorted(set(await LatestMetric.filter(run__project_id=project_id).values_list('name', flat=True)))


async def series(run_id: int, name: str, *, max_points: int = 1000, min_step: int | None = None,
                 max_step: int | None = None, with_time: bool = False) -> dict[str, Any]:
    """Points of one metric in [min_step, max_step], at most `max_points`: raw when they fit, else each bucket's
    minimum and maximum at the finest roll-up level whose buckets fit. `with_time`: `[step, value, timestamp]`."""
    found = await _series(run_id, name, max_points, min_step, max_step)
    if with_time:
        found['points'] = await _with_time(run_id, name, found['points'])
    return found


async def step_unit(run_id: int, name: str) -> str:
    """'seconds' when a metric's steps are the seconds of its run at which each point was taken (as GPU samples
    are stored), else 'step': the data says how it was logged, whatever the metric's name."""
    conn = connections.get('default')
    rows = await conn.execute_query_dict(
        in_dialect(conn, 'SELECT * FROM (SELECT step, timestamp FROM metrics WHERE run_id = ? AND name = ? '
                   'ORDER BY step LIMIT 1) AS first UNION ALL SELECT * FROM (SELECT step, timestamp FROM metrics '
                   'WHERE run_id = ? AND name = ? ORDER BY step DESC LIMIT 1) AS last'), [run_id, name, run_id, name])
    run = await Run.get_or_none(id=run_id).values('started_at')
    if not rows or not run or run['started_at'] is None:
        return 'step'
    started = run['started_at'].timestamp()
    return 'seconds' if all(abs(r['step'] - (r['timestamp'] - started)) <= 1.5 for r in rows) else 'step'


async def _series(run_id: int, name: str, max_points: int, min_step: int | None,
                  max_step: int | None) -> dict[str, Any]:
    conn = connections.get('default')
    whole = min_step is None and max_step is None
    # two ORDER BY ... LIMIT 1 reads of the (run, name, step) index: SQLite scans for MIN and MAX in one query
    first = await _one(conn, 'SELECT step FROM metrics WHERE run_id = ? AND name = ? ORDER BY step LIMIT 1',
                       [run_id, name])
    if first is None:
        return {'points': [], 'total': 0, 'downsampled': False}
    if whole:  # the latest-values row has the last step and the count: the whole history needs no counting
        latest = _rows(await conn.execute_query(
            in_dialect(conn, 'SELECT step, count FROM latest_metrics WHERE run_id = ? AND name = ?'), [run_id, name]))
    if whole and latest:
        lo, (hi, total) = first, latest[0]
    else:
        last = await _one(conn, 'SELECT step FROM metrics WHERE run_id = ? AND name = ? ORDER BY step DESC LIMIT 1',
                          [run_id, name])
        lo = first if min_step is None else max(min_step, first)
        hi = last if max_step is None else min(max_step, last)
        if lo > hi:
            return {'points': [], 'total': 0, 'downsampled': False}
        total = await _count(conn, run_id, name, lo, hi)
    if total <= max_points:
        rows = await conn.execute_query(
            in_dialect(conn, 'SELECT step, value, special FROM metrics '
                       'WHERE run_id = ? AND name = ? AND step BETWEEN ? AND ? ORDER BY step'), [run_id, name, lo, hi])
        return {'points': [[r[0], _shown(r[1], r[2])] for r in _rows(rows)], 'total': total, 'downsampled': False}
    return {'points': await _downsampled(conn, run_id, name, lo, hi, total, max_points // 2), 'total': total,
            'downsampled': True}


async def _downsampled(conn: BaseDBAsyncClient, run_id: int, name: str, lo: int, hi: int, total: int,
                       bins: int) -> list[list[Any]]:
    """The minimum and maximum (step and value) of each of `bins` equal step ranges of [lo, hi], so the answer has
    about 2 * bins points whatever the range, and every spike.

    The bins are built from the coarsest level whose buckets are still at least as many as the bins (so each bin
    gets one or more whole buckets: at most BUCKET_BASE * bins rows read), or from the raw points when even the
    finest roll-ups are too coarse."""
    span = hi - lo + 1
    level = next((lv for lv in reversed(LEVELS) if min(span // BUCKET_BASE ** lv, total) >= bins), 0)
    if level == 0:
        source = ('SELECT step AS start, step AS min_step, value AS min_value, step AS max_step, value AS max_value '
                  'FROM metrics WHERE run_id = ? AND name = ? AND step BETWEEN ? AND ? AND value IS NOT NULL')
        args: list[Any] = [run_id, name, lo, hi]
    else:
        width = BUCKET_BASE ** level
        source = (f'SELECT bucket * {width} AS start, min_step, min_value, max_step, max_value FROM metric_buckets '
                  'WHERE run_id = ? AND name = ? AND level = ? AND bucket BETWEEN ? AND ? AND min_value IS NOT NULL')
        args = [run_id, name, level, lo // width, hi // width]
    # the bins are grouped in the database: only the extremes, at most 2 * bins rows, come back (ints are ours)
    lo, hi, bins, span = int(lo), int(hi), int(bins), int(span)
    if is_postgres(conn):
        binned = f'LEAST(FLOOR(GREATEST(start - {lo}, 0)::float8 * {bins} / {span})::bigint, {bins - 1})'
        query = (f'WITH src AS ({source}) '
                 f'(SELECT DISTINCT ON (bin) bin, min_step, min_value FROM (SELECT {binned} AS bin, min_step, '
                 f'min_value FROM src WHERE min_step BETWEEN {lo} AND {hi}) AS low ORDER BY bin, min_value) UNION ALL '
                 f'(SELECT DISTINCT ON (bin) bin, max_step, max_value FROM (SELECT {binned} AS bin, max_step, '
                 f'max_value FROM src WHERE max_step BETWEEN {lo} AND {hi}) AS high ORDER BY bin, max_value DESC)')
    else:
        # SQLite takes a bare column from the row that MIN() or MAX() chose
        binned = f'MIN(CAST(MAX(start - {lo}, 0) * 1.0 * {bins} / {span} AS INTEGER), {bins - 1})'
        query = (f'WITH src AS ({source}) '
                 f'SELECT {binned} AS bin, min_step, MIN(min_value) FROM src WHERE min_step BETWEEN {lo} AND {hi} '
                 f'GROUP BY bin UNION ALL '
                 f'SELECT {binned} AS bin, max_step, MAX(max_value) FROM src WHERE max_step BETWEEN {lo} AND {hi} '
                 'GROUP BY bin')
    extremes: dict[int, set[tuple[int, float]]] = defaultdict(set)
    for bin_index, step, value in _rows(await conn.execute_query(in_dialect(conn, query), args)):
        extremes[bin_index].add((step, value))
    return [[step, value] for index in sorted(extremes) for step, value in sorted(extremes[index])]


async def _with_time(run_id: int, name: str, points: list[list[Any]]) -> list[list[Any]]:
    """Each point's time, read by step in one query (the roll-ups keep steps and values, not times)."""
    if not points:
        return points
    conn = connections.get('default')
    steps = [p[0] for p in points]
    if is_postgres(conn):
        # a scalar subquery: an index lookup per asked step, whatever the planner guesses. A join (or a lateral
        # one, which it flattens into a join) was planned as a hash join over the metric's whole history when the
        # table's statistics lagged behind its growth: 284 ms for 1,000 points of 1M, against 6 ms
        rows = await conn.execute_query('SELECT s.step, (SELECT timestamp FROM metrics WHERE run_id = $1 AND name = $2 '
                                        'AND step = s.step) FROM unnest($3::bigint[]) AS s(step)',
                                        [run_id, name, steps])
    else:
        rows = await conn.execute_query(
            'SELECT step, timestamp FROM metrics WHERE run_id = ? AND name = ? AND step IN '
            '(SELECT value FROM json_each(?))', [run_id, name, json.dumps(steps)])
    times = dict(_rows(rows))
    return [[step, value, times.get(step)] for step, value in points]


async def export_csv(run_id: int, name: str) -> AsyncIterator[str]:
    """The whole history of one metric as CSV, read in chunks so memory stays flat.

    On SQLite the chunks are read on a connection of their own in a worker thread: a long export then neither
    waits for nor holds up the ORM's single connection, which every report needs."""
    conn = connections.get('default')
    yield 'step,value,timestamp\n'
    after = -1
    while True:
        if is_postgres(conn):
            rows = await conn.execute_query(
                'SELECT step, COALESCE(special, CAST(value AS TEXT)), timestamp FROM metrics '
                f'WHERE run_id = $1 AND name = $2 AND step > $3 ORDER BY step LIMIT {EXPORT_CHUNK}',
                [run_id, name, after])
            chunk, last = _csv_lines(_rows(rows))
        else:
            chunk, last = await asyncio.to_thread(_sqlite_chunk, conn.filename, run_id, name, after)
        if last is None:
            return
        yield chunk
        after = last


def parse_value(value: Any) -> tuple[float | None, str | None]:
    """(value, special) for a reported value; raises ValueError for anything but a finite number or a special."""
    if isinstance(value, bool):
        raise ValueError('must be a number')
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an int beyond any float
            raise ValueError('must be a number within ±1.8e308') from None
        if math.isfinite(number):
            return number, None
        raise ValueError('must be finite; send "NaN", "Infinity" or "-Infinity" as strings')
    if isinstance(value, str) and value in SPECIALS:
        return None, value
    raise ValueError('must be a finite number or one of "NaN", "Infinity", "-Infinity"')


# --- helpers -------------------------------------------------------------------------------------------------------

async def _update_latest(conn: BaseDBAsyncClient, new: dict[int, list[Point]]) -> None:
    rows = []
    for run_id, points in new.items():
        latest: dict[str, Point] = {}
        counts: dict[str, int] = defaultdict(int)
        for point in points:
            counts[point.name] += 1
            current = latest.get(point.name)
            if current is None or point.step > current.step:
                latest[point.name] = point
        rows.extend((run_id, p.name, p.step, p.value, p.special, p.timestamp, counts[p.name]) for p in latest.values())
    newer = 'excluded.step >= latest_metrics.step'
    await _upsert(conn, 'INSERT INTO latest_metrics (run_id, name, step, value, special, timestamp, count) ',
                  ['int', 'text', 'bigint', 'float8', 'text', 'float8', 'bigint'], rows,
                  'ON CONFLICT (run_id, name) DO UPDATE SET '
                  'count = latest_metrics.count + excluded.count, '
                  f'value = CASE WHEN {newer} THEN excluded.value ELSE latest_metrics.value END, '
                  f'special = CASE WHEN {newer} THEN excluded.special ELSE latest_metrics.special END, '
                  f'timestamp = CASE WHEN {newer} THEN excluded.timestamp ELSE latest_metrics.timestamp END, '
                  f'step = CASE WHEN {newer} THEN excluded.step ELSE latest_metrics.step END', keys=2)


async def _update_buckets(conn: BaseDBAsyncClient, new: dict[int, list[Point]]) -> None:
    # level 1 from the points, each further level from the one below: ~1.14 merges per point for all levels
    rows = []
    for run_id, points in new.items():
        # (name, bucket) -> [count, min_step, min_value, max_step, max_value]
        level = _first_level(points)
        for number in LEVELS:
            rows.extend((run_id, name, number, index, *values) for (name, index), values in level.items())
            coarser: dict[tuple[str, int], list[Any]] = {}
            for (name, index), (count, min_step, min_value, max_step, max_value) in level.items():
                _merge(coarser, (name, index // BUCKET_BASE), count, min_step, min_value, max_step, max_value)
            level = coarser
    lower = '(metric_buckets.min_value IS NULL OR excluded.min_value < metric_buckets.min_value)'
    higher = '(metric_buckets.max_value IS NULL OR excluded.max_value > metric_buckets.max_value)'
    await _upsert(conn, 'INSERT INTO metric_buckets (run_id, name, level, bucket, count, min_step, min_value, '
                        'max_step, max_value) ',
                  ['int', 'text', 'smallint', 'bigint', 'bigint', 'bigint', 'float8', 'bigint', 'float8'], rows,
                  'ON CONFLICT (run_id, name, level, bucket) DO UPDATE SET '
                  'count = metric_buckets.count + excluded.count, '
                  f'min_step = CASE WHEN {lower} THEN excluded.min_step ELSE metric_buckets.min_step END, '
                  f'min_value = CASE WHEN {lower} THEN excluded.min_value ELSE metric_buckets.min_value END, '
                  f'max_step = CASE WHEN {higher} THEN excluded.max_step ELSE metric_buckets.max_step END, '
                  f'max_value = CASE WHEN {higher} THEN excluded.max_value ELSE metric_buckets.max_value END', keys=4)


async def _upsert(conn: BaseDBAsyncClient, insert: str, types: list[str], rows: list[tuple[Any, ...]],
                  conflict: str = '', *, keys: int = 0) -> None:
    """`insert` + the rows + `conflict` in one statement over the rows as a JSON array (`_json`): one round trip,
    where executemany costs one per row."""
    if not rows:
        return
    if is_postgres(conn):
        columns = ', '.join(f'(r ->> {i})::{kind}' for i, kind in enumerate(types))
        # ordered by the conflict's key (the first `keys` columns): concurrent transactions upsert the same rows in
        # one order, so they cannot deadlock
        order = f'ORDER BY {", ".join(str(i) for i in range(1, keys + 1))} ' if keys else ''
        await conn.execute_query(f'{insert}SELECT {columns} FROM json_array_elements($1::json) AS r {order}{conflict}',
                                 [_json(rows)])
    else:  # WHERE true: SQLite would read ON CONFLICT as a join's ON
        columns = ', '.join(f'value ->> {i}' for i in range(len(types)))
        await conn.execute_query(f'{insert}SELECT {columns} FROM json_each(?) WHERE true {conflict}', [_json(rows)])


def _json(rows: Any) -> str:
    """Rows for one statement over JSON. On SQLite, executemany steps its statement once per row, and each step hands
    Python's lock to the event loop's thread and waits to get it back: under load, 1,000 rows took 180 ms to 2.8 s
    instead of 9. Floats go as their shortest exact text, which both databases read back to the same double."""
    return orjson.dumps(rows, option=orjson.OPT_NON_STR_KEYS).decode()


def _first_level(points: list[Point]) -> dict[tuple[str, int], list[Any]]:
    """The finest buckets of the points: `_merge` of each point, inlined (a call per point was most of the roll-ups'
    time)."""
    level: dict[tuple[str, int], list[Any]] = {}
    for point in points:
        key, step, value = (point.name, point.step // BUCKET_BASE), point.step, point.value
        bucket = level.get(key)
        if bucket is None:
            level[key] = [1, step, value, step, value] if value is not None else [1, None, None, None, None]
            continue
        bucket[0] += 1
        if value is not None:
            if bucket[2] is None or value < bucket[2]:
                bucket[1], bucket[2] = step, value
            if bucket[4] is None or value > bucket[4]:
                bucket[3], bucket[4] = step, value
    return level


def _merge(buckets: dict[tuple[str, int], list[Any]], key: tuple[str, int], count: int, min_step: int | None,
           min_value: float | None, max_step: int | None, max_value: float | None) -> None:
    bucket = buckets.get(key)
    if bucket is None:
        buckets[key] = [count, min_step, min_value, max_step, max_value] if min_value is not None else \
            [count, None, None, None, None]
        return
    bucket[0] += count
    if min_value is not None:
        if bucket[2] is None or min_value < bucket[2]:
            bucket[1], bucket[2] = min_step, min_value
        if bucket[4] is None or max_value > bucket[4]:
            bucket[3], bucket[4] = max_step, max_value


async def _count(conn: BaseDBAsyncClient, run_id: int, name: str, lo: int, hi: int) -> int:
    """Exact count of points in [lo, hi]: whole buckets from the coarsest level that has any inside, raw rows at
    the ragged edges."""
    for level in reversed(LEVELS):
        width = BUCKET_BASE ** level
        first, last = -(-lo // width), (hi + 1) // width - 1  # buckets entirely inside [lo, hi]
        if first > last:
            continue
        inner = await conn.execute_query(
            in_dialect(conn, 'SELECT COALESCE(SUM(count), 0) FROM metric_buckets WHERE run_id = ? AND name = ? '
                       'AND level = ? AND bucket BETWEEN ? AND ?'), [run_id, name, level, first, last])
        edges = 0
        if lo < first * width:
            edges += await _count(conn, run_id, name, lo, first * width - 1)
        if (last + 1) * width <= hi:
            edges += await _count(conn, run_id, name, (last + 1) * width, hi)
        return int(_rows(inner)[0][0]) + edges
    rows = await conn.execute_query(
        in_dialect(conn, 'SELECT COUNT(*) FROM metrics WHERE run_id = ? AND name = ? AND step BETWEEN ? AND ?'),
        [run_id, name, lo, hi])
    return int(_rows(rows)[0][0])


def _sqlite_chunk(path: str, run_id: int, name: str, after: int) -> tuple[str, int | None]:
    with contextlib.closing(sqlite3.connect(f'file:{path}?mode=ro', uri=True)) as db:
        rows = db.execute('SELECT step, COALESCE(special, value), timestamp FROM metrics '
                          f'WHERE run_id = ? AND name = ? AND step > ? ORDER BY step LIMIT {EXPORT_CHUNK}',
                          (run_id, name, after)).fetchall()
    return _csv_lines(rows)


def _csv_lines(rows: list[Any]) -> tuple[str, int | None]:
    """CSV lines and the last step; floats as repr, so nothing is rounded."""
    if not rows:
        return '', None
    return ''.join([f'{step},{value!s},{timestamp!r}\n' for step, value, timestamp in rows]), rows[-1][0]


async def _one(conn: BaseDBAsyncClient, query: str, args: list[Any]) -> Any:
    rows = _rows(await conn.execute_query(in_dialect(conn, query), args))
    return rows[0][0] if rows else None


def _shown(value: float | None, special: str | None) -> float | str | None:
    return special if special else value


def _rows(result: Any) -> list[Any]:
    """execute_query answers (count, rows) on some backends and rows on others."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], list):
        return result[1]
    return list(result)
