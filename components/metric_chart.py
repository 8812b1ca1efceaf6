import json
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

Fetch = Callable[[int | None, int | None], Awaitable[dict[str, Any]]]


class MetricChart(ui.echart):
    """One metric's line, downsampled on the server. New points are appended in the browser (only they cross the
    wire, never the whole series); zooming in asks the server for the finer detail of the visible range."""

    def __init__(self, name: str, series: dict[str, Any], fetch: Fetch) -> None:
        self.fetch = fetch
        self.lo, self.hi = _bounds(series['points'])
        super().__init__({
            'animation': False,
            'title': {'text': name, 'textStyle': {'fontSize': 13, 'fontWeight': 'normal'}},
            'grid': {'left': 50, 'right': 16, 'top': 36, 'bottom': 48},
            'tooltip': {'trigger': 'axis'},
            # system/... metrics (GPU usage) are sampled by the second of the run, not by training step
            'xAxis': {'type': 'value', 'name': 'seconds' if name.startswith('system/') else 'step',
                      'min': 'dataMin', 'max': 'dataMax'},
            'yAxis': {'type': 'value', 'scale': True},
            'dataZoom': [{'type': 'inside', 'filterMode': 'none'}, {'type': 'slider', 'height': 14, 'bottom': 8}],
            'series': [{'id': 'main', 'type': 'line', 'showSymbol': False, 'connectNulls': False,
                        'data': _chartable(series['points'])}],
        })
        self.classes('w-full h-64')
        # set, not parsed: `.props()` parses its string, so a name with a quote would add attributes of its own
        self._props['data-metric'] = name
        self.on('chart:datazoom', self._zoomed)
        self.points_shown = len(series['points'])

    def append(self, points: list[list[Any]]) -> None:
        if not points:
            return
        lo, hi = _bounds(points)
        self.lo, self.hi = (lo, hi) if self.lo is None else (min(self.lo, lo), max(self.hi, hi))
        self.points_shown += len(points)
        ui.run_javascript(f'''(() => {{
            const chart = getElement({self.id})?.chart;
            if (!chart) return;
            const data = chart.getOption().series[0].data.concat({json.dumps(_chartable(points))});
            chart.setOption({{series: [{{id: 'main', data}}]}});
        }})()''')

    async def _zoomed(self, event: Any) -> None:
        args = event.args.get('batch', [event.args])[0] if isinstance(event.args, dict) else {}
        start, end = args.get('start'), args.get('end')
        if start is None or end is None or self.lo is None:
            return
        span = self.hi - self.lo
        full = start <= 0 and end >= 100
        series = await self.fetch(None if full else int(self.lo + span * start / 100),
                                  None if full else int(self.lo + span * end / 100) + 1)
        self.run_chart_method('setOption', {'series': [{'id': 'main', 'data': _chartable(series['points'])}]})


def _chartable(points: list[list[Any]]) -> list[list[Any]]:
    """NaN and infinities become gaps."""
    return [[step, value if isinstance(value, int | float) else None] for step, value in points]


def _bounds(points: list[list[Any]]) -> tuple[int | None, int | None]:
    if not points:
        return None, None
    steps = [p[0] for p in points]
    return min(steps), max(steps)
