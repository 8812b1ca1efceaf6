"""A run's log on its page: the newest lines, older pages as the reader scrolls up (or asks), a search and a level
filter done by the server (services/run_logs), each line's time in the viewer's zone, following the newest lines
while the run writes them, the whole log as a download, and a word on where lines come from while there are none.

Live: the hub's 'metrics' changes say that lines came; at the next flush the viewer reads what came after the
newest line it shows (with ids, times and levels), so a tab shows each line once, in order, whatever it missed.
"""

from __future__ import annotations

from nicegui import ui
from nicegui.events import GenericEventArguments

from components import format
from models import User
from services import run_logs
from services.errors import ServiceError

SHOWN_MAX = 2000  # lines kept on the page: beyond it, the far end is dropped and read again when asked for
LEVEL_CHOICES = {'': 'All levels', 'debug': 'Debug and up', 'info': 'Info and up', 'warning': 'Warnings and errors',
                 'error': 'Errors'}
LEVEL_CLASSES = {'debug': 'text-grey-6', 'warning': 'text-orange-9', 'error': 'text-negative text-bold',
                 'critical': 'text-negative text-bold'}
CSS = '''
.tb-log { height: 24rem; background: #f7f8fa; outline: 1px solid #e3e6ea; border-radius: 4px; }
.tb-log .q-scrollarea__content { padding: 0.5rem; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas,
  "Liberation Mono", monospace; font-size: 12.5px; line-height: 1.45; }
.tb-log-line { white-space: pre-wrap; overflow-wrap: anywhere; padding-left: 9ch; text-indent: -9ch; }
.tb-log-line::before { content: attr(data-t); color: #8a9099; margin-right: 1ch; font-weight: normal; }
@media (max-width: 599px) { .tb-log { height: 60vh; } }
.body--dark .tb-log { background: #1c1f24; outline-color: #3a3f47; }
@layer overrides { .body--dark .tb-log .text-orange-9 { color: #ffb74d !important; } }
'''


class LogBox(ui.element, component='log_box.js'):
    """The scrolling lines (Labels, each its text as text, never markup)."""

    def __init__(self) -> None:
        super().__init__()
        self.classes('tb-log w-full')
        self._props['follow'] = True


