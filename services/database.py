"""The database: which kind it is, migrations at start-up, opening the ORM, and a health ping.

The one place that answers "is this PostgreSQL?", for a URL or an open connection: `is_postgres`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.migrations.api import migrate

from models.config import config_for

log = logging.getLogger(__name__)

POSTGRES_SCHEMES = {'postgres', 'postgresql', 'asyncpg'}
# SQLite in WAL mode with synchronous=NORMAL: a commit is written to the WAL (it survives the process being killed)
# but not flushed to disk; a checkpoint every CHECKPOINT_INTERVAL_S flushes it. A power cut may so lose the writes of
# the last second or so, never more, and never corrupts the file. `?synchronous=FULL` in the URL flushes every commit.
SQLITE_SYNCHRONOUS = 'NORMAL'
CHECKPOINT_INTERVAL_S = 1.0
# a new SQLite database starts as a copy of this one when it exists: a database the migrations made when the binary
# was built (scripts/build_binary.py), so that its first start skips most of the 2–3 s of migrating from 0001. The
# migrations still run after the copy and find nothing, or only what came after it, left to do. A checkout has none
NEW_SQLITE_DATABASE = Path(__file__).resolve().parent.parent / 'models' / 'migrated.sqlite3'
MIGRATION_LOCK_KEY = 0x7472_6169_6E62  # 'trainb': any constant shared by every Trainboard process
CONNECT_TIMEOUT_S = 5.0  # a PostgreSQL host that does not answer at start-up (asyncpg would wait 60 s)


class DatabaseUnavailable(Exception):
    """The database cannot be opened or written; the message says which and why (never with a password)."""


def is_postgres(where: str | BaseDBAsyncClient) -> bool:
    """Whether a database URL, or an open connection, is PostgreSQL (else it is SQLite)."""
    if isinstance(where, str):
        return where.split(':', 1)[0] in POSTGRES_SCHEMES
    return where.capabilities.dialect == 'postgres'


def in_dialect(conn: BaseDBAsyncClient, query: str) -> str:
    """A query written with '?' placeholders, as `conn` takes it: PostgreSQL wants $1, $2, ..."""
    if not is_postgres(conn):
        return query
    parts = query.split('?')
    return ''.join(part + (f'${i}' if i < len(parts) else '') for i, part in enumerate(parts, start=1))


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite database URL; None for PostgreSQL or an in-memory database."""
    if is_postgres(url) or ':memory:' in url:
        return None
    return Path(url.removeprefix('sqlite://').split('?', 1)[0])


def postgres_schema(url: str) -> str | None:
    """The `schema` query option of a PostgreSQL URL (Tortoise sets it as the search path)."""
    return parse_qs(urlsplit(url).query).get('schema', [None])[0]


def asyncpg_dsn(url: str) -> str:
    """The URL as asyncpg takes it: its scheme, and none of Tortoise's query options."""
    scheme, rest = url.split('://', 1)
    return 'postgresql://' + rest.split('?', 1)[0] if scheme in POSTGRES_SCHEMES else url


async def migrate_database(url: str, *, target: str | None = None) -> None:
    """Bring the database to the latest schema (or to `target`, e.g. 'models.0001_initial').

    On PostgreSQL several processes may start at once; a session advisory lock makes them migrate one after the other.
    Raises DatabaseUnavailable when the database cannot be opened or written: checked first, because Tortoise
    waits forever on a connection whose set-up failed once (it keeps the connection lock), e.g. a read-only file.
    """
    if not is_postgres(url):
        if path := sqlite_path(url):
            await asyncio.to_thread(_start_from_migrated, path, NEW_SQLITE_DATABASE)
            await asyncio.to_thread(_check_sqlite_writable, path)
        # SQLite alters a column by rebuilding its table; with foreign keys on, dropping the old table would
        # cascade-delete every child row (a project's runs, a run's metrics), so migrate with them off
        await _migrate(url + ('&' if '?' in url else '?') + 'foreign_keys=OFF', target)
        return
    lock_conn = await _connect_writable(url)
    try:
        await lock_conn.execute('SELECT pg_advisory_lock($1)', MIGRATION_LOCK_KEY)
        if schema := postgres_schema(url):
            await lock_conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await _migrate(url, target)
    finally:
        await lock_conn.close()  # closing the session releases the lock


