from datetime import datetime
from typing import Any

from nicegui import ui

from components.status_badge import COLORS

COLUMNS = [
    {'name': 'name', 'label': 'Run', 'field': 'name', 'align': 'left', 'sortable': True},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left', 'sortable': True},
    {'name': 'progress', 'label': 'Progress', 'field': 'progress', 'align': 'left', 'sortable': True},
    {'name': 'cost', 'label': 'Cost', 'field': 'cost', 'align': 'right', 'sortable': True},
    {'name': 'started', 'label': 'Started', 'field': 'started', 'align': 'left', 'sortable': True},
]


class RunsTable(ui.table):
    """A project's runs (status, progress, cost, started); `show_run` upserts one row in place."""

    def __init__(self, runs: list[dict[str, Any]]) -> None:
        super().__init__(columns=COLUMNS, rows=[_row(run) for run in runs], row_key='id', pagination=25,
                         selection='multiple')
        self.classes('w-full')
        self.add_slot('body-cell-name', '<q-td :props="props"><a :href="\'/runs/\' + props.row.id" '
                                        'class="text-primary">{{ props.value }}</a></q-td>')
        self.add_slot('body-cell-status', '<q-td :props="props"><q-badge :color="props.row.color">'
                                          '{{ props.value }}</q-badge></q-td>')
        self.add_slot('body-cell-progress', '<q-td :props="props" style="min-width: 10rem">'
                                            '<q-linear-progress :value="props.value" size="10px" instant-feedback '
                                            'rounded /><span class="text-caption">'
                                            '{{ Math.round(props.value * 100) }} %</span></q-td>')

    def show_run(self, run: dict[str, Any]) -> None:
        new = _row(run)
        for index, existing in enumerate(self.rows):
            if existing['id'] == new['id']:
                self.rows[index] = new
                return
        self.rows.insert(0, new)

    def remove_run(self, run_id: int) -> None:
        self.rows[:] = [row for row in self.rows if row['id'] != run_id]


def _row(run: dict[str, Any]) -> dict[str, Any]:
    started = run.get('started_at')
    return {
        'id': run['id'], 'name': run['name'], 'status': run['status'], 'color': COLORS.get(run['status'], 'grey'),
        'progress': round(run['progress'], 4), 'cost': f'${run["cost_usd"]:,.2f}',
        'started': datetime.fromisoformat(started).strftime('%Y-%m-%d %H:%M') if started else '—',
    }
