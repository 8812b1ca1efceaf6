"""A run's log as the run page and the API read it (services/run_logs): the whole history in pages keyed by line id,
a case-insensitive search and a level filter done in the database, the level read from each line, the whole log
streamed as text in a chosen zone; and times rendered in the viewer's zone (components/format, components/clock)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from tortoise import connections

from components import clock, format
from models import LogLine, Role, Run, RunStatus, User
from models.logs import level_of
from services import auth, database, ingest, lifecycle, projects, run_logs, runs
from services.errors import Invalid, NotFound
from services.lifecycle import Cause
from tests import helpers

LA = ZoneInfo('America/Los_Angeles')


async def a_run(user: User, lines: list[str]) -> Run:
    project = await projects.create_project(user, name=f'logs {time.time_ns()}')
    created, _token = await runs.create_run(user, project['id'], name='train')
    run = await Run.get(id=created['id'])
    await lifecycle.move(run, RunStatus.RUNNING, cause=Cause.JOB)
    for start in range(0, len(lines), 500):
        await ingest.report(run, {'logs': lines[start:start + 500]})
    return run


async def test_the_whole_history_reads_in_pages_older_and_newer(orm: str) -> None:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    run = await a_run(admin, [f'line {n}' for n in range(1, 1201)])

    newest = await run_logs.read(admin, run.id)
    assert [line.line for line in newest.lines] == [f'line {n}' for n in range(1001, 1201)]
    assert newest.more_before
    seen, page = list(newest.lines), newest
    while page.more_before:  # scrolling up to the first line, a page at a time
        page = await run_logs.read(admin, run.id, before_id=page.lines[0].id)
        seen[:0] = page.lines
    assert [line.line for line in seen] == [f'line {n}' for n in range(1, 1201)]
    assert len({line.id for line in seen}) == 1200

    await ingest.report(run, {'logs': ['one more']})
    after = await run_logs.read(admin, run.id, after_id=newest.lines[-1].id)
    assert [line.line for line in after.lines] == ['one more']


async def test_search_ignores_case_and_takes_wildcards_literally(orm: str) -> None:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    run = await a_run(admin, ['Epoch 1 loss 0.9', 'epoch 2 loss 0.5', 'saving checkpoint', '100% done', '1000 done',
                              'a_b', 'axb'])
    found = await run_logs.read(admin, run.id, where=run_logs.Filter('EPOCH'))
    assert [line.line for line in found.lines] == ['Epoch 1 loss 0.9', 'epoch 2 loss 0.5']
    assert [line.line for line in (await run_logs.read(admin, run.id, where=run_logs.Filter('0%'))).lines] \
        == ['100% done']
    assert [line.line for line in (await run_logs.read(admin, run.id, where=run_logs.Filter('a_b'))).lines] == ['a_b']
    assert (await run_logs.read(admin, run.id, where=run_logs.Filter('nowhere'))).lines == []
    with pytest.raises(Invalid, match='at most 200 characters'):
        run_logs.Filter('x' * 201)
    with pytest.raises(Invalid, match='Unknown log level'):
        run_logs.Filter('', 'loud')


async def test_search_pages_back_through_matches_only(orm: str) -> None:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    run = await a_run(admin, [f'step {n}' + (' NaN loss' if n % 10 == 0 else '') for n in range(1, 3001)])
    page = await run_logs.read(admin, run.id, limit=100, where=run_logs.Filter('nan'))
    assert len(page.lines) == 100 and page.more_before
    older = await run_logs.read(admin, run.id, limit=1000, before_id=page.lines[0].id, where=run_logs.Filter('nan'))
    assert len(older.lines) == 200 and not older.more_before
    assert older.lines[0].line == 'step 10 NaN loss'


def test_a_line_says_its_level() -> None:
    assert level_of('2026-11-26 13:07:02,123 INFO trainer: epoch 1') == 20
    assert level_of('INFO:root:starting') == 20
    assert level_of('[WARNING] learning rate is high') == 30
    assert level_of('W: something') is None  # one letter says nothing
    assert level_of('warning: deprecated flag') == 30
    assert level_of('Error: CUDA out of memory') == 40
    assert level_of('Traceback (most recent call last):') == 40
    assert level_of('RuntimeError: CUDA error: device-side assert triggered') == 40
    assert level_of('torch.cuda.OutOfMemoryError: CUDA out of memory.') == 40
    assert level_of('CRITICAL the disk is full') == 50
    assert level_of('DEBUG batch 3 shapes') == 10
    assert level_of('epoch 3: loss 0.21, 0 errors') is None
    assert level_of('the terror of training') is None


async def test_the_level_filter_keeps_that_level_and_worse(orm: str) -> None:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    run = await a_run(admin, ['DEBUG shapes', 'INFO epoch 1', 'plain print', 'WARNING lr high', 'ERROR nan loss',
                              'CRITICAL disk full'])
    lines = (await run_logs.read(admin, run.id)).lines
    assert [line.level for line in lines] == ['debug', 'info', None, 'warning', 'error', 'critical']
    warned = await run_logs.read(admin, run.id, where=run_logs.Filter('', 'warning'))
    assert [line.line for line in warned.lines] == ['WARNING lr high', 'ERROR nan loss', 'CRITICAL disk full']
    both = await run_logs.read(admin, run.id, where=run_logs.Filter('NAN', 'error'))
    assert [line.line for line in both.lines] == ['ERROR nan loss']


async def test_only_people_who_see_the_run_read_its_log(orm: str) -> None:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    stranger = await auth.create_user('other@example.com', 'a long password', role=Role.MEMBER)
    run = await a_run(admin, ['secret-ish'])
    with pytest.raises(NotFound):
        await run_logs.read(stranger, run.id)
    with pytest.raises(NotFound):
        await run_logs.download(stranger, run.id, UTC)


async def test_the_download_streams_every_line_with_its_time_in_the_zone(orm: str) -> None:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    lines = [f'line {n}' for n in range(1, run_logs.DOWNLOAD_PAGE * 2 + 8)]
    run = await a_run(admin, lines)
    await LogLine.filter(run_id=run.id).update(timestamp=1764162422.5)  # 2025-11-26 13:07:02.5 UTC
    name, body = await run_logs.download(admin, run.id, LA)
    chunks = [chunk async for chunk in body]
    assert name == 'train.log.txt'
    assert len(chunks) == 3  # a page of rows at a time, never the whole log at once
    text = b''.join(chunks).decode()
    assert text.splitlines()[0] == '2025-11-26 05:07:02.500 PST line 1'
    assert [row.split(' ', 3)[3] for row in text.splitlines()] == lines


def test_times_render_in_the_viewers_zone() -> None:
    moment = datetime(2026, 11, 26, 21, 7, 2, tzinfo=UTC)
    assert format.timestamp(moment) == '2026-11-26 21:07'  # outside a page and without a zone: UTC
    with clock.using(LA):
        assert format.timestamp(moment) == '2026-11-26 13:07'
        assert format.timestamp(moment.isoformat()) == '2026-11-26 13:07'
        assert format.timestamp(moment.replace(tzinfo=None)) == '2026-11-26 13:07'  # naive is UTC, as stored
        assert format.absolute(moment) == '2026-11-26 13:07:02 PST'
        assert format.clock_time(moment.timestamp()) == '13:07:02'
        assert format.relative(moment, now=datetime(2026, 11, 26, 21, 10, tzinfo=UTC)) == '2 min ago'
        assert format.relative(moment, now=datetime(2026, 12, 10, tzinfo=UTC)) == '2026-11-26'
        assert format.relative(datetime(2026, 11, 27, 2, tzinfo=UTC), now=datetime(2026, 12, 10, tzinfo=UTC)) \
            == '2026-11-26'  # the date in Los Angeles, a day before UTC's
    with clock.using(ZoneInfo('Asia/Kolkata')):
        assert format.absolute(moment) == '2026-11-27 02:37:02 IST'


def test_a_zone_the_server_does_not_know_means_utc() -> None:
    assert clock.parse('America/Los_Angeles') == LA
    assert clock.parse('America%2FLos_Angeles') == LA  # as the page's script stores it in the cookie
    for name in (None, '', 'Mars/Olympus', '../../etc/passwd', 'x' * 500, 'UTC'):
        assert clock.parse(name) in {UTC, ZoneInfo('UTC')}


async def test_lines_stored_before_levels_get_theirs(empty_database_url: str) -> None:
    database_url = empty_database_url  # migrated as far as 0010, as a database made before log levels
    await database.migrate_database(database_url, target='models.0010_notification_defaults')
    await database.open_orm(database_url)
    conn = connections.get('default')
    await helpers.insert_an_old_run(conn)
    for text in ('INFO start', 'plain', 'ERROR boom'):
        await conn.execute_query(f"INSERT INTO log_lines (run_id, timestamp, line) VALUES (1, 1, '{text}')")
    await database.close_orm()
    await database.migrate_database(database_url)
    await database.open_orm(database_url)
    try:
        assert await LogLine.all().order_by('id').values_list('level', flat=True) == [20, None, 40]
    finally:
        await database.close_orm()
