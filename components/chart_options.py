"""ECharts options for metric charts, as pure functions of the lines and the view, so the chart element stays thin and
every decision (smoothing, robust y-range, log scale, x-axis, formats) can be tested without a browser.

A point is `[step, value]` or `[step, value, unix time]`; a value that is not a number (NaN, ±Infinity as the store
names them) is a gap. Time axes need the third element; a line without it is drawn by step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

XAxis = Literal['step', 'wall', 'relative']
X_AXES: dict[str, str] = {'step': 'Step', 'wall': 'Wall time', 'relative': 'Relative time'}
# the default ECharts palette, set per line so that a line's faint raw copy has its colour
PALETTE = ['#5470c6', '#91cc75', '#fac858', '#ee6666', '#73c0de', '#3ba272', '#fc8452', '#9a60b4', '#ea7ccc']
RAW_OPACITY = 0.25
# greys that read on the light page and on the dark one alike (the options are the same for both; ECharts' own
# dark-grey title and near-white grid lines did not): text about 4.5:1 on white and on #121212
TEXT = '#777'
GRID_LINE = 'rgba(128, 128, 128, 0.22)'
CLIP_QUANTILES = (0.01, 0.99)  # never the extreme values themselves (see _quantile)
CLIP_FENCE = 1.5  # a value beyond the quantile range by this many ranges is an outlier the y-range leaves out


@dataclass(slots=True)
class Line:
    """One named line of a chart (a run, on a comparison); `start` is when its run started (relative time)."""
    label: str
    points: list[list[Any]]
    start: float | None = None


@dataclass(slots=True)
class ChartView:
    """How every chart of a page is drawn; the toolbar above the charts sets it."""
    smoothing: float = 0.0  # exponential moving average weight, 0 (raw) .. 0.99
    log: bool = False
    clip: bool = True  # leave outliers out of the y-range
    x: XAxis = 'step'
    step_name: str = 'step'  # 'seconds' for metrics whose steps are the seconds of the run (GPU samples)


@dataclass(slots=True)
class YRange:
    min: float | None = None  # None: ECharts' own (nice bounds around the data)
    max: float | None = None
    clipped: int = 0  # points left out of the range
    fences: tuple[float, float] = (-math.inf, math.inf)  # values beyond are outliers

    def keeps(self, value: float) -> bool:
        return self.fences[0] <= value <= self.fences[1]


def chart_options(name: str, lines: list[Line], view: ChartView) -> dict[str, Any]:
    """The whole options of one chart: a series per line (and its faint raw copy when smoothed)."""
    y = y_range(lines, view)
    series: list[dict[str, Any]] = []
    for index, line in enumerate(lines):
        color = PALETTE[index % len(PALETTE)]
        if view.smoothing > 0:
            series.append({'id': f'raw:{line.label}', 'name': line.label, 'type': 'line', 'showSymbol': False,
                           'silent': True, 'z': 1, 'color': color, 'lineStyle': {'opacity': RAW_OPACITY, 'width': 1},
                           'emphasis': {'disabled': True}, 'tooltip': {'show': False},
                           'data': rows(line, view, smoothed=False)})
        series.append({'id': f'main:{line.label}', 'name': line.label, 'type': 'line', 'showSymbol': False,
                       'z': 2, 'color': color, 'lineStyle': {'width': 1.5}, 'data': rows(line, view, y=y)})
    several = len(lines) > 1
    return {
        'animation': False,
        'title': {'text': name, 'top': 4, 'textStyle': {'fontSize': 13, 'fontWeight': 'normal', 'color': TEXT}},
        # under the title, above the plot (clear of the title, the expand button and the top y label): how many points
        # the robust y-range leaves off
        'graphic': [{'id': 'clipped', 'type': 'text', 'left': 8, 'top': 24, 'silent': True,
                     'style': {'text': clipped_note(y.clipped), 'fill': TEXT, 'fontSize': 11}}],
        # under the chart, where it cannot run into the title; a long one scrolls
        'legend': {'show': several, 'bottom': 0, 'type': 'scroll', 'data': [line.label for line in lines],
                   'itemHeight': 8, 'textStyle': {'color': TEXT}, 'pageTextStyle': {'color': TEXT}},
        'grid': {'left': 8, 'right': 24, 'top': 46, 'bottom': grid_bottom(view, legend=several), 'containLabel': True},
        'tooltip': {'trigger': 'axis', ':formatter': _tooltip_js(view)},
        'xAxis': _x_axis(view),
        'yAxis': _y_axis(view, y),
        # zoom by brushing across the chart (set up in the browser by MetricChart), wheel zoom only with ctrl
        'brush': {'xAxisIndex': 0, 'brushLink': 'none', 'throttleType': 'debounce', 'outOfBrush': {'colorAlpha': 1},
                  'brushStyle': {'color': 'rgba(84,112,198,0.15)', 'borderColor': 'rgba(84,112,198,0.6)'}},
        'toolbox': {'show': False},
        'dataZoom': [{'type': 'inside', 'xAxisIndex': 0, 'filterMode': 'none', 'zoomOnMouseWheel': 'ctrl',
                      'moveOnMouseWheel': False, 'moveOnMouseMove': False}],
        'series': series,
    }


def grid_bottom(view: ChartView, *, legend: bool) -> int:
    """Room under the plot: for the step axis' name (under its labels) and for a legend."""
    return (22 if view.x == 'step' else 4) + (26 if legend else 0)


