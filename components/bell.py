"""The bell in the header: the user's unread count, the latest notifications in a menu, and a toast in every open tab
of the people an event concerns when it happens.

A hub change of kind 'notification' only says that some came (or were read): each tab re-reads its own user's
through the services (one read per user shared by their tabs) and toasts, from that read, the unread ones newer than
the newest it has seen. Nothing of the change's payload is shown, and every text goes out as text, never markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from nicegui import background_tasks, ui

from components import format, live, session
from components.format import ago
from models import User
from services import hub, notifications
from services.notifications import NotificationView

LATEST = 8  # in the menu; the rest are on /notifications
TOAST_MAX = 3  # toasts for one re-read: a burst of events says how many more instead of filling the screen
WARNING = frozenset({'budget.threshold', 'budget.forecast', 'instance.orphan_terminated', 'run.spot_reclaim'})
NEGATIVE = frozenset({'run.failed', 'run.stopped', 'run.stalled', 'credential.failing'})


@dataclass(frozen=True, slots=True)
class BellState:
    unread: int
    latest: list[NotificationView]


async def read_bell(user: User) -> BellState:
    return BellState(unread=await notifications.unread_count(user),
                     latest=await notifications.listed(user, limit=LATEST))


def toast_type(kind: str) -> str:
    """Red for failures and stops, amber for money, green for success."""
    if kind in NEGATIVE:
        return 'negative'
    if kind in WARNING:
        return 'warning'
    return 'positive' if kind == 'run.succeeded' else 'info'


def target(item: NotificationView) -> str | None:
    """Where a notification leads: its run, else its project."""
    if item.run_id is not None:
        return f'/runs/{item.run_id}'
    return f'/projects/{item.project_id}' if item.project_id is not None else None


def opening(item: NotificationView) -> str | None:
    """The link that marks the notification read and goes where it leads (pages/notifications.open_notification),
    so that following it from the bell, the page or a toast reads it; None when it leads nowhere."""
    return f'/notifications/{item.id}/open' if target(item) else None


def exact_time(item: NotificationView) -> str:
    """What the relative time says exactly, on hover."""
    return format.absolute(item.created_at)


def notification_item(item: NotificationView, *, dense: bool) -> None:
    """The message (as text, bold while unread) and when, the whole of it a calm link where it leads."""
    link = opening(item)
    box = ui.link(target=link) if link else ui.element('div')
    box.classes('grow min-w-0 no-underline text-inherit rounded hover:bg-gray-100 focus:bg-gray-100 '
                'dark:hover:bg-white/10 dark:focus:bg-white/10 q-px-xs'
                + ('' if dense else ' q-py-xs')).mark(f'open-{item.id}')
    with box:
        ui.label(item.message).classes(('text-body2 ' if dense else '') + 'break-words text-grey-10'
                                       + ('' if item.read else ' text-bold'))
        with ui.row().classes('gap-2'):
            when = ui.label(ago(item.created_at)).classes('text-caption text-grey-7')
            when.props['title'] = exact_time(item)
            if not dense:
                ui.label(notifications.KINDS.get(item.kind, item.kind)).classes('text-caption text-grey-6')


def toast_actions(item: NotificationView) -> list[dict[str, object]]:
    """A toast's buttons, in its own text colour (white on red, green and blue; dark on amber, as Quasar writes a
    warning's text): the run (or project) it is about, read as it opens, and Dismiss."""
    color = 'dark' if toast_type(item.kind) == 'warning' else 'white'
    link = opening(item)
    shown = [{'label': 'Open run' if item.run_id is not None else 'Open project', 'href': link,
              'color': color, 'noCaps': True}] if link else []
    return [*shown, {'label': 'Dismiss', 'color': color, 'noCaps': True}]


