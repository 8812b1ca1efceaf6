"""Database wiring: the Tortoise config, migrations at start-up, and the ORM inside the app's lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from tortoise import Tortoise, connections
from tortoise.contrib.fastapi import RegisterTortoise
from tortoise.migrations.api import migrate

log = logging.getLogger(__name__)

POSTGRES_SCHEMES = {'postgres', 'postgresql', 'asyncpg'}
MIGRATION_LOCK_KEY = 0x7472_6169_6E62  # 'trainb': any constant shared by every Trainboard process


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
    """
    if url.startswith('sqlite://') and ':memory:' not in url:
        Path(url.removeprefix('sqlite://')).parent.mkdir(parents=True, exist_ok=True)
    if not is_postgres(url):
        # SQLite alters a column by rebuilding its table; with foreign keys on, dropping the old table would
        # cascade-delete every child row (a project's runs, a run's metrics), so migrate with them off
        await _migrate(url + ('&' if '?' in url else '?') + 'foreign_keys=OFF', target)
        return
    import asyncpg
    lock_conn = await asyncpg.connect(asyncpg_dsn(url))
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
        await migrate_database(url)
        async with RegisterTortoise(app, config=config_for(url)), inner(app_) as state:
            for hook in on_ready:
                await hook()
            try:
                yield state
            finally:
                for hook in reversed(on_close):
                    await hook()

    app.router.lifespan_context = lifespan


async def ping() -> float:
    """Round-trip a trivial query; returns seconds."""
    import time
    start = time.perf_counter()
    await connections.get('default').execute_query('SELECT 1')
    return time.perf_counter() - start


def postgres_schema(url: str) -> str | None:
    """The `schema` query option of a PostgreSQL URL (Tortoise sets it as the search path)."""
    from urllib.parse import parse_qs, urlsplit
    return parse_qs(urlsplit(url).query).get('schema', [None])[0]


async def _migrate(url: str, target: str | None) -> None:
    try:
        await migrate(config=config_for(url), target=target)
    finally:
        await Tortoise.close_connections()


def asyncpg_dsn(url: str) -> str:
    scheme, rest = url.split('://', 1)
    return 'postgresql://' + rest.split('?', 1)[0] if scheme in POSTGRES_SCHEMES else url