def rows(line: Line, view: ChartView, *, smoothed: bool = True, points: list[list[Any]] | None = None,
         y: YRange | None = None) -> list[list[Any]]:
    """The chart's `[x, y, step]` rows of a line (or of its last `points`, for appending in the browser). The
    outliers that `y` leaves off the scale are left out of the average too: one spike must not lift the smoothed
    line for hundreds of steps."""
    values = [_plottable(p[1], view.log) for p in line.points]
    if smoothed and view.smoothing > 0:
        held = [y is not None and v is not None and not y.keeps(v) for v in values]
        values = ema(values, view.smoothing, held)
    start = _start(line)
    shown = line.points if points is None else line.points[len(line.points) - len(points):]
    values = values[len(values) - len(shown):]
    return [[x_of(p, view.x, start), v, p[0]] for p, v in zip(shown, values, strict=True)]


def ema(values: list[float | None], weight: float, held: list[bool] | None = None) -> list[float | None]:
    """Exponential moving average, debiased like TensorBoard's (the first values are not pulled towards 0);
    a gap stays a gap and does not reset the average; a `held` value (an outlier) repeats the average so far."""
    out: list[float | None] = []
    last, count = 0.0, 0
    for index, value in enumerate(values):
        if value is None or (held and held[index]):
            out.append(None if value is None or not count else last / (1 - weight ** count))
            continue
        last = last * weight + (1 - weight) * value
        count += 1
        out.append(last / (1 - weight ** count))
    return out


def y_range(lines: list[Line], view: ChartView) -> YRange:
    """A y-range that leaves out outliers: a value further than CLIP_FENCE quantile ranges beyond the 1st..99th
    percentiles is off the scale (one spike of 1e6 must not flatten a loss curve); without outliers, ECharts' own."""
    values = sorted(v for line in lines for p in line.points if (v := _plottable(p[1], view.log)) is not None)
    if not view.clip or len(values) < 10:
        return YRange()
    scaled = [math.log10(v) for v in values] if view.log else values
    low, high = _quantile(scaled, CLIP_QUANTILES[0]), _quantile(scaled, CLIP_QUANTILES[1])
    spread = high - low or abs(high) * 0.1 or 1.0
    below = sum(1 for v in scaled if v < low - CLIP_FENCE * spread)
    above = sum(1 for v in scaled if v > high + CLIP_FENCE * spread)
    if not below and not above:
        return YRange()
    # the kept values' own extent, with a margin, so the curve fills the chart
    kept = [v for v in scaled if low - CLIP_FENCE * spread <= v <= high + CLIP_FENCE * spread]
    margin = (kept[-1] - kept[0]) * 0.05 or spread * 0.05
    lo, hi = kept[0] - margin if below else None, kept[-1] + margin if above else None
    fences = (low - CLIP_FENCE * spread, high + CLIP_FENCE * spread)
    if view.log:
        lo, hi, fences = (10 ** lo if lo is not None else None), (10 ** hi if hi is not None else None), \
            (10 ** fences[0], 10 ** fences[1])
    return YRange(min=_round(lo), max=_round(hi), clipped=below + above, fences=fences)


def x_of(point: list[Any], x: XAxis, start: float | None) -> float:
    if x == 'step' or len(point) < 3 or point[2] is None:
        return point[0]
    if x == 'wall':
        return point[2] * 1000  # ECharts' time axis counts milliseconds
    return point[2] - (start or 0)


