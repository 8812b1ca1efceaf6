"""A run's metric charts, one per metric, grouped by prefix, fed by the points that live changes carry, or read when a
change came without them (too big to send between processes)."""

from dataclasses import replace
from typing import Any

from nicegui import ui

from components.chart_grid import ChartGrid, chart_toolbar
from components.chart_options import ChartView, Line
from components.metric_chart import MetricChart
from services import metric_store

CHART_POINTS = 1000
LINE = 'run'  # the one line of a run's own charts


class MetricCharts(ui.column):
    """Every metric of a run, a grid of charts per prefix (`train/`, `val/`, ..., `system/`), in name order whether
    they were there at load or arrived live; new points wait in `take` until `flush` draws them (at most once a
    second: a burst of reports is one update for the browser)."""

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.charts: dict[str, MetricChart] = {}
        self.pending: dict[str, list[list[Any]]] = {}
        self.behind = False  # some points went by without their values: read what is missing
        self.view = ChartView()
        self.classes('w-full gap-2 min-w-0')
        with self:
            self.empty = ui.label('No metrics yet: they appear here as the run reports them.').classes('text-grey-7')
            self.toolbar = chart_toolbar(self.view, self.set_view, self._x_changed)
            self.toolbar.set_visibility(False)
            self.body = ChartGrid()

    async def load(self) -> None:
        for metric in await metric_store.metric_names(self.run_id):
            await self._add(metric['name'])

    def take(self, points: Any) -> None:
        """New points by metric name, as a change carries them; anything else means: read them."""
        if not isinstance(points, dict):
            self.behind = True
            return
        for name, values in points.items():
            self.pending.setdefault(name, []).extend(values)

    async def flush(self) -> None:
        if self.pending and self.view.x != 'step':  # live points come without their time: read them with it
            self.pending.clear()
            self.behind = True
        if self.behind:
            self.behind = False
            await self._catch_up()
        for name, points in list(self.pending.items()):
            if name in self.charts:
                self.charts[name].append(LINE, points)
            else:
                await self._add(name)  # reads the whole series, these points included
            self.pending.pop(name)

    def set_view(self, **changes: Any) -> None:
        """One setting for every chart (smoothing, log scale, outliers, x-axis), as the toolbar sets it."""
        self.view = replace(self.view, **changes)
        for chart in self.charts.values():
            chart.set_view(replace(self.view, step_name=chart.view.step_name))

    async def _x_changed(self, x: str) -> None:
        """Points are read with their times only for a time axis (a lookup per point): the first switch to one reads
        every chart again."""
        if x != 'step':
            for name, chart in list(self.charts.items()):
                line = chart.lines.get(LINE)
                if line and line.points and len(line.points[0]) < 3:
                    series = await metric_store.series(self.run_id, name, max_points=CHART_POINTS, with_time=True)
                    chart.lines[LINE] = Line(LINE, series['points'])
        self.set_view(x=x)

    async def _catch_up(self) -> None:
        for metric in await metric_store.metric_names(self.run_id):
            chart = self.charts.get(metric['name'])
            if chart is None:
                await self._add(metric['name'])
            elif chart.hi is None or metric['step'] > chart.hi:
                series = await metric_store.series(self.run_id, metric['name'], max_points=CHART_POINTS,
                                                   min_step=(chart.hi if chart.hi is not None else -1) + 1,
                                                   with_time=self.view.x != 'step')
                chart.append(LINE, series['points'])

    async def _add(self, name: str) -> None:
        async def fetch(_label: str, lo: int | None, hi: int | None) -> list[list[Any]]:
            return (await metric_store.series(self.run_id, name, max_points=CHART_POINTS, min_step=lo, max_step=hi,
                                              with_time=self.view.x != 'step'))['points']
        points = await fetch(LINE, None, None)
        step_name = await metric_store.step_unit(self.run_id, name)
        if name in self.charts:  # added by another read meanwhile
            return
        self.charts[name] = self.body.place(name, lambda: MetricChart(
            name, [Line(LINE, points)], fetch, view=replace(self.view, step_name=step_name)))
        self.empty.set_visibility(False)
        self.toolbar.set_visibility(True)
