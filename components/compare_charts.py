"""The comparison's metric charts: one chart per metric (grouped by prefix, as on a run's page), one line per run
(its label, its colour), fed live by the points that changes carry, or read when a change came without them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nicegui import ui

from components.chart_grid import ChartGrid, chart_toolbar
from components.chart_options import grid_bottom
from components.metric_chart import ChartView, Fetch, Line, MetricChart
from models import User
from services import comparison, metric_store
from services.comparison import Comparison

POINTS_PER_CHART = 4000  # all lines of a chart together: 20 runs get 200 points each, 3 runs 1,000 each
POINTS_PER_LINE = (100, 1000)  # a line's points: at least, at most
LEGEND_MAX = 6  # lines a chart names in a legend of its own; beyond, the page's list of runs is the key (and hovering)


def points_per_line(runs: int) -> int:
    return min(POINTS_PER_LINE[1], max(POINTS_PER_LINE[0], POINTS_PER_CHART // max(1, runs)))


class RunLinesChart(MetricChart):
    """A MetricChart whose lines keep their run's colour: MetricChart colours lines by position, and a run without
    this metric (or whose first points come later) would shift the others' colours. Its legend goes under the plot
    (on top it ran into the title), and away when there are more lines than it can show without paging."""

    def __init__(self, name: str, lines: list[Line], fetch: Fetch, *, view: ChartView,
                 colours: dict[str, str]) -> None:
        self.colours = colours
        super().__init__(name, lines, fetch, view=view)
        self._recolour()

    def redraw(self) -> None:
        super().redraw()
        self._recolour()

    def _recolour(self) -> None:
        for series in self.options.get('series', []):
            label = str(series.get('id', '')).partition(':')[2]
            if label in self.colours:
                series['color'] = self.colours[label]
        named = 1 < len(self.lines) <= LEGEND_MAX
        self.options['title']['left'] = 0
        self.options['legend'].update(show=named, left=0)  # under the plot (chart_options), clear of the title
        self.options['grid']['bottom'] = grid_bottom(self.view, legend=named)


class CompareCharts(ui.column):
    """Every metric of the compared runs; new points wait in `take` until `flush` draws them (at most once a
    second: a burst of reports is one update for the browser)."""

    def __init__(self, user: User, compared: Comparison, colours: dict[int, str]) -> None:
        super().__init__()
        self.user, self.compared = user, compared
        self.labels = {run.id: run.label for run in compared.runs}
        self.run_of = {run.label: run.id for run in compared.runs}
        self.colours = {run.label: colours[run.id] for run in compared.runs}
        self.charts: dict[str, RunLinesChart] = {}
        self.pending: dict[str, dict[int, list[list[Any]]]] = {}  # metric -> run id -> new points
        self.behind = False  # some points went by without their values: read what is missing
        self.points_per_line = points_per_line(len(compared.runs))
        self.view = ChartView()
        self.classes('w-full gap-2 min-w-0')
        with self:
            self.empty = ui.label('No metrics yet: they appear here as the runs report them.').classes('text-grey-7')
            self.empty.set_visibility(not compared.metrics)  # they are on their way: `load` reads them
            self.toolbar = chart_toolbar(self.view, self.set_view)
            self.toolbar.set_visibility(False)
            self.body = ChartGrid()

    async def load(self) -> None:
        for name in self.compared.metrics:
            await self._add(name)

    def take(self, run_id: int, points: Any) -> None:
        """A run's new points by metric name, as a change carries them; anything else means: read them."""
        if not isinstance(points, dict):
            self.behind = True
            return
        for name, values in points.items():
            if isinstance(values, list):
                self.pending.setdefault(name, {}).setdefault(run_id, []).extend(values)

    async def flush(self) -> bool:
        """Draw what came; whether anything did (the caller then re-reads the summaries)."""
        came = self.behind or bool(self.pending)
        if self.behind:
            self.behind = False
            await self._catch_up()
        for name, by_run in list(self.pending.items()):
            chart = self.charts.get(name)
            if chart is None:
                await self._add(name)  # reads every run's whole series, these points included
            else:
                for run_id, points in by_run.items():
                    chart.append(self.labels[run_id], sorted(points))
            self.pending.pop(name, None)
        return came

    def set_view(self, **changes: Any) -> None:
        """One setting for every chart (smoothing, log scale, outliers), as the toolbar sets it."""
        self.view = replace(self.view, **changes)
        for chart in self.charts.values():
            chart.set_view(replace(self.view, step_name=chart.view.step_name))

    async def _catch_up(self) -> None:
        """Read what went by unseen: each run's points past the last step its line shows."""
        summaries = await comparison.summaries(self.user, self.compared.run_ids)
        for name in sorted({metric for _, metric in summaries}):
            chart = self.charts.get(name)
            if chart is None:
                await self._add(name)
                continue
            for (run_id, metric), summary in summaries.items():
                line = chart.lines.get(self.labels[run_id])
                shown = line.points[-1][0] if line and line.points else None
                if metric == name and (shown is None or summary.step > shown):
                    read = await comparison.series(self.user, [run_id], name, max_points=self.points_per_line,
                                                   min_step=(shown if shown is not None else -1) + 1)
                    chart.append(self.labels[run_id], read.get(run_id, {}).get('points', []))

    async def _add(self, name: str) -> None:
        async def fetch(label: str, lo: int | None, hi: int | None) -> list[list[Any]]:
            run_id = self.run_of[label]
            read = await comparison.series(self.user, [run_id], name, max_points=self.points_per_line,
                                           min_step=lo, max_step=hi)
            return read.get(run_id, {}).get('points', [])
        read = await comparison.series(self.user, self.compared.run_ids, name, max_points=self.points_per_line)
        lines = [Line(self.labels[run_id], series['points']) for run_id, series in read.items() if series['points']]
        # GPU samples are stored by the second of their run: the data says which, not the name
        first = next((run_id for run_id, series in read.items() if series['points']), None)
        step_name = await metric_store.step_unit(first, name) if first is not None else 'step'
        if name in self.charts:  # added by another read meanwhile
            return
        self.charts[name] = self.body.place(name, lambda: RunLinesChart(
            name, lines, fetch, view=replace(self.view, step_name=step_name), colours=self.colours))
        self.empty.set_visibility(False)
        self.toolbar.set_visibility(True)
