"""Database wiring: the Tortoise config, migrations at start-up, and the ORM inside the app's lifespan."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI
from tortoise import Tortoise, connections
from tortoise.contrib.fastapi import RegisterTortoise
from tortoise.migrations.api import migrate

log = logging.getLogger(__name__)

POSTGRES_SCHEMES = {'postgres', 'postgresql', 'asyncpg'}
MIGRATION_LOCK_KEY = 0x7472_6169_6E62  # 'trainb': any constant shared by every Trainboard process
CONNECT_TIMEOUT_S = 5.0  # a PostgreSQL host that does not answer at start-up (asyncpg would wait 60 s)
EXIT_DATABASE_UNAVAILABLE = 2


class DatabaseUnavailable(Exception):
    """The database cannot be opened or written; the message says which and why (never with a password)."""


def config_for(url: str) -> dict[str, Any]:
    return {
        'connections': {'default': url},
        'apps': {'models': {'models': ['models'], 'migrations': 'models.migrations', 'default_connection': 'default'}},
        'use_tz': True,
        'timezone': 'UTC',
    }


# what the `tortoise` CLI uses for `makemigrations` (see [tool.tortoise] in pyproject.toml)
MIGRATIONS_CONFIG = config_for('sqlite://:memory:')


def is_postgres(url: str) -> bool:
    return url.split(':', 1)[0] in POSTGRES_SCHEMES


async def migrate_database(url: str, *, target: str | None = None) -> None:
    """Bring the database to the latest schema (or to `target`, e.g. 'models.0001_initial').

    On PostgreSQL several processes may start at once; a session advisory lock makes them migrate one after the other.
    Raises DatabaseUnavailable when the database cannot be opened or written: checked first, because Tortoise
    waits forever on a connection whose set-up failed once (it keeps the connection lock), e.g. a read-only file.
    """
    if not is_postgres(url):
        if ':memory:' not in url:
            await asyncio.to_thread(_check_sqlite_writable, Path(url.removeprefix('sqlite://').split('?', 1)[0]))
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


def register(app: FastAPI, url: str, *,
             on_ready: Sequence[Callable[[], Awaitable[None]]] = (),
             on_close: Sequence[Callable[[], Awaitable[None]]] = ()) -> None:
    """Migrate and open the ORM before NiceGUI starts, run `on_ready` once it has; `on_close` in reverse at the end.

    This wraps the app's lifespan (not `app.on_startup`, whose async handlers NiceGUI does not await), and uses
    RegisterTortoise for its global context fallback, without which a real server answers 500 (stack notes, 2).
    """
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Any]:
        try:
            await migrate_database(url)
        except DatabaseUnavailable as error:
            # one line saying why, and out now: raised on, it would become a page of traceback in the log
            log.critical('Trainboard cannot start: %s', error)
            logging.shutdown()
            os._exit(EXIT_DATABASE_UNAVAILABLE)
        async with RegisterTortoise(app, config=config_for(url)), inner(app_) as state:
            for hook in on_ready:
                await hook()
            try:
                yield state
            finally:
                for hook in reversed(on_close):
                    await hook()

    app.router.lifespan_context = lifespan


async def ping(timeout_s: float = 2.0) -> float:
    """Round-trip a trivial query on one of our tables (so a database whose tables are gone fails it too); seconds.
    Raises TimeoutError after `timeout_s`, or the driver's error."""
    import time
    start = time.perf_counter()
    await asyncio.wait_for(connections.get('default').execute_query('SELECT 1 FROM users LIMIT 1'), timeout_s)
    return time.perf_counter() - start


def postgres_schema(url: str) -> str | None:
    """The `schema` query option of a PostgreSQL URL (Tortoise sets it as the search path)."""
    return parse_qs(urlsplit(url).query).get('schema', [None])[0]


async def _migrate(url: str, target: str | None) -> None:
    try:
        await migrate(config=config_for(url), target=target)
    finally:
        await Tortoise.close_connections()


def asyncpg_dsn(url: str) -> str:
    scheme, rest = url.split('://', 1)
    return 'postgresql://' + rest.split('?', 1)[0] if scheme in POSTGRES_SCHEMES else url


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
