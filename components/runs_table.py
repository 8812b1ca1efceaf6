"""A project's runs table: sorted, paged and filtered on the server (services/run_table.py), tags and notes edited
in place, and the rows of the page the user looks at sent to the browser (50 of 1,000 runs, not all of them).

The browser's table runs in Quasar's server mode: a click on a header or a page asks the server (`request`), which
sorts the rows it holds in memory and sends the page back. Every cell is text ({{ }} interpolation only)."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from components import format
from components.status_badge import COLORS
from services.run_table import RunRow

PAGE_SIZE = 25
BASE_COLUMNS = [
    {'name': 'name', 'label': 'Run', 'field': 'name', 'align': 'left', 'sortable': True},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left', 'sortable': True},
    {'name': 'tags', 'label': 'Tags', 'field': 'tags', 'align': 'left'},
    {'name': 'note', 'label': 'Note', 'field': 'note', 'align': 'left'},
    {'name': 'progress', 'label': 'Progress', 'field': 'progress', 'align': 'left', 'sortable': True},
    {'name': 'duration', 'label': 'Duration', 'field': 'duration', 'align': 'right', 'sortable': True},
    {'name': 'cost', 'label': 'Cost', 'field': 'cost', 'align': 'right', 'sortable': True},
    {'name': 'launched_by', 'label': 'Launched by', 'field': 'launched_by', 'align': 'left', 'sortable': True},
    {'name': 'provider', 'label': 'Provider', 'field': 'provider', 'align': 'left', 'sortable': True},
    {'name': 'started', 'label': 'Started', 'field': 'started', 'align': 'left', 'sortable': True},
]
_NAME = ('<q-td :props="props"><a :href="\'/runs/\' + props.row.id" class="text-primary">{{ props.value }}</a>'
         '<q-badge v-if="props.row.archived" outline color="grey-7" class="q-ml-xs">archived</q-badge></q-td>')
_STATUS = '<q-td :props="props"><q-badge :color="props.row.color">{{ props.value }}</q-badge></q-td>'
# the bar and its figure on one line, so that the row's cells share a baseline
_PROGRESS = ('<q-td :props="props" style="min-width: 9rem"><div class="row items-center no-wrap" style="gap: 8px">'
             '<q-linear-progress :value="props.value" size="8px" instant-feedback rounded class="col" />'
             '<span class="text-caption text-right" style="min-width: 2.5rem">{{ Math.round(props.value * 100) }}%'
             '</span></div></q-td>')
_TAG_CHIPS = ('<q-chip v-for="tag in props.row.tags" :key="tag" dense size="sm" color="blue-1" text-color="primary">'
              '{{ tag }}</q-chip>')
_NOTE_TEXT = ('<span class="run-note" :title="props.row.note">{{ props.row.note }}</span>')
# editors' cells: a click asks the server to open its one editor (a popup editor per cell made 50 rows slow to
# paint); the server checks the role and the input again
_TAGS_EDIT = ('<q-td :props="props" class="cursor-pointer" @click="$parent.$emit(\'edit\', '
              '{id: props.row.id, what: \'tags\'})">' + _TAG_CHIPS +
              '<q-icon v-if="!props.row.tags.length" name="sell" color="grey-5" size="xs" /></q-td>')
_NOTE_EDIT = ('<q-td :props="props" class="cursor-pointer" @click="$parent.$emit(\'edit\', '
              '{id: props.row.id, what: \'note\'})">' + _NOTE_TEXT +
              '<q-icon v-if="!props.row.note" name="edit_note" color="grey-5" size="xs" /></q-td>')


# config and metric columns' headers are told apart by colour; on the dark page those colours are lifted to read
# (in the overrides layer: Quasar's colour classes are !important in a later one)
HEADER_CSS = ('@layer overrides { .body--dark .runs-table th.text-indigo-8 { color: #9fa8da !important; } '
              '.body--dark .runs-table th.text-teal-8 { color: #80cbc4 !important; } '
              # the run's name stays in view while a phone scrolls the table sideways to the columns chosen
              '.runs-table th:nth-child(2), .runs-table td:nth-child(2) { position: sticky; left: 0; z-index: 1; '
              'background: #fff; box-shadow: 1px 0 0 rgba(0, 0, 0, 0.12); } '
              '.body--dark .runs-table th:nth-child(2), .body--dark .runs-table td:nth-child(2) '
              '{ background: var(--q-dark); box-shadow: 1px 0 0 rgba(255, 255, 255, 0.28); } }')


class RunsTable(ui.table):
    """One page of a project's runs; `show(rows, total)` replaces it. Sorting and paging are the server's."""

    def __init__(self, *, editable: bool, sort: str, descending: bool) -> None:
        super().__init__(columns=list(BASE_COLUMNS), rows=[], row_key='id', selection='multiple',
                         pagination={'rowsPerPage': PAGE_SIZE, 'page': 1, 'sortBy': sort, 'descending': descending,
                                     'rowsNumber': 0})
        self.classes('w-full runs-table').props('flat bordered dense hide-selected-banner rows-per-page-label="Runs '
                                                'per page" :rows-per-page-options="[25, 50, 100]"')
        ui.add_css(HEADER_CSS)
        self.add_slot('body-cell-name', _NAME)
        self.add_slot('body-cell-status', _STATUS)
        self.add_slot('body-cell-progress', _PROGRESS)
        self.add_slot('body-cell-tags', _TAGS_EDIT if editable else f'<q-td :props="props">{_TAG_CHIPS}</q-td>')
        self.add_slot('body-cell-note', _NOTE_EDIT if editable else f'<q-td :props="props">{_NOTE_TEXT}</q-td>')

    def set_columns(self, config_columns: list[str], metric_columns: list[str]) -> None:
        extra = [{'name': f'config:{key}', 'label': key, 'field': f'config:{key}', 'align': 'right',
                  'sortable': True, 'headerClasses': 'text-indigo-8'} for key in config_columns]
        extra += [{'name': key, 'label': _metric_label(key), 'field': key, 'align': 'right', 'sortable': True,
                   'headerClasses': 'text-teal-8'} for key in metric_columns]
        self.columns = [*BASE_COLUMNS[:7], *extra, *BASE_COLUMNS[7:]]  # after the cost, before who and when

    def show(self, rows: list[dict[str, Any]], total: int) -> None:
        self.rows = rows
        self.pagination = {**self.pagination, 'rowsNumber': total}


def cells(row: RunRow, config_columns: list[str], metric_columns: list[str], now: Any) -> dict[str, Any]:
    """A run as the browser's table shows it: texts, and the progress fraction for its bar."""
    started = row.started_at.isoformat() if row.started_at else None
    shown = {
        'id': row.id, 'name': row.name, 'status': row.status, 'color': COLORS.get(row.status, 'grey'),
        'progress': round(row.progress, 4), 'cost': format.money(row.cost_usd),
        'duration': format.duration(row.duration_s(now)) if row.started_at else '—',
        'started': format.timestamp(started), 'launched_by': row.launched_by or '—', 'provider': row.provider,
        'tags': row.tags, 'note': row.note, 'archived': row.archived,
    }
    for key in config_columns:
        value = row.config.get(key)
        shown[f'config:{key}'] = '—' if value is None else _config_text(value)
    for key in metric_columns:
        shown[key] = number(row.metrics.get(key))
    return shown


def number(value: Any) -> str:
    """A metric value in a cell: four significant digits ('0.3127', '1.235e+06'), specials as they are."""
    if value is None:
        return '—'
    if isinstance(value, str):
        return value
    return f'{value:.4g}'


def _metric_label(key: str) -> str:
    aggregate, _, name = key.partition(':')
    return name if aggregate == 'last' else f'{name} ({aggregate})'


def _config_text(value: Any) -> str:
    if isinstance(value, float):
        return f'{value:.6g}'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:59] + '…'
