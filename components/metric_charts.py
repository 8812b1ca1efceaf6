"""A run's metric charts, one per metric, grouped by prefix, fed by the points that live changes carry, or read when a
change came without them (too big to send between processes)."""

from dataclasses import replace
from typing import Any

from nicegui import ui

from components.chart_options import X_AXES, ChartView, Line
from components.metric_chart import MetricChart
from services import metric_store

CHART_POINTS = 1000
LINE = 'run'  # the one line of a run's own charts
GROUP_ORDER = ['train', 'val', 'eval', 'test']  # then other prefixes by name, then metrics without one, then system
SYSTEM, OTHER = 'system', ''


def group_of(name: str) -> str:
    prefix, slash, _ = name.partition('/')
    return prefix if slash and prefix else OTHER


def group_key(group: str) -> tuple[int, str]:
    if group in GROUP_ORDER:
        return 0, f'{GROUP_ORDER.index(group):02}'
    return (3, '') if group == SYSTEM else (2, '') if group == OTHER else (1, group)


class MetricCharts(ui.column):
    """Every metric of a run, a grid of charts per prefix (`train/`, `val/`, ..., `system/`), in name order whether
    they were there at load or arrived live; new points wait in `take` until `flush` draws them (at most once a
    second: a burst of reports is one update for the browser)."""

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.charts: dict[str, MetricChart] = {}
        self.groups: dict[str, ui.grid] = {}
        self.pending: dict[str, list[list[Any]]] = {}
        self.behind = False  # some points went by without their values: read what is missing
        self.view = ChartView()
        self.classes('w-full gap-2 min-w-0')
        with self:
            self.empty = ui.label('No metrics yet: they appear here as the run reports them.').classes('text-grey-7')
            self.toolbar = self._toolbar()
            self.toolbar.set_visibility(False)
            self.body = ui.column().classes('w-full gap-2 min-w-0')

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

    def _toolbar(self) -> ui.row:
        with ui.row().classes('w-full items-center gap-x-6 gap-y-1') as row:
            with ui.row().classes('items-center gap-2 no-wrap'):
                ui.label('Smoothing').classes('text-caption text-grey-8')
                self.smoothing = ui.slider(min=0, max=0.99, step=0.01, value=self.view.smoothing) \
                    .props('label dense').classes('w-36') \
                    .on('change', lambda: self.set_view(smoothing=float(self.smoothing.value)))
            self.log_scale = ui.switch('Log scale', value=self.view.log,
                                       on_change=lambda e: self.set_view(log=bool(e.value))).props('dense')
            self.clip = ui.switch('Ignore outliers', value=self.view.clip,
                                  on_change=lambda e: self.set_view(clip=bool(e.value))).props('dense') \
                .tooltip('Leave single spikes out of the y-range so the rest of the curve stays readable')
            self.x_axis = ui.toggle(X_AXES, value=self.view.x, on_change=lambda e: self._x_changed(e.value)) \
                .props('dense no-caps size=sm')
            ui.label('Drag across a chart to zoom, double-click to zoom out').classes('text-caption text-grey-6')
        return row

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
        grid = self._grid(group_of(name))
        with grid, ui.element('div').classes('relative min-w-0') as cell:
            chart = MetricChart(name, [Line(LINE, points)], fetch, view=replace(self.view, step_name=step_name))
            ui.button(icon='open_in_full', on_click=lambda: self._expand(cell, chart)) \
                    .props('flat round dense size=sm color=grey-7').classes('absolute top-0 right-0') \
                    .mark('expand').tooltip('Full width')
        self.charts[name] = chart
        # the same order live as after a reload: by name within the group
        names = sorted(n for n in self.charts if group_of(n) == group_of(name))
        cell.move(grid, target_index=names.index(name))
        self.empty.set_visibility(False)
        self.toolbar.set_visibility(True)

    def _grid(self, group: str) -> ui.grid:
        if group in self.groups:
            return self.groups[group]
        order = sorted([*self.groups, group], key=group_key)
        with self.body, ui.column().classes('w-full gap-1 min-w-0') as section:
            ui.label(f'{group}/' if group else 'Other').classes('text-subtitle2 text-grey-8')
            # min(): a chart is never wider than a phone's screen
            self.groups[group] = ui.grid(columns='repeat(auto-fill, minmax(min(26rem, 100%), 1fr))') \
                    .classes('w-full gap-4')
        section.move(self.body, target_index=order.index(group))
        return self.groups[group]

    @staticmethod
    def _expand(cell: ui.element, chart: MetricChart) -> None:
        """One chart across the whole width, taller; again to put it back."""
        wide = 'col-span-full' in cell.classes
        cell.classes(remove='col-span-full' if wide else None, add=None if wide else 'col-span-full')
        chart.classes(remove='h-96' if wide else 'h-64', add='h-64' if wide else 'h-96')
