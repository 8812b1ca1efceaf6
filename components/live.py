"""Live updates in the open tabs: the hub's changes handed to each tab in its own context, and re-reads that keep up.

A change only says what changed (services/hub.py). A tab re-reads through the services what it shows when a change
concerns it. `Rereads` keeps that cheap: a burst of changes is one read more, not one per change, and the tabs of
one user in this process share a read, so that twenty open tabs cost one read per change, not twenty.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from nicegui import Client, Event, ui

from services import hub

Key = TypeVar('Key', bound=Hashable)
Value = TypeVar('Value')
Handler = Callable[[hub.Change], Awaitable[None] | None]

# NiceGUI's Event runs each handler in the slot of the tab that subscribed it (so `ui.notify` and element changes go
# to that tab), starts async handlers as tasks of that tab, and forgets a tab's handlers when the tab goes
_changes: Event[hub.Change] = Event()
_subscribed = False
_received = 0  # changes this process has handed to its tabs: a read begun after the n-th one reflects it
_reads: dict[Hashable, tuple[int, asyncio.Task]] = {}  # reads under way, shared, with the change count they began at


def on_change(handler: Handler) -> None:
    """Apply every hub change to this tab with `handler` (plain or async), for as long as the tab lives."""
    global _subscribed
    if not _subscribed:  # one hub subscriber for the process; the tabs subscribe to the event
        hub.subscribe(_emit)
        _subscribed = True
    client = ui.context.client

    def apply(change: hub.Change) -> Awaitable[None] | None:
        # a tab that went away before NiceGUI's own clean-up ran (or whose app was reset, between tests)
        if client.is_deleted or client.id not in Client.instances:
            _changes.unsubscribe(apply)
            return None
        return handler(change)

    _changes.subscribe(apply)


class Rereads(Generic[Key, Value]):
    """Re-reads of what a tab shows, by key (a run's id, a project's id): `fetch` reads through the services, `show`
    puts the result on screen. One read at a time per tab; a key asked for again while being read is read once more
    after, so that the tab ends on the latest state. Tabs that give the same `shared_by` (the kind of read and the
    user's id: what the result depends on) share a read that began after the change they answer."""

    def __init__(self, fetch: Callable[[Key], Awaitable[Value]], show: Callable[[Key, Value], Any], *,
                 shared_by: Hashable | None = None) -> None:
        self.fetch, self.show = fetch, show
        self.shared_by = shared_by if shared_by is not None else object()  # not shared
        self.pending: dict[Key, int] = {}  # key -> the change count its read must reflect
        self.reading = False

    async def ask(self, key: Key) -> None:
        """Read `key` again; returns when every read asked for so far is shown, or at once if another call reads."""
        self.pending[key] = _received
        if self.reading:
            return
        self.reading = True
        try:
            while self.pending:
                key = next(iter(self.pending))
                needed = self.pending.pop(key)
                self.show(key, await _shared((self.shared_by, key), needed, lambda k=key: self.fetch(k)))
        finally:
            self.reading = False


def _emit(change: hub.Change) -> None:
    global _received
    _received += 1
    _changes.emit(change)


async def _shared(key: Hashable, needed: int, fetch: Callable[[], Awaitable[Value]]) -> Value:
    """`fetch()`'s result from a read that began once `needed` changes had arrived: joined if one is under way."""
    entry = _reads.get(key)
    if entry is None or entry[0] < needed:
        task = asyncio.create_task(fetch())
        entry = _reads[key] = (_received, task)
        task.add_done_callback(lambda done: _forget(key, entry, done))
    # shielded: a tab that goes away mid-read cancels its own wait, not the read the other tabs wait for
    return await asyncio.shield(entry[1])


def _forget(key: Hashable, entry: tuple[int, asyncio.Task], task: asyncio.Task) -> None:
    if _reads.get(key) is entry:
        del _reads[key]
    if not task.cancelled():
        with contextlib.suppress(Exception):
            task.exception()  # retrieved: every tab that waited for it has it already
