"""The live hub: writers publish a small change after they commit; every open tab applies it.

In one process a NiceGUI `Event` hands each change to the subscribed tabs, each handler running in its own tab's
context. On PostgreSQL the change also goes out through `NOTIFY`, and every other Trainboard process re-emits what it
hears on its dedicated `LISTEN` connection, so a tab sees changes made by any process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from nicegui import Event, background_tasks
from tortoise import connections

from services.database import asyncpg_dsn, is_postgres, postgres_schema

log = logging.getLogger(__name__)

CHANNEL = 'trainboard_changes'  # one channel per database schema: installations sharing a server stay apart
NOTIFY_LIMIT = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more
ORIGIN = uuid.uuid4().hex  # this process; lets a listener skip its own notifications


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    kind: str  # 'project', 'run', 'membership', ...
    action: str  # 'created', 'updated', 'deleted'
    id: int
    project_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)  # a JSON-able snapshot, so tabs need not read the DB


changes: Event[Change] = Event()


async def publish(change: Change) -> None:
    """Hand `change` to every tab of every process. Call only after the transaction that made it has committed."""
    changes.emit(change)
    if _listener.dsn is not None:
        await _notify(change)


async def start(database_url: str) -> None:
    """Listen for other processes' changes when the database is PostgreSQL (no-op on SQLite: one process)."""
    if is_postgres(database_url):
        _listener.dsn = asyncpg_dsn(database_url)
        schema = postgres_schema(database_url)
        _listener.channel = f'{CHANNEL}_{schema}' if schema else CHANNEL
        _listener.task = background_tasks.create(_listener.run(), name='hub-listener')


async def stop() -> None:
    if _listener.task is not None:
        _listener.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await _listener.task
    _listener.task = None
    _listener.dsn = None


async def _notify(change: Change) -> None:
    payload = json.dumps({'origin': ORIGIN, **asdict(change)}, default=str)
    if len(payload.encode()) > NOTIFY_LIMIT:  # too big for NOTIFY: send the reference, listeners re-read
        payload = json.dumps({'origin': ORIGIN, **asdict(change), 'data': {'truncated': True}})
    try:
        await connections.get('default').execute_query('SELECT pg_notify($1, $2)', [_listener.channel, payload])
    except Exception:  # the local tabs already have it; other processes catch up on their next change
        log.exception('could not notify other processes of %s %s %s', change.kind, change.action, change.id)


class _Listener:
    def __init__(self) -> None:
        self.dsn: str | None = None
        self.task: asyncio.Task | None = None
        self.channel = CHANNEL
        self.connected = False

    async def run(self) -> None:
        import asyncpg
        failing = False
        while True:
            try:
                conn = await asyncpg.connect(self.dsn)
                try:
                    await conn.add_listener(self.channel, self._on_notify)
                    self.connected = True
                    if failing:
                        log.info('live hub: listening to other processes again')
                        failing = False
                    while not conn.is_closed():
                        await asyncio.sleep(1)
                finally:
                    self.connected = False
                    with contextlib.suppress(Exception):
                        await conn.close()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # logged once when it starts failing, not on every retry
                if not failing:
                    log.warning('live hub: lost the LISTEN connection (%s); retrying', error)
                    failing = True
            await asyncio.sleep(1)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        message = json.loads(payload)
        if message.pop('origin', None) == ORIGIN:
            return
        changes.emit(Change(**message))


_listener = _Listener()


def listening() -> bool | None:
    """True/False for the cross-process listener's state; None when there is none (SQLite)."""
    return None if _listener.dsn is None else _listener.connected
