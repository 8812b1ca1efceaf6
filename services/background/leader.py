"""Which process does the work that must happen once per installation: polling providers, enforcing budgets.

On PostgreSQL several processes share one database; the leader is the one holding a session advisory lock on a
dedicated connection. When it dies, its connection closes, the lock goes with it, and the next process to ask takes
over. On SQLite there is one process, and it leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from services.database import asyncpg_dsn, is_postgres, postgres_schema

log = logging.getLogger(__name__)


async def start(database_url: str) -> None:
    if is_postgres(database_url):
        _lock.dsn = asyncpg_dsn(database_url)
        _lock.key = lock_key(postgres_schema(database_url) or '')


async def stop() -> None:
    await _lock.release()
    _lock.dsn = None


async def is_leader() -> bool:
    """Whether this process leads now; asks for the lock if it does not hold it."""
    return True if _lock.dsn is None else await _lock.hold()


def only_on_leader(job: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
    """`job` as a scheduler job that runs in the leading process only."""
    @functools.wraps(job)  # named as the job in the scheduler's log
    async def run_if_leader() -> None:
        if await is_leader():
            await job()
    return run_if_leader


def status() -> bool | None:
    """True/False whether this process leads; None when there is nothing to lead over (SQLite)."""
    return None if _lock.dsn is None else bool(_lock.held)


def lock_key(schema: str) -> int:
    """A 64-bit advisory lock key per schema: installations sharing a PostgreSQL server elect leaders apart."""
    digest = hashlib.sha256(f'trainboard-leader:{schema}'.encode()).digest()
    return int.from_bytes(digest[:8], 'big', signed=True)


class _Lock:
    def __init__(self) -> None:
        self.dsn: str | None = None
        self.key = 0
        self.connection: Any = None
        self.held: bool | None = None  # None until first asked, so that the first answer is logged too
        self.asking = asyncio.Lock()

    async def hold(self) -> bool:
        async with self.asking:  # several jobs ask at once; one connection answers one query at a time
            return await self._hold()

    async def _hold(self) -> bool:
        import asyncpg
        try:
            if self.connection is None or self.connection.is_closed():
                if self.held:
                    log.warning('lost the leader lock with its connection: another process may take over')
                    self.held = False
                self.connection = await asyncpg.connect(self.dsn, timeout=5)
            if self.held:
                await self.connection.fetchval('SELECT 1', timeout=5)  # still connected, so still holding it
            else:
                self._flip(bool(await self.connection.fetchval('SELECT pg_try_advisory_lock($1)', self.key,
                                                               timeout=5)))
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            if self.held:
                log.warning('lost the leader lock (%s): another process may take over', error)
            self.held = False
            await self.release()
        return bool(self.held)

    async def release(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await self.connection.close()  # closing the session releases the lock
        self.connection = None
        self.held = False

    def _flip(self, held: bool) -> None:
        if held is not self.held:  # logged when it changes, not on every tick
            log.info('this process %s the background work (leader lock %s)', 'now leads' if held else 'follows',
                     'taken' if held else 'held elsewhere')
        self.held = held


_lock = _Lock()
