"""The compared runs' configs side by side: a row per key, a column per run; only the keys whose values differ, or
every key with the switch."""

from __future__ import annotations

from nicegui import ui

from services.comparison import ComparedRun, ConfigRow, shown_value

STICKY = 'sticky left-0 z-[1] tb-sticky-key'  # the key column stays in view while the runs' columns scroll past
# opaque, in the table's own colour (Quasar's dark tables are --q-dark): the columns scroll beneath it
CSS = '.tb-sticky-key { background: #fff; } .body--dark .tb-sticky-key { background: var(--q-dark); }'


class ConfigDiff(ui.column):
    def __init__(self, runs: list[ComparedRun], rows: list[ConfigRow]) -> None:
        super().__init__()
        self.runs, self.all_rows = runs, rows
        differing = sum(row.differs for row in rows)
        ui.add_css(CSS)
        self.classes('w-full gap-2 min-w-0')
        with self:
            with ui.row().classes('w-full items-center gap-x-4 gap-y-1'):
                ui.label(_summary(len(runs), len(rows), differing)).classes('text-grey-8')
                self.show_all = ui.switch('Show all keys', on_change=self._show).props('dense')
                self.show_all.set_visibility(bool(rows) and differing < len(rows))
            columns = [{'name': 'key', 'label': 'key', 'field': 'key', 'align': 'left', 'sortable': True,
                        'classes': f'{STICKY} font-mono', 'headerClasses': STICKY}]
            # names on one line: twenty runs' columns scroll sideways rather than each name wrapping thrice
            columns += [{'name': f'run{run.id}', 'label': run.label, 'field': f'run{run.id}', 'align': 'left',
                         'headerClasses': 'whitespace-nowrap'} for run in runs]
            # in a card of its own width: a wide table scrolls inside it, not the page (390 px phones)
            self.table = ui.table(columns=columns, rows=[], row_key='key', pagination=0) \
                .props('dense flat bordered wrap-cells hide-bottom').classes('w-full max-w-full overflow-x-auto')
            self.table.set_visibility(bool(rows))
        self._show()

    def _show(self) -> None:
        rows = self.all_rows if self.show_all.value else [row for row in self.all_rows if row.differs]
        self.table.rows = [{'key': row.key, **{f'run{run.id}': shown_value(value)
                                               for run, value in zip(self.runs, row.values, strict=True)}}
                           for row in rows]
        self.table.set_visibility(bool(rows))
        self.table.update()


def _summary(runs: int, keys: int, differing: int) -> str:
    if not keys:
        return 'No config recorded for these runs.'
    if runs == 1:
        return f'One run: {keys} config key{"s" if keys != 1 else ""}, nothing to compare it with.'
    if not differing:
        return f'All {runs} runs have the same config ({keys} key{"s" if keys != 1 else ""}).'
    return f'{differing} of {keys} config keys differ.'