class Bell:
    """The bell button, its badge and its menu, live in this tab."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.opened_at = datetime.now(UTC)
        self.seen: int | None = None  # the newest notification id this tab has seen; None before its first read
        self.state = BellState(unread=0, latest=[])
        # the button opens the menu from here (not Quasar's own parent click), so its list is built fresh first
        with ui.button(icon='notifications', on_click=self._open) \
                .props('flat round dense color=white aria-label=Notifications').mark('bell') as self.button:
            self.badge = ui.badge('', color='red').props('floating rounded').mark('bell-count')
            self.badge.visible = False
            # on a phone the bell is mid-header: the menu spans the screen under it, not squeezed to its left
            ui.add_css('@media (max-width: 599px) { .tb-bell-menu { left: 8px !important; right: 8px !important; '
                       'width: auto !important; max-width: none !important; } }')
            with ui.menu().props('no-parent-event anchor="bottom right" self="top right"') \
                    .classes('tb-bell-menu w-96 max-w-[95vw]') as self.menu:
                self.list = ui.column().classes('w-full gap-0 p-2')
        self.rereads = live.Rereads(lambda _key: read_bell(user), self._show, shared_by=('bell', user.id))
        live.on_change(self._apply)
        # read now, not once connected: a page that waits for its connection is sent before it is built (NiceGUI);
        # a toast made meanwhile waits in the tab's outbox
        client = ui.context.client

        async def first_read() -> None:
            with client:
                await self.rereads.ask(0)
        background_tasks.create(first_read(), name='bell: first read')

    def _apply(self, change: hub.Change):
        if change.kind != 'notification':
            return None
        if change.action == 'read' and change.data.get('user_id') not in (None, self.user.id):
            return None  # someone else's were read: nothing here changed (a hint only ever saves a read)
        return self.rereads.ask(0)

    def _show(self, _key: int, state: BellState) -> None:
        self.state = state
        self.badge.set_text('99+' if state.unread > 99 else str(state.unread))
        self.badge.visible = state.unread > 0
        newest = max((item.id for item in state.latest), default=0)
        if self.seen is None:  # the first read: what came before the tab opened is not news
            self.seen = max((item.id for item in state.latest if item.created_at < self.opened_at), default=0)
        fresh = [item for item in reversed(state.latest) if item.id > self.seen and not item.read]
        self.seen = max(self.seen, newest)
        for item in fresh[:TOAST_MAX]:
            ui.notify(item.message, type=toast_type(item.kind), position='bottom-right', multi_line=True,
                      timeout=10_000, actions=toast_actions(item))
        if len(fresh) > TOAST_MAX:
            ui.notify(f'and {len(fresh) - TOAST_MAX} more: see the bell', position='bottom-right')
        if self.menu.value:
            self._render()

    def _open(self) -> None:
        if self.menu.value:
            self.menu.close()
            return
        self._render()
        self.menu.open()

    def _render(self) -> None:
        """The menu's list, built when it opens (so its times are fresh) and again while it is open."""
        self.list.clear()
        with self.list:
            with ui.row().classes('w-full items-center justify-between no-wrap'):
                ui.label('Notifications').classes('text-subtitle1 text-bold')
                ui.button('Mark all read', on_click=self._mark_all).props('flat dense no-caps') \
                    .mark('bell-mark-all').set_visibility(self.state.unread > 0)
            if not self.state.latest:
                ui.label('Nothing yet.').classes('text-grey-7 q-pa-sm')
            for item in self.state.latest:
                self._item(item)
            ui.separator()
            ui.link('All notifications', '/notifications').classes('q-pa-sm')

    def _item(self, item: NotificationView) -> None:
        with ui.row().classes('w-full items-start no-wrap gap-2 q-py-xs').mark(f'bell-item-{item.id}'):
            # unread: a dot and bold text (a screen reader hears "unread" from the dot's title)
            ui.icon('circle', size='10px', color='primary' if not item.read else 'transparent') \
                .classes('q-mt-xs').props(f'title={"unread" if not item.read else "read"}')
            notification_item(item, dense=True)
            if not item.read:
                ui.button(icon='done', on_click=lambda i=item.id: self._mark([i])) \
                    .props('flat round dense size=sm aria-label="Mark read"').tooltip('Mark read') \
                    .mark(f'bell-read-{item.id}')

    async def _mark_all(self) -> None:
        await self._mark(None)

    async def _mark(self, ids: list[int] | None) -> None:
        if (actor := await session.current_user()) is None:
            return
        await notifications.mark_read(actor, ids)  # its change re-reads every tab of this user, this one too
