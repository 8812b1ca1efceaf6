from collections.abc import Callable

from nicegui import Client, ui

from services import hub


def on_change(handler: Callable[[hub.Change], None]) -> None:
    """Apply every hub change to this tab with `handler`, for as long as the tab lives."""
    client = ui.context.client

    def apply(change: hub.Change) -> None:
        # a tab that went away before NiceGUI's own clean-up ran (or whose app was reset, between tests)
        if client.is_deleted or client.id not in Client.instances:
            hub.changes.unsubscribe(apply)
            return
        handler(change)

    hub.changes.subscribe(apply)