class LogViewer(ui.column):
    def __init__(self, user: User, run_id: int) -> None:
        super().__init__()
        self.user, self.run_id = user, run_id
        self.where = run_logs.Filter()
        self.oldest_id: int | None = None  # the oldest and newest line shown (of those matching the filter)
        self.newest_id: int | None = None
        self.more_before = False
        self.at_tail = True  # the newest lines are shown (not when older pages pushed them out): live lines append
        self.behind = False  # lines came since the last flush
        self.loading = False
        ui.add_css(CSS)
        self.classes('w-full gap-2 min-w-0')
        with self:
            with ui.row().classes('w-full items-center gap-x-3 gap-y-1'):
                ui.label('Log').classes('text-h6')
                self.tools = ui.row().classes('grow items-center gap-x-3 gap-y-1 min-w-0')
            with self.tools:
                self.search = ui.input(placeholder='Search the log', on_change=self._search_changed) \
                    .props(f'dense outlined clearable debounce=400 maxlength={run_logs.MAX_QUERY_CHARS}') \
                    .classes('grow min-w-[10rem] max-w-xs').mark('log-search')
                with self.search.add_slot('prepend'):
                    ui.icon('search')
                self.level = ui.select(LEVEL_CHOICES, value='', on_change=self._level_changed) \
                    .props('dense outlined options-dense').classes('w-44').mark('log-level')
                self.follow = ui.switch('Follow', value=True, on_change=self._follow_changed) \
                    .props('dense').tooltip('Scroll to new lines as they arrive')
                with ui.button(icon='download').props(f'flat dense no-caps href=/runs/{run_id}/log/download') \
                        .tooltip('The whole log as a text file, with times').mark('log-download') as download:
                    ui.label('Download').classes('q-ml-xs max-sm:hidden')  # a phone's row keeps the icon
                download._props['aria-label'] = 'Download the log'
            with ui.row().classes('w-full items-center gap-3') as self.paging:
                self.earlier = ui.button('Load earlier lines', icon='expand_less', on_click=self.load_earlier) \
                    .props('flat dense no-caps size=sm')
                self.newest = ui.button('Back to the newest lines', icon='expand_more', on_click=self.reload) \
                    .props('flat dense no-caps size=sm')
                self.note = ui.label().classes('text-caption text-grey-7')
            self.box = LogBox()
            self.box.on('top', self.load_earlier)
            self.box.on('unfollow', self._unfollow)
            with ui.column().classes('w-full items-center gap-1 q-pa-lg rounded-borders bg-grey-1') as self.empty:
                ui.icon('notes', size='md').classes('text-grey-5')
                self.empty_title = ui.label('No log lines yet').classes('text-subtitle1 text-grey-8')
                self.empty_hint = ui.label().classes('text-caption text-grey-7 text-center')
        self._show_controls()

    async def reload(self) -> None:
        """Show the newest page of lines that match the filter."""
        try:
            page = await run_logs.read(self.user, self.run_id, where=self.where)
        except ServiceError as error:
            ui.notify(error.message, type='negative')
            return
        self.box.clear()
        self.oldest_id = self.newest_id = None
        self.at_tail, self.behind, self.more_before = True, False, page.more_before
        self._append(page.lines)
        self._show_controls()

    async def load_earlier(self) -> None:
        """The page of lines before the oldest shown, above it; the reader's place stays where it was."""
        if self.loading or not self.more_before or self.oldest_id is None:
            return
        self.loading = True
        try:
            page = await run_logs.read(self.user, self.run_id, before_id=self.oldest_id, where=self.where)
        except ServiceError as error:
            ui.notify(error.message, type='negative')
            return
        finally:
            self.loading = False
        for index, line in enumerate(page.lines):
            with self.box:
                self._line(line).move(self.box, target_index=index)
        if page.lines:
            self.oldest_id = page.lines[0].id
        self.more_before = page.more_before
        while len(self.box.default_slot.children) > SHOWN_MAX:  # the newest go; read again when asked for
            self.box.remove(len(self.box.default_slot.children) - 1)
            self.at_tail = False
        if not self.at_tail:
            self.newest_id = self._id_of(self.box.default_slot.children[-1])
        self._show_controls()

    def take(self) -> None:
        """A hub change said that the run wrote lines: read them at the next flush."""
        self.behind = True

    async def flush(self) -> None:
        if not self.behind or not self.at_tail:
            return
        self.behind = False
        try:
            page = await run_logs.read(self.user, self.run_id, after_id=self.newest_id or 0,
                                       limit=SHOWN_MAX, where=self.where)
        except ServiceError:  # no longer this user's to see: the frame follows access changes
            return
        if len(page.lines) == SHOWN_MAX:  # more came in a second than the page keeps: show the newest
            await self.reload()
            return
        self._append(page.lines)
        self._show_controls()

    def _append(self, lines: list[run_logs.Line]) -> None:
        with self.box:
            for line in lines:
                self._line(line)
        if lines:
            self.newest_id = lines[-1].id
            if self.oldest_id is None:
                self.oldest_id = lines[0].id
        children = self.box.default_slot.children
        if len(children) > SHOWN_MAX:  # the oldest go; "Load earlier lines" reads them again
            for _ in range(len(children) - SHOWN_MAX):
                self.box.remove(0)
            self.oldest_id = self._id_of(self.box.default_slot.children[0])
            self.more_before = True

    def _line(self, line: run_logs.Line) -> ui.label:
        label = ui.label(line.line).classes('tb-log-line ' + LEVEL_CLASSES.get(line.level or '', ''))
        label._props['data-t'] = format.clock_time(line.time)
        label._props['data-id'] = line.id
        label._props['title'] = format.absolute(format.local(line.time)) + (f' · {line.level}' if line.level else '')
        return label

    @staticmethod
    def _id_of(label: object) -> int:
        return int(label._props['data-id'])  # type: ignore[attr-defined]

    def _show_controls(self) -> None:
        shown = len(self.box.default_slot.children)
        self.tools.set_visibility(shown > 0 or self.where.active)  # nothing to search, follow or download yet
        self.box.set_visibility(shown > 0)
        self.empty.set_visibility(shown == 0)
        self.earlier.set_visibility(self.more_before)
        self.newest.set_visibility(not self.at_tail)
        if self.where.active and shown == 0:
            self.empty_title.set_text('No lines match')
            self.empty_hint.set_text('Try other words or another level; the search ignores case.')
        else:
            self.empty_title.set_text('No log lines yet')
            self.empty_hint.set_text('A launched run\'s output shows here as it prints. Code that reports itself '
                                     'sends lines with the SDK\'s run.print(...) or "logs" in its report.')
        self.note.set_text(f'{shown:,} matching lines shown' if self.where.active and shown else '')
        self.paging.set_visibility(self.more_before or not self.at_tail or bool(self.note.text))

    async def _search_changed(self) -> None:
        await self._filter(query=(self.search.value or '').strip(), level=self.where.level)

    async def _level_changed(self) -> None:
        await self._filter(query=self.where.query, level=self.level.value or None)

    async def _filter(self, *, query: str, level: str | None) -> None:
        try:
            self.where = run_logs.Filter(query, level)
        except ServiceError as error:  # the input's maxlength keeps to the bound; an API-like client may not
            ui.notify(error.message, type='warning')
            return
        await self.reload()

    def _follow_changed(self) -> None:
        self.box._props['follow'] = bool(self.follow.value)
        self.box.update()

    def _unfollow(self, _event: GenericEventArguments) -> None:
        self.follow.set_value(False)
