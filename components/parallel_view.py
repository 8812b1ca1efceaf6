"""Parallel coordinates of the compared runs: an axis per config key that differs, then a chosen metric (its last,
lowest or highest value), a line per run in its colour."""

from __future__ import annotations

import json
from typing import Any

from nicegui import ui

from components.chart_options import ESCAPE_JS, FORMAT_JS
from services import comparison
from services.comparison import Comparison

AXIS_WIDTH_PX = 110  # below this, axis names overlap: a narrow screen scrolls the chart sideways instead
STAT_LABELS = {'last': 'last value', 'min': 'lowest', 'max': 'highest'}


class ParallelView(ui.column):
    def __init__(self, compared: Comparison, colours: dict[int, str]) -> None:
        super().__init__()
        self.compared, self.colours = compared, colours
        self.classes('w-full gap-2 min-w-0')
        with self:
            with ui.row().classes('w-full items-center gap-x-4 gap-y-1'):
                self.metric = ui.select(compared.metrics, value=_default_metric(compared.metrics), label='Metric',
                                        on_change=self.show).classes('min-w-48 max-w-full')
                self.stat = ui.toggle(STAT_LABELS, value='last', on_change=self.show).props('dense no-caps')
                self.note = ui.label().classes('text-grey-7')
            self.metric.set_visibility(bool(compared.metrics))
            self.stat.set_visibility(bool(compared.metrics))
            with ui.element('div').classes('w-full overflow-x-auto') as self.scroller:
                self.chart = ui.echart(self._options()).classes('h-80')
        self.show()

    def update_summaries(self, summaries: dict[tuple[int, str], comparison.Summary]) -> None:
        """New metric values came: redraw when the chosen metric's changed, offer metrics that are new."""
        before = self.compared.summaries
        self.compared.summaries = summaries
        metrics = sorted({name for _, name in summaries})
        if metrics != self.metric.options:
            self.metric.set_options(metrics, value=self.metric.value or _default_metric(metrics))
            self.metric.set_visibility(bool(metrics))
            self.stat.set_visibility(bool(metrics))
        chosen = self.metric.value
        if any(before.get((run.id, chosen)) != summaries.get((run.id, chosen)) for run in self.compared.runs):
            self.show()

    def show(self) -> None:
        view = comparison.parallel(self.compared, self.metric.value, self.stat.value)
        notes = []
        if view.keys_left_out:
            notes.append(f'{view.keys_left_out} more differing key{"s" if view.keys_left_out != 1 else ""} '
                         'not drawn (lists, objects, or past the first '
                         f'{comparison.PARALLEL_AXES_MAX})')
        config_axes = len(view.axes) - (self.metric.value is not None)
        if not view.axes:
            notes.append('Nothing to draw: no config key differs and no run has metrics.')
        elif not config_axes:  # one axis of the metric alone: a lone line in a wide box, which explains nothing
            notes.append('No config key differs between these runs: nothing to set the metric against.')
        self.note.set_text('; '.join(notes))
        self.chart.set_visibility(config_axes > 0)
        self.chart.style(f'min-width: {max(1, len(view.axes)) * AXIS_WIDTH_PX}px; width: 100%')
        self.chart.options.update(self._options(view))
        self.chart.update()

    def _options(self, view: comparison.Parallel | None = None) -> dict[str, Any]:
        axes = view.axes if view else []
        return {
            'animation': False,
            'tooltip': {'trigger': 'item', 'confine': True, ':formatter': _tooltip_js([axis.name for axis in axes])},
            'parallel': {'left': 40, 'right': 60, 'top': 48, 'bottom': 24,
                         'parallelAxisDefault': {'nameLocation': 'end', 'nameGap': 12,
                                                 'nameTextStyle': {'fontSize': 11},
                                                 'nameTruncate': {'maxWidth': AXIS_WIDTH_PX - 10}}},
            'parallelAxis': [{'dim': index, 'name': axis.name, 'type': axis.kind,
                              **({'data': list(axis.categories)} if axis.kind == 'category' else {'scale': True})}
                             for index, axis in enumerate(axes)],
            'series': [{'type': 'parallel', 'name': run.label, 'color': self.colours[run.id],
                        'lineStyle': {'width': 2, 'opacity': 0.8}, 'data': [row]}
                       for run, row in zip(self.compared.runs, view.rows, strict=True)] if view else [],
        }


def _tooltip_js(axes: list[str]) -> str:
    """The run and its value on each axis; run names and config keys are escaped (whoever reports chooses them)."""
    return f'''p => {{
  const fmt = {FORMAT_JS}, esc = {ESCAPE_JS}, axes = {json.dumps(axes)};
  const value = v => typeof v === 'number' ? fmt(v) : esc(v ?? '–');
  return [`${{p.marker}}<b>${{esc(p.seriesName)}}</b>`].concat(
    axes.map((name, i) => `${{esc(name)}}: ${{value((p.value || [])[i])}}`)).join('<br>');
}}'''


def _default_metric(metrics: list[str]) -> str | None:
    """A loss if there is one (what a comparison is most often about), else the first metric."""
    return next((name for name in metrics if 'loss' in name.lower()), metrics[0] if metrics else None)
