"""The runs part of the project page: search and filters, chosen columns, grouping, bulk actions, Compare, and the
table, kept live. The rows are read once (services/run_table.load) and each change of the view is answered from
them in memory; a run that changes is read again alone and put back in place.

First paint: the page is built with every run but the metric columns of the first page alone (a thousand runs'
summaries took most of the build); `complete()`, once the tab is connected, reads them for every run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from nicegui import ui

from components import dialogs, format
from components.runs_table import PAGE_SIZE, RunsTable, cells, number
from models import RunStatus, User
from services import lifecycle, run_labels, run_table
from services.errors import ServiceError
from services.run_table import RunRow, View

# the table scrolls inside its card on a phone; a long note is cut with an ellipsis (its whole text on hover)
_CSS = '''
.runs-scroll { overflow-x: auto; max-width: 100%; }
.runs-table .run-note { display: inline-block; max-width: 16rem; overflow: hidden; text-overflow: ellipsis;
                        white-space: nowrap; vertical-align: middle; }
'''
DAYS = {None: 'Any time', 1: 'Last 24 hours', 7: 'Last 7 days', 30: 'Last 30 days', 90: 'Last 90 days'}


class RunsPanel:
    """Build with `await RunsPanel.create(...)`; then `changed(run_id)`, `removed(run_id)` and `reload()` keep it
    live."""

    def __init__(self, user: User, project_id: int, *, editable: bool, view: View, rows: list[RunRow],
                 metric_names: list[str], partial: bool = False) -> None:
        self.user, self.project_id, self.editable, self.view = user, project_id, editable, view
        self.rows = {row.id: row for row in rows}
        self.metric_names = metric_names
        self.partial = partial  # metric columns (and metric names) read for the first page only: see complete()
        self.result = run_table.Result(rows=[], groups=[], hidden_archived=0)
        self._build()
        self.refresh()

    @classmethod
    async def create(cls, user: User, project_id: int, *, editable: bool) -> RunsPanel:
        """The panel with the first page's metric columns; `await complete()` once the tab is connected."""
        view = await run_table.saved_view(user, project_id)
        partial = not (view.sort in view.metric_keys or view.group_metric)  # else the order or groups need them all
        rows = await run_table.load(user, project_id, [] if partial else view.metric_keys)
        if partial:
            await run_table.fill_metrics(project_id, run_table.apply(rows, view).rows[:PAGE_SIZE], view.metric_keys)
        return cls(user, project_id, editable=editable, view=view, rows=rows, metric_names=[], partial=partial)

    async def complete(self) -> None:
        """Every run's metric columns and the metric names for the column picker, after the first paint."""
        if self.partial:
            await self.reload()
        else:
            self.metric_names = await run_table.metric_names(self.project_id)
            self._options()

    # --- live ---------------------------------------------------------------------------------------------------

    async def read(self, run_id: int) -> RunRow | None:
        """The run again, with this table's metric columns (None: gone, or no longer this user's to see)."""
        return await run_table.load_one(self.user, run_id, self.project_id, self.view.metric_keys)

    def put(self, run_id: int, row: RunRow | None) -> None:
        """Show a run as `read` found it, in its place in the view."""
        if row is None:
            self.rows.pop(run_id, None)
        else:
            self.rows[run_id] = row
        self.refresh()

    async def changed(self, run_id: int) -> None:
        self.put(run_id, await self.read(run_id))

    def removed(self, run_id: int) -> None:
        self.rows.pop(run_id, None)
        self.refresh()

    async def reload(self) -> None:
        """Read every run again: after a bulk change, or when the columns need metrics not read yet."""
        self.rows = {row.id: row for row in await run_table.load(self.user, self.project_id, self.view.metric_keys)}
        self.metric_names = await run_table.metric_names(self.project_id)
        self.partial = False
        self.refresh()

    def refresh(self) -> None:
        """Apply the view to the rows held and show the page the table is on."""
        self.result = run_table.apply(list(self.rows.values()), self.view)
        self._options()
        self._show_page()
        self._show_groups()
        count = len(self.result.rows)
        summary = f'{count:,} of {len(self.rows):,} {_runs(len(self.rows))}'
        if self.result.hidden_archived:
            summary += f' · {self.result.hidden_archived:,} archived hidden'
        self.summary.set_text(summary)
        self._show_selection()

    @property
    def empty(self) -> bool:
        return not self.rows

    def compare_url(self) -> str:
        """/compare?runs=... for the selected runs, or the runs the table shows (all its pages) if none is."""
        ids = [row['id'] for row in self.table.selected] or [row.id for row in self.result.rows]
        return '/compare?runs=' + quote(','.join(str(i) for i in ids), safe=',')

    # --- building -----------------------------------------------------------------------------------------------

    def _build(self) -> None:
        view = self.view
        ui.add_css(_CSS)
        with ui.column().classes('w-full gap-2'):
            with ui.row().classes('w-full items-end gap-2 runs-toolbar'):
                self.search = ui.input('Search', value=view.search, placeholder='name, tag, lr=3e-4, lr<0.01') \
                    .props('dense clearable debounce=300').classes('w-full sm:w-64') \
                    .on_value_change(lambda e: self._set(search=(e.value or '').strip()[:run_table.MAX_TEXT]))
                self.search.add_slot('prepend', '<q-icon name="search" />')
                self.statuses = self._multi('Status', [s.value for s in RunStatus], view.statuses, 'statuses')
                self.providers = self._multi('Provider', view.providers, view.providers, 'providers')
                self.launchers = self._multi('Launched by', view.launched_by, view.launched_by, 'launched_by')
                self.tag_filter = self._multi('Tags', view.tags, view.tags, 'tags')
                ui.select(DAYS, value=view.days, label='Started').props('dense').classes('w-36') \
                    .on_value_change(lambda e: self._set(days=e.value))
                ui.switch('Archived', value=view.archived).props('dense') \
                    .on_value_change(lambda e: self._set(archived=e.value)).tooltip('Show archived runs too')
                ui.space()
                self._columns_menu()
            with ui.row().classes('w-full items-center gap-2'):
                self.summary = ui.label().classes('text-caption text-grey-7').mark('runs-summary')
                ui.space()
                self.selection = ui.label().classes('text-caption text-grey-8')
                if self.editable:  # shown while runs are selected, each saying how many it acts on
                    with ui.row().classes('items-center gap-1').mark('bulk-actions') as self.bulk:
                        self.stop_button = ui.button('Stop', icon='stop', on_click=lambda: self._confirm('stop')) \
                            .props('dense flat no-caps color=negative')
                        self.tag_button = ui.button('Tag', icon='sell', on_click=self._tag_dialog) \
                            .props('dense flat no-caps')
                        self.archive_button = ui.button('Archive', icon='archive',
                                                        on_click=lambda: self._confirm(self._archive_action())) \
                            .props('dense flat no-caps')
                self.compare = ui.button('Compare', icon='stacked_line_chart').props('dense unelevated') \
                    .mark('compare')
            with ui.card().classes('w-full q-pa-none runs-groups') as self.groups_card:
                self.groups = ui.table(columns=[
                    {'name': 'key', 'label': 'Group', 'field': 'key', 'align': 'left'},
                    {'name': 'count', 'label': 'Runs', 'field': 'count', 'align': 'right'},
                    {'name': 'best', 'label': 'Best', 'field': 'best', 'align': 'right'},
                    {'name': 'mean', 'label': 'Mean', 'field': 'mean', 'align': 'right'},
                    {'name': 'cost', 'label': 'Total cost', 'field': 'cost', 'align': 'right'},
                ], rows=[], row_key='key').props('flat dense').classes('w-full')
            with ui.element('div').classes('w-full runs-scroll'):
                self.table = RunsTable(editable=self.editable, sort=view.sort, descending=view.descending)
        self.table.set_columns(view.config_columns, view.metric_columns)
        self.table.on('request', self._on_request, ['pagination'])
        self.table.on_select(lambda: self._show_selection())
        self.table.on('edit', lambda e: self._edit(e.args['id'], e.args['what']))

    def _multi(self, label: str, options: list[str], value: list[str], name: str) -> ui.select:
        return ui.select(options, value=value, label=label, multiple=True, clearable=True) \
            .props('dense use-chips options-dense max-values=100').classes('min-w-32') \
            .on_value_change(lambda e: self._set(**{name: list(e.value or [])}))

    def _columns_menu(self) -> None:
        view = self.view
        with ui.button('Columns', icon='view_column').props('dense flat'), ui.menu().props('max-width=28rem'), \
                ui.column().classes('q-pa-md gap-2 w-96'):
                ui.label('Config keys').classes('text-caption text-grey-7')
                self.config_pick = ui.select([], value=view.config_columns, multiple=True, with_input=True,
                                             label='Columns of config values').props('dense use-chips') \
                    .classes('w-full') \
                    .on_value_change(lambda e: self._set(config_columns=list(e.value or [])))
                ui.label('Metrics: the last value, or the lowest or highest ever').classes('text-caption text-grey-7')
                self.metric_pick = ui.select([], value=view.metric_columns, multiple=True, with_input=True,
                                             label='Columns of metrics').props('dense use-chips').classes('w-full') \
                    .on_value_change(lambda e: self._set(metric_columns=list(e.value or [])))
                ui.separator()
                ui.label('Group runs').classes('text-caption text-grey-7')
                # the saved choice is an option from the start (the rest come with the runs): a value a select
                # does not offer is refused, and the page with it
                self.group_pick = ui.select(_offering(view.group_by, {'': 'No grouping'}), value=view.group_by,
                                            label='Group by') \
                    .props('dense').classes('w-full').on_value_change(lambda e: self._set(group_by=e.value or ''))
                with ui.row().classes('w-full no-wrap gap-2'):
                    self.group_metric_pick = ui.select(_offering(view.group_metric, {'': '—'}),
                                                       value=view.group_metric, label='Best of') \
                        .props('dense').classes('grow') \
                        .on_value_change(lambda e: self._set(group_metric=e.value or ''))
                    ui.toggle({'min': 'lowest', 'max': 'highest'}, value=view.group_best) \
                        .props('dense no-caps').on_value_change(lambda e: self._set(group_best=e.value))

    # --- what the user does -------------------------------------------------------------------------------------

    async def _set(self, **changes: Any) -> None:
        before = set() if self.partial else set(self.view.metric_keys)  # partial: every run's metrics not read yet
        for name, value in changes.items():
            setattr(self.view, name, value)
        if 'sort' not in changes:
            self.table.pagination = {**self.table.pagination, 'page': 1}
        try:
            await run_table.save_view(self.user, self.project_id, self.view)
        except ServiceError as error:
            ui.notify(error.message, type='warning')
        if 'metric_columns' in changes or 'config_columns' in changes:
            self.table.set_columns(self.view.config_columns, self.view.metric_columns)
        if set(self.view.metric_keys) - before:  # metrics not read yet: one more read of every run's summaries
            await self.reload()
        else:
            self.refresh()

    async def _on_request(self, event: Any) -> None:
        pagination = event.args['pagination']
        self.table.pagination = {**self.table.pagination, **pagination}
        sort, descending = pagination.get('sortBy') or 'created', bool(pagination.get('descending'))
        if (sort, descending) != (self.view.sort, self.view.descending):
            await self._set(sort=sort, descending=descending)
        elif self.partial:  # another page before complete() read its metrics
            await self.reload()
        else:
            self._show_page()

    async def _edit(self, run_id: Any, what: Any) -> None:
        """The one editor of a run's tags or note, opened by a click on its cell."""
        row = self.rows.get(run_id) if isinstance(run_id, int) else None
        if row is None or what not in ('tags', 'note'):
            return
        if not self.editable:
            ui.notify('Only the project\'s editors and owners can change tags and notes.', type='warning')
            return
        with ui.dialog() as dialog, ui.card().classes('w-96 max-w-full'):
            ui.label(f'{"Tags" if what == "tags" else "Note"} of {row.name}').classes('text-h6 break-all')
            if what == 'tags':
                field = ui.input('Tags', value=' '.join(row.tags)).props('autofocus counter maxlength=900') \
                    .classes('w-full').mark('label-field')
                ui.label('Separated by spaces: letters, digits and . _ - : / + = @') \
                    .classes('text-caption text-grey-7')
            else:
                field = ui.textarea('Note', value=row.note) \
                    .props(f'autofocus autogrow counter maxlength={run_labels.MAX_NOTE_LENGTH}').classes('w-full') \
                    .mark('label-field')
            hint = ui.label().classes('text-negative text-caption')

            async def save() -> None:
                try:
                    await run_labels.set_labels(self.user, row.id, **{what: field.value or ''})
                except ServiceError as error:
                    hint.set_text(error.message)  # the dialog stays open with what was typed
                    return
                dialog.submit(True)
            if what == 'tags':
                field.on('keydown.enter', save)
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=lambda: dialog.submit(False)).props('flat').mark('dismiss')
                ui.button('Save', on_click=save).mark('save-label')
        saved = await dialog
        dialogs.discard(dialog)
        if saved:
            await self.changed(row.id)

    def _archive_action(self) -> str:
        selected = [self.rows.get(row['id']) for row in self.table.selected]
        return 'unarchive' if selected and all(row and row.archived for row in selected) else 'archive'

    def _stoppable(self) -> list[int]:
        """The selected runs a stop acts on: those that have not ended."""
        return [row['id'] for row in self.table.selected
                if (run := self.rows.get(row['id'])) and RunStatus(run.status) in lifecycle.ACTIONS['stop']]

    async def _confirm(self, action: str, tag: str = '') -> None:
        ids = self._stoppable() if action == 'stop' else [row['id'] for row in self.table.selected]
        if not ids:
            return
        verbs = {'stop': 'Stop', 'archive': 'Archive', 'unarchive': 'Unarchive', 'tag': 'Tag', 'untag': 'Untag'}
        what = {'tag': f'Tag {len(ids)} {_runs(len(ids))} with "{tag}"?',
                'untag': f'Remove the tag "{tag}" from {len(ids)} {_runs(len(ids))}?'}.get(
            action, f'{verbs[action]} {len(ids)} {_runs(len(ids))}?')
        if action == 'stop':
            what += ' Each gets its time to checkpoint.'
        if not await dialogs.confirm(what, action=f'{verbs[action]} {len(ids)} {_runs(len(ids))}',
                                     color='negative' if action == 'stop' else 'primary'):
            return
        try:
            result = await run_labels.bulk(self.user, self.project_id, ids, action, tag)
        except ServiceError as error:
            ui.notify(error.message, type='negative')
            return
        message = f'{verbs[action]}: {result.done} {_runs(result.done)}'
        if result.skipped:
            message += f'; {len(result.skipped)} left as they were ({result.skipped[0]})'
        ui.notify(message, type='warning' if result.skipped else 'positive')
        self.table.selected = []
        await self.reload()

    async def _tag_dialog(self) -> None:
        if not self.table.selected:
            return
        with ui.dialog() as dialog, ui.card().classes('w-80'):
            ui.label('Tag the selected runs').classes('text-h6')
            tag = ui.input('Tag', placeholder='e.g. baseline').props('autofocus maxlength=40').classes('w-full')
            hint = ui.label().classes('text-negative text-caption')

            def go(action: str) -> None:
                try:
                    if not (tag.value or '').strip():
                        raise ServiceError('Type a tag.')
                    run_labels.checked_tags([tag.value])
                except ServiceError as error:
                    hint.set_text(error.message)
                    return
                dialog.submit((action, tag.value.strip()))
            with ui.row().classes('w-full justify-end'):
                ui.button('Remove tag', on_click=lambda: go('untag')).props('flat')
                ui.button('Add tag', on_click=lambda: go('tag')).mark('add-tag')
        answer = await dialog
        dialogs.discard(dialog)
        if answer:
            await self._confirm(*answer)

    # --- showing ------------------------------------------------------------------------------------------------

    def _show_page(self) -> None:
        pagination = self.table.pagination
        size = int(pagination.get('rowsPerPage') or 0) or len(self.result.rows) or 1
        pages = max(1, -(-len(self.result.rows) // size))
        page = min(max(1, int(pagination.get('page') or 1)), pages)
        if page != pagination.get('page'):
            self.table.pagination = {**pagination, 'page': page}
        now = datetime.now(UTC)
        shown = self.result.rows[(page - 1) * size:page * size]
        self.table.show([cells(row, self.view.config_columns, self.view.metric_columns, now) for row in shown],
                        len(self.result.rows))

    def _show_groups(self) -> None:
        self.groups_card.visible = bool(self.view.group_by)
        self.groups.rows = [{'key': g.key, 'count': g.count, 'best': number(g.best), 'mean': number(g.mean),
                             'cost': format.money(g.cost_usd)} for g in self.result.groups]

    def _show_selection(self) -> None:
        count = len(self.table.selected)
        self.selection.set_text(f'{count} selected' if count else '')
        if self.editable:
            self.bulk.set_visibility(bool(count))
            runs = f'{count} {_runs(count)}'
            stoppable = len(self._stoppable())  # of the selected runs, those that have not ended
            self.stop_button.set_text(f'Stop {stoppable} {_runs(stoppable)}')
            self.stop_button.set_visibility(stoppable > 0)
            self.tag_button.set_text(f'Tag {runs}')
            archive = 'Unarchive' if self._archive_action() == 'unarchive' else 'Archive'
            self.archive_button.set_text(f'{archive} {runs}')
        compared = count or len(self.result.rows)
        self.compare.set_text(f'Compare {compared} {_runs(compared)}')
        self.compare.props(f'href="{self.compare_url()}"')
        self.compare.set_enabled(compared > 0)

    def _options(self) -> None:
        """The filters offer what the runs have (and keep what is chosen)."""
        rows = self.rows.values()
        self._offer(self.providers, sorted({row.provider for row in rows}))
        self._offer(self.launchers, sorted({row.launched_by for row in rows if row.launched_by}))
        self._offer(self.tag_filter, sorted({tag for row in rows for tag in row.tags}))
        keys = run_table.config_keys(list(rows))
        self._offer(self.config_pick, keys)
        metric_keys = [f'{agg}:{name}' for name in self.metric_names for agg in run_table.AGGREGATES]
        self._offer(self.metric_pick, {key: _metric_option(key) for key in metric_keys})
        self._offer(self.group_pick, {'': 'No grouping', 'tag': 'Tag', **{f'config:{k}': f'config: {k}' for k in keys}})
        self._offer(self.group_metric_pick, {'': '—', **{key: _metric_option(key) for key in metric_keys}})

    @staticmethod
    def _offer(select: ui.select, options: list[str] | dict[str, str]) -> None:
        chosen = select.value if isinstance(select.value, list) else [select.value]
        if isinstance(options, list):
            options = sorted(set(options) | {v for v in chosen if v})
        else:
            options = {**options, **{v: v for v in chosen if v and v not in options}}
        if options != select.options:
            select.set_options(options, value=select.value)


def _offering(chosen: str, options: dict[str, str]) -> dict[str, str]:
    return {**options, chosen: chosen} if chosen and chosen not in options else options


def _runs(count: int) -> str:
    return 'run' if count == 1 else 'runs'


def _metric_option(key: str) -> str:
    aggregate, _, name = key.partition(':')
    return f'{name} · {aggregate}'