async def open_orm(url: str) -> None:
    """Open the ORM on a migrated database. The global fallback lets code outside a request's context (background
    tasks, a real server's handlers) find it; without it a real server answers 500 (stack notes, 2)."""
    global _checkpoints
    await Tortoise.init(config=config_for(with_sqlite_synchronous(url)), _enable_global_fallback=True)
    if (path := sqlite_path(url)) and 'synchronous=' not in url.lower():
        _checkpoints = asyncio.get_running_loop().create_task(_checkpoint_every(path, CHECKPOINT_INTERVAL_S))


async def close_orm() -> None:
    global _checkpoints
    if _checkpoints is not None:
        _checkpoints.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await _checkpoints
        _checkpoints = None
    await Tortoise.close_connections()


def with_sqlite_synchronous(url: str) -> str:
    """A SQLite URL with SQLITE_SYNCHRONOUS unless it says otherwise (Tortoise runs its query options as pragmas)."""
    if is_postgres(url) or ':memory:' in url or 'synchronous=' in url.lower():
        return url
    return url + ('&' if '?' in url else '?') + f'synchronous={SQLITE_SYNCHRONOUS}'


_checkpoints: asyncio.Task[None] | None = None


async def _checkpoint_every(path: Path, interval_s: float) -> None:
    """Flush the WAL to disk (and copy it into the database) every `interval_s`: what bounds a power cut's loss under
    synchronous=NORMAL. On a connection of its own in a thread, so the ORM's one connection is never held up."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(_checkpoint, path)
        except sqlite3.Error as error:  # busy, or the file went (tests): the next one will do
            log.debug('WAL checkpoint of %s failed: %s', path, error)


def _checkpoint(path: Path) -> None:
    # mode=rw: never makes a file that is gone
    conn = sqlite3.connect(f'{path.resolve().as_uri()}?mode=rw', uri=True, timeout=1.0)
    try:
        conn.execute('PRAGMA wal_checkpoint(PASSIVE)')
    finally:
        conn.close()


async def ping(timeout_s: float = 2.0) -> float:
    """Round-trip a trivial query on one of our tables (so a database whose tables are gone fails it too); seconds.
    Raises TimeoutError after `timeout_s`, or the driver's error."""
    start = time.perf_counter()
    await asyncio.wait_for(connections.get('default').execute_query('SELECT 1 FROM users LIMIT 1'), timeout_s)
    return time.perf_counter() - start


async def _migrate(url: str, target: str | None) -> None:
    try:
        await migrate(config=config_for(url), target=target)
    finally:
        await Tortoise.close_connections()


def _start_from_migrated(path: Path, migrated: Path) -> None:
    """A database that does not exist yet starts as a copy of `migrated`, if there is one. Not when a write-ahead log
    of an earlier database is left beside it (a deleted database of a killed server): SQLite would replay it onto the
    copy; an empty file makes SQLite drop it instead. The copy is made under a name of its own and linked into place,
    which fails if another process made the database meanwhile: theirs stays, and nothing half copied is opened."""
    left = [path, path.with_name(f'{path.name}-wal'), path.with_name(f'{path.name}-shm')]
    if not migrated.is_file() or any(file.exists() for file in left):
        return
    with contextlib.suppress(OSError):  # cannot write there: _check_sqlite_writable says so in words
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.')
        os.close(handle)
        try:
            shutil.copyfile(migrated, partial)
            os.link(partial, path)
            log.info('started the new database %s from the one migrated when this binary was built', path)
        finally:
            os.unlink(partial)


def _check_sqlite_writable(path: Path) -> None:
    """Open (or create) the file and write to it in a transaction that is rolled back."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute('BEGIN IMMEDIATE')
            conn.execute('CREATE TABLE trainboard_write_check (id INTEGER)')  # a file opened read-only fails here
            conn.execute('ROLLBACK')
        finally:
            conn.close()
    except (OSError, sqlite3.Error) as error:
        raise DatabaseUnavailable(f'cannot write the SQLite database {path}: {error}') from None


async def _connect_writable(url: str) -> Any:
    """A connection to the PostgreSQL database, which must accept writes (not a read-only standby)."""
    import asyncpg
    parts = urlsplit(url)
    where = f'{parts.hostname}:{parts.port or 5432}/{parts.path.lstrip("/")}'  # no user or password: logged
    try:
        conn = await asyncpg.connect(asyncpg_dsn(url), timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        raise DatabaseUnavailable(f'cannot connect to PostgreSQL at {where}: {error or type(error).__name__}') from None
    if await conn.fetchval('SHOW transaction_read_only') == 'on':
        await conn.close()
        raise DatabaseUnavailable(f'the PostgreSQL database at {where} is read-only (a standby?)')
    return conn
