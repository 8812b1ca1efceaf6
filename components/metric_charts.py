"""A run's metric charts, one per metric, fed by the points that live changes carry, or read when a change came
without them (too big to send between processes)."""

from typing import Any

from nicegui import ui

from components.metric_chart import MetricChart
from services import metric_store

CHART_POINTS = 1000


class MetricCharts(ui.column):
    """Every metric of a run, as a grid of charts; new points wait in `take` until `flush` draws them (at most once a
    second: a burst of reports is one update for the browser)."""

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.charts: dict[str, MetricChart] = {}
        self.pending: dict[str, list[list[Any]]] = {}
        self.behind = False  # some points went by without their values: read what is missing
        self.classes('w-full gap-2')
        with self:
            self.empty = ui.label('No metrics yet: they appear here as the run reports them.').classes('text-grey-7')
            # min(): a chart is never wider than a phone's screen
            self.grid = ui.grid(columns='repeat(auto-fill, minmax(min(26rem, 100%), 1fr))').classes('w-full gap-4')

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
        if self.behind:
            self.behind = False
            await self._catch_up()
        for name, points in list(self.pending.items()):
            if name in self.charts:
                self.charts[name].append(points)
            else:
                await self._add(name)  # reads the whole series, these points included
            self.pending.pop(name)

    async def _catch_up(self) -> None:
        for metric in await metric_store.metric_names(self.run_id):
            chart = self.charts.get(metric['name'])
            if chart is None:
                await self._add(metric['name'])
            elif chart.hi is None or metric['step'] > chart.hi:
                series = await metric_store.series(self.run_id, metric['name'], max_points=CHART_POINTS,
                                                   min_step=(chart.hi if chart.hi is not None else -1) + 1)
                chart.append(series['points'])

    async def _add(self, name: str) -> None:
        async def fetch(lo: int | None, hi: int | None) -> dict[str, Any]:
            return await metric_store.series(self.run_id, name, max_points=CHART_POINTS, min_step=lo, max_step=hi)
        series = await fetch(None, None)
        if name in self.charts:  # added by another read meanwhile
            return
        with self.grid:
            self.charts[name] = MetricChart(name, series, fetch)
        self.empty.set_visibility(False)
