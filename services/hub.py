"""The live hub: writers publish a small change after they commit; every subscriber in every process hears it.

A change says what changed (its kind and ids) and may carry a few small fields or a batch of new metric points,
never anything a listener must trust whole: listeners re-read what they show through the services. In one process
the hub calls its subscribers in turn (components/live.py hands the changes on to the open tabs). On PostgreSQL the
change also goes out through `NOTIFY`, and every other Trainboard process hands on what it hears on its dedicated
`LISTEN` connection, so a tab sees changes made by any process. A change too big for `NOTIFY` goes without its data.

No UI framework here: the hub is a service, pages and components subscribe to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from tortoise import connections

from services.database import asyncpg_dsn, is_postgres, postgres_schema

log = logging.getLogger(__name__)

CHANNEL = 'trainboard_changes'  # one channel per database schema: installations sharing a server stay apart
NOTIFY_LIMIT = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more
ORIGIN = uuid.uuid4().hex  # this process; lets a listener skip its own notifications


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    kind: str  # 'project', 'run', 'metrics', 'user', ...
    action: str  # 'created', 'updated', 'deleted', ...
    id: int
    project_id: int | None = None
    # a hint, JSON-able: a few small fields, or new metric points; it may arrive empty (too big for NOTIFY)
    data: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Change], None]
_subscribers: list[Subscriber] = []


def subscribe(callback: Subscriber) -> None:
    """Call `callback` with every change from this process and, on PostgreSQL, from the others. It must return
    quickly (start a task for slow work); an exception it raises is logged and does not reach the publisher."""
    _subscribers.append(callback)


def unsubscribe(callback: Subscriber) -> None:
    with contextlib.suppress(ValueError):
        _subscribers.remove(callback)


async def publish(change: Change) -> None:
    """Hand `change` to every subscriber of every process. Call only after the transaction that made it committed."""
    _deliver(change)
    if _listener.dsn is not None:
        await _notify(change)


async def start(database_url: str) -> None:
    """Listen for other processes' changes when the database is PostgreSQL (no-op on SQLite: one process)."""
    if is_postgres(database_url):
        _listener.dsn = asyncpg_dsn(database_url)
        schema = postgres_schema(database_url)
        _listener.channel = f'{CHANNEL}_{schema}' if schema else CHANNEL
        _listener.task = asyncio.create_task(_listener.run(), name='hub-listener')


async def stop() -> None:
    if _listener.task is not None:
        _listener.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await _listener.task
    _listener.task = None
    _listener.dsn = None


def listening() -> bool | None:
    """True/False for the cross-process listener's state; None when there is none (SQLite)."""
    return None if _listener.dsn is None else _listener.connected


def _deliver(change: Change) -> None:
    for callback in list(_subscribers):  # a callback may unsubscribe itself
        try:
            callback(change)
        except Exception:  # one broken subscriber must not keep the change from the others, nor fail the writer
            log.exception('live hub: a subscriber failed on %s %s %s', change.kind, change.action, change.id)


async def _notify(change: Change) -> None:
    try:
        await connections.get('default').execute_query('SELECT pg_notify($1, $2)',
                                                       [_listener.channel, _payload(change)])
    except Exception:  # the local tabs already have it; other processes catch up on their next change
        log.exception('could not notify other processes of %s %s %s', change.kind, change.action, change.id)


def _payload(change: Change) -> str:
    """The change as NOTIFY's text; without its data when that is too big (the ids go, listeners re-read the rest).
    orjson and no copy of the data (dataclasses.asdict copies it deeply): a report of 1,000 points is published on
    every write, and the stdlib's copy and encoding of its points took a third of the server's time for that write."""
    head = {'origin': ORIGIN, 'kind': change.kind, 'action': change.action, 'id': change.id,
            'project_id': change.project_id}
    payload = orjson.dumps({**head, 'data': change.data}, default=str, option=orjson.OPT_NON_STR_KEYS)
    if len(payload) > NOTIFY_LIMIT:
        payload = orjson.dumps({**head, 'data': {}}, default=str)
    return payload.decode()


def _parsed(payload: str) -> Change | None:
    """The change in another process's notification; None for our own, or for one this version cannot read."""
    try:
        message = json.loads(payload)
        if message.get('origin') == ORIGIN:
            return None
        data = message.get('data')
        return Change(kind=str(message['kind']), action=str(message['action']), id=int(message['id']),
                      project_id=None if message.get('project_id') is None else int(message['project_id']),
                      data=data if isinstance(data, dict) else {})
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning('live hub: ignored a notification it cannot read: %.200s', payload)
        return None


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
        if (change := _parsed(payload)) is not None:
            _deliver(change)


_listener = _Listener()
