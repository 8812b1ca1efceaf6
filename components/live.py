"""Live updates in the open tabs: the hub's changes handed to each tab in its own context, and re-reads that keep up.

A change only says what changed (services/hub.py). A tab re-reads through the services what it shows when a change
concerns it; `Rereads` keeps a burst of changes from turning into a burst of reads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from nicegui import Client, Event, ui

from services import hub

Key = TypeVar('Key', bound=Hashable)
Handler = Callable[[hub.Change], Awaitable[None] | None]

# NiceGUI's Event runs each handler in the slot of the tab that subscribed it (so `ui.notify` and element changes go
# to that tab), starts async handlers as tasks of that tab, and forgets a tab's handlers when the tab goes
_changes: Event[hub.Change] = Event()
_subscribed = False


def on_change(handler: Handler) -> None:
    """Apply every hub change to this tab with `handler` (plain or async), for as long as the tab lives."""
    global _subscribed
    if not _subscribed:  # one hub subscriber for the process; the tabs subscribe to the event
        hub.subscribe(_changes.emit)
        _subscribed = True
    client = ui.context.client

    def apply(change: hub.Change) -> Awaitable[None] | None:
        # a tab that went away before NiceGUI's own clean-up ran (or whose app was reset, between tests)
        if client.is_deleted or client.id not in Client.instances:
            _changes.unsubscribe(apply)
            return None
        return handler(change)

    _changes.subscribe(apply)


class Rereads(Generic[Key]):
    """Re-reads of what a tab shows, by key (a run's id, a project's id): one at a time; a key asked for again while
    being read is read once more after, so that the tab ends on the latest state and a burst costs two reads."""

    def __init__(self, read: Callable[[Key], Awaitable[None]]) -> None:
        self.read = read
        self.pending: dict[Key, None] = {}  # ordered, without repeats
        self.reading = False

    async def ask(self, key: Key) -> None:
        """Read `key` soon; returns when every read asked for so far is done, or at once if another call reads."""
        self.pending[key] = None
        if self.reading:
            return
        self.reading = True
        try:
            while self.pending:
                key = next(iter(self.pending))
                del self.pending[key]
                await self.read(key)
        finally:
            self.reading = False