# --- helpers -------------------------------------------------------------------------------------------------------

# numbers as people read them: ~5 significant digits, exponents only for the very large or small
FORMAT_JS = '''(v, digits) => {
  if (v === null || v === undefined || typeof v !== 'number' || !isFinite(v)) return '–';
  const p = Number(v.toPrecision(digits || 5));
  const a = Math.abs(p);
  return (a >= 1e6 || (a > 0 && a < 1e-4)) ? p.toExponential().replace('e+', 'e') : String(p);
}'''
DURATION_JS = '''(s) => {
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
  return h ? `${h}h ${String(m).padStart(2, '0')}m` : m ? `${m}m ${String(r).padStart(2, '0')}s` : `${r}s`;
}'''
TIME_JS = '''(ms) => new Date(ms).toLocaleString([], {month: 'short', day: 'numeric', hour: '2-digit',
  minute: '2-digit', second: '2-digit'})'''
ESCAPE_JS = '''(s) => String(s).replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;',
  "'": '&#39;'})[c])'''


def _y_axis(view: ChartView, y: YRange) -> dict[str, Any]:
    # a clipped end is not a nice number: its label would crowd the nice tick next to it ("2.64" over "2.5")
    return {'type': 'log' if view.log else 'value', 'scale': True, 'min': y.min, 'max': y.max,
            'splitLine': {'lineStyle': {'color': GRID_LINE}},
            'axisLabel': {':formatter': f'v => ({FORMAT_JS})(v, 3)', 'hideOverlap': True,
                          'showMinLabel': False if y.min is not None else None,
                          'showMaxLabel': False if y.max is not None else None}}


def clipped_note(count: int) -> str:
    return f'{count} outlier{"s" if count != 1 else ""} off the scale' if count else ''


def _x_axis(view: ChartView) -> dict[str, Any]:
    common = {'min': None, 'max': None, 'splitLine': {'show': False},
              'axisLabel': {'hideOverlap': True, 'showMinLabel': None, 'showMaxLabel': None}}
    if view.x == 'wall':
        return {**common, 'type': 'time', 'name': '', 'minInterval': None}
    if view.x == 'relative':
        return {**common, 'type': 'value', 'name': '', 'scale': True, 'minInterval': 1,
                'axisLabel': {**common['axisLabel'], ':formatter': DURATION_JS}}
    # whole steps only (no "16.5" when zoomed in), and nice bounds rather than the data's own ("600 632")
    return {**common, 'type': 'value', 'name': view.step_name, 'nameLocation': 'middle', 'nameGap': 24,
            'nameTextStyle': {'fontSize': 11, 'color': TEXT}, 'scale': True, 'minInterval': 1,
            'axisLabel': {**common['axisLabel'], ':formatter': 'v => Number.isInteger(v) ? String(v) : ""'}}


def _tooltip_js(view: ChartView) -> str:
    """Header: the step (or time and step); then each line's value. Labels are escaped: they are run names."""
    header = {
        'step': f'`{view.step_name} ${{step}}`',
        'wall': f'`${{({TIME_JS})(x)}} · {view.step_name} ${{step}}`',
        'relative': f'`${{({DURATION_JS})(x)}} · {view.step_name} ${{step}}`',
    }[view.x]
    return f'''params => {{
  const fmt = {FORMAT_JS}, esc = {ESCAPE_JS};
  const shown = params.filter(p => String(p.seriesId).startsWith('main:'));
  if (!shown.length) return '';
  const x = shown[0].value[0], step = shown[0].value[2];
  return [esc({header})].concat(shown.map(p => `${{p.marker}}${{esc(p.seriesName)}} <b>${{fmt(p.value[1])}}</b>`))
    .join('<br>');
}}'''


def _plottable(value: Any, log: bool) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return None if log and value <= 0 else float(value)


def _start(line: Line) -> float | None:
    if line.start is not None:
        return line.start
    return next((p[2] for p in line.points if len(p) > 2 and p[2] is not None), None)


def _quantile(ordered: list[float], q: float) -> float:
    """Interpolated, but never from the smallest or largest value: in a short series one spike would be it."""
    position = min(max((len(ordered) - 1) * q, 1), len(ordered) - 2)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _round(value: float | None) -> float | None:
    """Bounds to 4 significant digits: the axis' end labels stay short."""
    if value is None or value == 0:
        return value
    digits = 3 - math.floor(math.log10(abs(value)))
    return round(value, digits)
