"""One metric's chart: several named lines (a run each, on a comparison), downsampled on the server."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from components.chart_options import ChartView, Line, XAxis, chart_options, clipped_note, rows, x_of, y_range

__all__ = ['ChartView', 'Fetch', 'Line', 'MetricChart', 'XAxis', 'chart_options']

# (line label, first step, last step) -> that line's points in the range, at the detail the chart can show;
# None for either bound means the line's own end
Fetch = Callable[[str, int | None, int | None], Awaitable[list[list[Any]]]]


class MetricChart(ui.echart):
    """Lines of one metric. New points are appended in the browser (only they cross the wire, never the whole
    series); brushing across the chart zooms in, and the zoomed range's finer detail is read from the server."""

    def __init__(self, name: str, lines: list[Line], fetch: Fetch | None = None, *,
                 view: ChartView | None = None) -> None:
        self.name = name
        self.lines: dict[str, Line] = {line.label: Line(line.label, list(line.points), line.start) for line in lines}
        self.fetch = fetch
        self.view = view or ChartView()
        self.zoomed = False
        self.zoom_points: dict[str, int] = {}  # per line, the points of the zoomed range the browser was sent
        super().__init__(chart_options(name, list(self.lines.values()), self.view))
        self.classes('w-full h-64')
        # set, not parsed: `.props()` parses its string, so a name with a quote would add attributes of its own
        self._props['data-metric'] = name
        self.on('chart:datazoom', self._zoomed)
        self._brush()

    @property
    def points_shown(self) -> int:
        return sum(len(line.points) for line in self.lines.values())

    @property
    def lo(self) -> int | None:
        return min((line.points[0][0] for line in self.lines.values() if line.points), default=None)

    @property
    def hi(self) -> int | None:
        return max((line.points[-1][0] for line in self.lines.values() if line.points), default=None)

    def append(self, label: str, points: list[list[Any]]) -> None:
        """New points of one line (steps after its last), drawn by appending in the browser; a new label is a new
        line, which redraws the chart."""
        if not points:
            return
        line = self.lines.get(label)
        if line is None:
            self.lines[label] = Line(label, sorted(points))
            self.redraw()
            return
        known = line.points[-1][0] if line.points else -1
        points = [p for p in points if p[0] > known]
        if not points:
            return
        line.points.extend(points)
        # the robust y-range follows a spike that arrives live
        y = y_range(list(self.lines.values()), self.view)
        added = {f'main:{label}': rows(line, self.view, points=points, y=y)}
        if self.view.smoothing > 0:
            added[f'raw:{label}'] = rows(line, self.view, smoothed=False, points=points)
        y_axis = {'min': y.min, 'max': y.max, 'axisLabel': {'showMinLabel': False if y.min is not None else None,
                                                           'showMaxLabel': False if y.max is not None else None}}
        note = [{'id': 'clipped', 'style': {'text': clipped_note(y.clipped)}}]
        ui.run_javascript(f'''(() => {{
            const chart = getElement({self.id})?.chart;
            if (!chart) return;
            const added = {json.dumps(added)};
            const series = chart.getOption().series.filter(s => s.id in added)
                .map(s => ({{id: s.id, data: s.data.concat(added[s.id])}}));
            chart.setOption({{series, yAxis: {json.dumps(y_axis)}, graphic: {json.dumps(note)}}});
        }})()''')

    def set_view(self, view: ChartView) -> None:
        self.view = view
        self.redraw()

    def redraw(self) -> None:
        """Options rebuilt from the lines held here (a view change, a new line): the whole chart is resent."""
        self.options.clear()
        self.options.update(chart_options(self.name, list(self.lines.values()), self.view))
        self.zoomed = False
        self._brush()

    def _brush(self) -> None:
        """Dragging across the chart selects a range of x and zooms into it; a double click zooms out. The brush is
        taken as the chart's cursor once ECharts has drawn it (and again after each redraw, which resets it)."""
        ui.run_javascript(f'''(() => {{
            const take = (tries) => {{
                const chart = getElement({self.id})?.chart;
                if (!chart) {{ if (tries > 0) setTimeout(() => take(tries - 1), 100); return; }}
                if (!chart.__brushZoom) {{
                    chart.__brushZoom = true;
                    chart.on('brushEnd', e => {{
                        const range = e.areas?.[0]?.coordRange;
                        chart.dispatchAction({{type: 'brush', areas: []}});
                        if (range && range[1] > range[0])
                            chart.dispatchAction({{type: 'dataZoom', startValue: range[0], endValue: range[1]}});
                    }});
                    chart.getZr().on('dblclick', () => chart.dispatchAction({{type: 'dataZoom', start: 0, end: 100}}));
                }}
                chart.dispatchAction({{type: 'takeGlobalCursor', key: 'brush',
                                       brushOption: {{brushType: 'lineX', brushMode: 'single'}}}});
            }};
            setTimeout(() => take(50), 50);
        }})()''')

    async def _zoomed(self, event: Any) -> None:
        """The visible range changed: read each line's points in it (or its whole history when zoomed out)."""
        if self.fetch is None or not isinstance(event.args, dict):
            return
        args = event.args.get('batch', [event.args])[0]
        window = self._window(args)
        if window is None:
            return
        full = window == 'full'
        if full and not self.zoomed:
            return
        self.zoomed = not full
        y = y_range(list(self.lines.values()), self.view)  # the overview's: the same outliers, zoomed or not
        for line in list(self.lines.values()):
            # zoomed out: the overview held here, which live points have kept up to date
            points = line.points if full else await self.fetch(line.label, *_steps_in(line, self.view.x, window))
            self.zoom_points[line.label] = len(points)
            data = {f'main:{line.label}': rows(Line(line.label, points, line.start), self.view, y=y)}
            if self.view.smoothing > 0:
                data[f'raw:{line.label}'] = rows(Line(line.label, points, line.start), self.view, smoothed=False)
            self.run_chart_method('setOption', {'series': [{'id': k, 'data': v} for k, v in data.items()]})

    def _window(self, args: dict[str, Any]) -> tuple[float, float] | str | None:
        """The visible x range: the brush gives values, the wheel gives percents of the data's x extent."""
        if args.get('startValue') is not None and args.get('endValue') is not None:
            return float(args['startValue']), float(args['endValue'])
        start, end = args.get('start'), args.get('end')
        if start is None or end is None:
            return None
        if start <= 0 and end >= 100:
            return 'full'
        xs = [x_of(p, self.view.x, line.start) for line in self.lines.values() for p in (line.points[:1] +
                                                                                         line.points[-1:])]
        if not xs:
            return None
        low, span = min(xs), max(xs) - min(xs)
        return low + span * start / 100, low + span * end / 100


def _steps_in(line: Line, x: XAxis, window: tuple[float, float]) -> tuple[int | None, int | None]:
    """The steps of a line that cover an x window: a point either side too, so the line runs to the chart's edges."""
    xs = [x_of(p, x, line.start) for p in line.points]
    inside = [i for i, v in enumerate(xs) if window[0] <= v <= window[1]]
    if not inside:
        before = [i for i, v in enumerate(xs) if v < window[0]]
        if not before:
            return None, None
        inside = [before[-1]]
    first, last = max(inside[0] - 1, 0), min(inside[-1] + 1, len(xs) - 1)
    return int(line.points[first][0]), int(line.points[last][0])
