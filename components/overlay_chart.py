"""One metric of several runs in one chart: a line per run, named and coloured by the comparison.

New points are appended in the browser (only they cross the wire, never the whole lines); zooming in asks the server
for the finer detail of the visible range, for every line at once.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

Fetch = Callable[[int | None, int | None], Awaitable[dict[int, list[list[Any]]]]]  # (lo, hi) -> run id -> points
Line = tuple[int, str, str]  # run id, label, colour


class OverlayChart(ui.echart):
    def __init__(self, name: str, lines: list[Line], points: dict[int, list[list[Any]]], fetch: Fetch) -> None:
        self.fetch = fetch
        self.steps: dict[int, tuple[int, int]] = {}  # run id -> the first and last step its line shows
        for run_id, _, _ in lines:
            self._extend(run_id, points.get(run_id, []))
        super().__init__({
            'animation': False,
            'title': {'text': name, 'textStyle': {'fontSize': 13, 'fontWeight': 'normal'}},
            'grid': {'left': 56, 'right': 20, 'top': 36, 'bottom': 28, 'containLabel': False},
            'tooltip': {'trigger': 'axis', 'confine': True, 'order': 'valueDesc'},
            # system/... metrics (GPU usage) are sampled by the second of the run, not by training step
            'xAxis': {'type': 'value', 'name': 'seconds' if name.startswith('system/') else 'step',
                      'nameLocation': 'middle', 'nameGap': 22, 'min': 'dataMin', 'max': 'dataMax',
                      'minInterval': 1},
            'yAxis': {'type': 'value', 'scale': True},
            'dataZoom': [{'type': 'inside', 'filterMode': 'none'}],
            'series': [{'id': f'run-{run_id}', 'name': label, 'type': 'line', 'showSymbol': False,
                        'connectNulls': False, 'color': colour, 'lineStyle': {'width': 1.5},
                        'data': _chartable(points.get(run_id, []))}
                       for run_id, label, colour in lines],
        })
        self.classes('w-full h-64')
        # set, not parsed: `.props()` parses its string, so a name with a quote would add attributes of its own
        self._props['data-metric'] = name
        self.on('chart:datazoom', self._zoomed)

    def last_step(self, run_id: int) -> int | None:
        return self.steps[run_id][1] if run_id in self.steps else None

    def append(self, run_id: int, points: list[list[Any]]) -> None:
        if not points:
            return
        self._extend(run_id, points)
        ui.run_javascript(f'''(() => {{
            const chart = getElement({self.id})?.chart;
            if (!chart) return;
            const id = {json.dumps(f"run-{run_id}")};
            const line = chart.getOption().series.find(s => s.id === id);
            if (!line) return;
            chart.setOption({{series: [{{id, data: line.data.concat({json.dumps(_chartable(points))})}}]}});
        }})()''')

    def _extend(self, run_id: int, points: list[list[Any]]) -> None:
        if not points:
            return
        steps = [point[0] for point in points]
        lo, hi = min(steps), max(steps)
        if run_id in self.steps:
            lo, hi = min(lo, self.steps[run_id][0]), max(hi, self.steps[run_id][1])
        self.steps[run_id] = (lo, hi)

    async def _zoomed(self, event: Any) -> None:
        args = event.args.get('batch', [event.args])[0] if isinstance(event.args, dict) else {}
        start, end = args.get('start'), args.get('end')
        if start is None or end is None or not self.steps:
            return
        lo = min(first for first, _ in self.steps.values())
        span = max(last for _, last in self.steps.values()) - lo
        full = start <= 0 and end >= 100
        lines = await self.fetch(None if full else int(lo + span * start / 100),
                                 None if full else int(lo + span * end / 100) + 1)
        self.run_chart_method('setOption', {'series': [{'id': f'run-{run_id}', 'data': _chartable(points)}
                                                       for run_id, points in lines.items()]})


def _chartable(points: list[list[Any]]) -> list[list[Any]]:
    """NaN and infinities become gaps."""
    return [[step, value if isinstance(value, int | float) else None] for step, value in points]
