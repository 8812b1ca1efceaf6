"""/notifications: all of the user's notifications, a page at a time, newest first, with an unread filter and
mark-as-read; live, like the bell (components/bell.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from fastapi.responses import RedirectResponse
from nicegui import ui

from components import live, session
from components.bell import notification_item, target
from components.frame import frame
from models import User
from services import hub, notifications
from services.notifications import NotificationView

PAGE = 25

Page = tuple[bool, int | None]  # (unread only, before: the id the page starts below; None for the newest)


@dataclass(frozen=True, slots=True)
class Listing:
    items: list[NotificationView]
    more: bool  # older ones follow
    unread: int


async def read_listing(user: User, page: Page) -> Listing:
    unread, before = page
    items = await notifications.listed(user, unread=unread, before=before, limit=PAGE + 1)
    return Listing(items=items[:PAGE], more=len(items) > PAGE, unread=await notifications.unread_count(user))


@ui.page('/notifications')
async def notifications_page() -> None:
    user = await session.current_user()
    if user is None:
        return
    starts: list[int | None] = [None]  # where each page shown so far began: "Newer" goes back one

    def current() -> Page:
        return bool(only_unread.value), starts[-1]

    def show(page: Page, listing: Listing) -> None:
        if page != current():  # the user moved on while it was read
            return
        # none at all (a new user): one friendly empty state, no count, filter, paging or mark-all
        nothing = not listing.items and not page[0] and len(starts) == 1
        summary.set_text('' if nothing else f'{listing.unread} unread' if listing.unread else 'All read.')
        mark_all.set_visibility(listing.unread > 0)
        only_unread.set_visibility(not nothing)
        rows.clear()
        with rows:
            if nothing:
                with ui.column().classes('w-full items-center gap-1 q-py-xl text-center').mark('notifications-empty'):
                    ui.icon('notifications_none', size='48px', color='grey-5')
                    ui.label('No notifications yet.').classes('text-subtitle1')
                    ui.label('When a run ends, stalls or a budget alert fires, it shows here and on the bell.') \
                        .classes('text-grey-7')
            elif not listing.items:
                ui.label('No unread notifications.' if page[0] else 'Nothing older.').classes('text-grey-7')
            for item in listing.items:
                _row(item, mark)
        newer.set_enabled(len(starts) > 1)
        older.set_enabled(listing.more)
        paging.set_visibility(len(starts) > 1 or listing.more)
        state['last'] = listing.items[-1].id if listing.items else None

    rereads = live.Rereads(partial(read_listing, user), show, shared_by=('notifications page', user.id))
    state: dict[str, int | None] = {'last': None}  # the oldest id shown: where "Older" starts

    def apply(change: hub.Change):
        if change.kind != 'notification':
            return None
        if change.action == 'read' and change.data.get('user_id') not in (None, user.id):
            return None
        return rereads.ask(current())

    async def go_older() -> None:
        if state['last'] is not None:
            starts.append(state['last'])
            await rereads.ask(current())

    async def go_newer() -> None:
        if len(starts) > 1:
            starts.pop()
            await rereads.ask(current())

    async def filter_changed() -> None:
        del starts[1:]
        await rereads.ask(current())

    async def mark(ids: list[int] | None) -> None:
        if (actor := await session.current_user()) is None:
            return
        marked = await notifications.mark_read(actor, ids)  # its change re-reads this page and the bells
        if ids is None:
            ui.notify(f'Marked {marked} read.' if marked else 'Nothing was unread.', type='positive')

    with frame('Notifications', user):
        with ui.row().classes('w-full items-center justify-between'):
            with ui.row().classes('items-baseline gap-3'):
                ui.label('Notifications').classes('text-h5')
                summary = ui.label().classes('text-grey-7')
            with ui.row().classes('items-center gap-2'):
                only_unread = ui.switch('Unread only', on_change=filter_changed)
                mark_all = ui.button('Mark all read', on_click=lambda: mark(None)).props('outline')
        rows = ui.column().classes('w-full gap-0')
        with ui.row().classes('w-full justify-between') as paging:
            newer = ui.button('Newer', icon='chevron_left', on_click=go_newer).props('flat')
            older = ui.button('Older', on_click=go_older).props('flat icon-right=chevron_right')
        ui.link('Choose which events reach you, and where', '/settings#notifications').classes('text-caption')
    live.on_change(apply)
    await rereads.ask(current())


def _row(item: NotificationView, mark: Callable[[list[int] | None], Awaitable[None]]) -> None:
    with ui.row().classes('w-full items-center no-wrap gap-3 q-py-sm border-b border-gray-300') \
            .mark(f'notification-{item.id}'):
        ui.icon('circle', size='10px', color='primary' if not item.read else 'transparent') \
            .props(f'title={"unread" if not item.read else "read"}')
        notification_item(item, dense=False)
        if not item.read:
            ui.button('Mark read', on_click=lambda i=item.id: mark([i])).props('flat dense no-caps') \
                .classes('whitespace-nowrap').mark(f'mark-read-{item.id}')


@ui.page('/notifications/{notification_id}/open')
async def open_notification(notification_id: int) -> RedirectResponse | None:
    """Follow a notification (from the bell, this page or a toast): it is read, and the browser goes where it leads."""
    user = await session.current_user()
    if user is None:
        return None
    item = await notifications.opened(user, notification_id)
    return RedirectResponse((target(item) if item else None) or '/notifications', status_code=303)
