"""A run's log as people read it: pages of lines from the server (newest first, then older, keyed by line id), search
and a level filter done in the database, the live lines after the newest shown, and the whole log as a text file.

Lines carry no level of their own: `models.logs.level_of` reads it from the line (logging's level names,
`error:`/`[warn]` prefixes, tracebacks) when the line is stored (services/ingest), so a filter is an indexed read on
(run_id, level, id). Lines that say no level are shown unfiltered and left out by any level filter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from models import LogLine, Run, User
from services import log_secrets, runs
from services.errors import Invalid

PAGE = 200  # lines a page shows and reads at a time
MAX_PAGE = 10_000  # the most one read may ask for
MAX_QUERY_CHARS = 200  # a search longer than any line worth finding would only cost a scan
DOWNLOAD_PAGE = 5000  # rows read at a time while a download streams
LEVELS = {'debug': 10, 'info': 20, 'warning': 30, 'error': 40, 'critical': 50}
NAMES = {number: name for name, number in LEVELS.items()}


@dataclass(frozen=True, slots=True)
class Line:
    id: int
    time: float  # epoch seconds when the server stored it
    line: str
    level: str | None  # 'debug' .. 'critical', or None when the line says none

    def as_dict(self) -> dict[str, Any]:
        return {'id': self.id, 'time': self.time, 'line': self.line, 'level': self.level}


@dataclass(frozen=True, slots=True)
class Page:
    lines: list[Line]  # oldest first
    more_before: bool  # older lines (matching the same search and level) exist


@dataclass(frozen=True, slots=True)
class Filter:
    query: str = ''  # case-insensitive substring
    level: str | None = None  # at least this level

    def __post_init__(self) -> None:
        if len(self.query) > MAX_QUERY_CHARS:
            raise Invalid(f'A log search is at most {MAX_QUERY_CHARS} characters; this one has {len(self.query):,}.')
        if self.level is not None and self.level not in LEVELS:
            raise Invalid(f'Unknown log level "{self.level[:40]}"; use one of {", ".join(LEVELS)}.')

    @property
    def active(self) -> bool:
        return bool(self.query) or self.level is not None

    def matches(self, line: Line) -> bool:
        """The database's test, for lines already read."""
        if self.level is not None and (line.level is None or LEVELS[line.level] < LEVELS[self.level]):
            return False
        return self.query.casefold() in line.line.casefold()


async def read(user: User, run_id: int, *, limit: int = PAGE, before_id: int | None = None,
               after_id: int | None = None, where: Filter = Filter()) -> Page:
    """Lines of a run the user may see: the newest `limit` (before `before_id` when given), or the oldest `limit`
    after `after_id` (what came since a page showed its newest), oldest first either way."""
    await runs.get_run(user, run_id)
    return await lines_of(run_id, limit=limit, before_id=before_id, after_id=after_id, where=where)


async def lines_of(run_id: int, *, limit: int = PAGE, before_id: int | None = None, after_id: int | None = None,
                   where: Filter = Filter()) -> Page:
    """`read` for a caller who has checked access."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f'Ask for 1 to {MAX_PAGE:,} log lines at a time.')
    query = LogLine.filter(run_id=run_id)
    if where.query:
        query = query.filter(line__icontains=where.query)
    if where.level is not None:
        query = query.filter(level__gte=LEVELS[where.level])
    if after_id is not None:
        rows = await query.filter(id__gt=after_id).order_by('id').limit(limit)
        return Page([_line(row) for row in rows], more_before=False)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    rows = await query.order_by('-id').limit(limit + 1)
    return Page([_line(row) for row in reversed(rows[:limit])], more_before=len(rows) > limit)


async def download(user: User, run_id: int, zone: tzinfo) -> tuple[str, AsyncIterator[bytes]]:
    """The file name and the bytes of the run's whole log, one `<time in zone> <line>` per line
    ('2026-11-25 21:07:02.123 PST epoch 1'), read a page at a time while it streams (a run may have millions of
    lines). The run's environment values are hidden as in its kept `output.log`."""
    run = await runs.get_run(user, run_id)
    return f'{run.name}.log.txt', _stream(run, zone)


async def _stream(run: Run, zone: tzinfo) -> AsyncIterator[bytes]:
    secrets = log_secrets.secrets_of(run)
    after, second, prefix = 0, None, ('', '')
    while True:
        rows = await LogLine.filter(run_id=run.id, id__gt=after).order_by('id').limit(DOWNLOAD_PAGE) \
            .values_list('id', 'timestamp', 'line')
        if not rows:
            return
        out = []
        for _id, moment, text in rows:
            if int(moment) != second:  # the lines of one report share their time: its text is made once a second
                second = int(moment)
                local = datetime.fromtimestamp(second, zone)
                prefix = local.strftime('%Y-%m-%d %H:%M:%S.'), local.strftime(' %Z ')
            millis = min(999, round(moment % 1 * 1_000_000) // 1000)  # as datetime rounds: to the microsecond
            out.append(f'{prefix[0]}{millis:03d}{prefix[1]}{log_secrets.hidden(text, secrets)}\n')
        yield ''.join(out).encode()
        after = rows[-1][0]


def _line(row: LogLine) -> Line:
    return Line(row.id, row.timestamp, row.line, NAMES.get(row.level) if row.level is not None else None)
