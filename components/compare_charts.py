"""The comparison's metric charts: one chart per metric, one line per run (its label, its colour), fed live by the
points that changes carry, or read when a change came without them."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from components.overlay_chart import OverlayChart
from models import User
from services import comparison
from services.comparison import Comparison

POINTS_PER_CHART = 4000  # all lines of a chart together: 20 runs get 200 points each, 3 runs 1,000 each
POINTS_PER_LINE = (100, 1000)  # a line's points: at least, at most


class CompareCharts(ui.column):
    """Every metric of the compared runs; new points wait in `take` until `flush` draws them (at most once a
    second: a burst of reports is one update for the browser)."""

    def __init__(self, user: User, compared: Comparison, colours: dict[int, str]) -> None:
        super().__init__()
        self.user, self.compared, self.colours = user, compared, colours
        self.charts: dict[str, OverlayChart] = {}
        self.pending: dict[str, dict[int, list[list[Any]]]] = {}  # metric -> run id -> new points
        self.behind = False  # some points went by without their values: read what is missing
        count = max(1, len(compared.runs))
        self.points_per_line = min(POINTS_PER_LINE[1], max(POINTS_PER_LINE[0], POINTS_PER_CHART // count))
        self.classes('w-full gap-2')
        with self:
            self.empty = ui.label('No metrics yet: they appear here as the runs report them.').classes('text-grey-7')
            # min(): a chart is never wider than a phone's screen
            self.grid = ui.grid(columns='repeat(auto-fill, minmax(min(26rem, 100%), 1fr))').classes('w-full gap-4')

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
                    chart.append(run_id, points)
            self.pending.pop(name, None)
        return came

    async def _catch_up(self) -> None:
        """Read what went by unseen: each run's points past the last step its line shows."""
        summaries = await comparison.summaries(self.user, self.compared.run_ids)
        for name in sorted({metric for _, metric in summaries}):
            chart = self.charts.get(name)
            if chart is None:
                await self._add(name)
                continue
            for (run_id, metric), summary in summaries.items():
                shown = chart.last_step(run_id)
                if metric == name and (shown is None or summary.step > shown):
                    read = await comparison.series(self.user, [run_id], name, max_points=self.points_per_line,
                                                   min_step=(shown if shown is not None else -1) + 1)
                    chart.append(run_id, read.get(run_id, {}).get('points', []))

    async def _add(self, name: str) -> None:
        async def fetch(lo: int | None, hi: int | None) -> dict[int, list[list[Any]]]:
            read = await comparison.series(self.user, self.compared.run_ids, name, max_points=self.points_per_line,
                                           min_step=lo, max_step=hi)
            return {run_id: series['points'] for run_id, series in read.items()}
        lines = await fetch(None, None)
        if name in self.charts:  # added by another read meanwhile
            return
        with self.grid:
            self.charts[name] = OverlayChart(name, [(run.id, run.label, self.colours[run.id])
                                                    for run in self.compared.runs], lines, fetch)
        self.empty.set_visibility(False)
