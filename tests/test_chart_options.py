"""How a metric chart is drawn, decided in Python (components/chart_options.py): lines, smoothing, the robust y-range,
log scale, x-axes, and the browser-side formats (run by Node, as the browser would run them)."""

import json
import math
import shutil
import subprocess

import pytest

from components.chart_options import FORMAT_JS, ChartView, Line, chart_options, ema, rows, y_range


def loss(n: int = 200) -> list[list[float]]:
    return [[s, 2.0 / (s + 1) + 0.05, 1_700_000_000.0 + 3 * s] for s in range(n)]


def test_several_named_lines_on_one_chart() -> None:
    options = chart_options('train/loss', [Line('baseline', loss()), Line('cosine-lr', loss(50))], ChartView())
    assert [s['name'] for s in options['series']] == ['baseline', 'cosine-lr']
    assert [len(s['data']) for s in options['series']] == [200, 50]
    assert options['legend']['show'] is True
    assert options['series'][0]['color'] != options['series'][1]['color']


def test_one_line_has_no_legend() -> None:
    options = chart_options('train/loss', [Line('run', loss())], ChartView())
    assert options['legend']['show'] is False
    assert len(options['series']) == 1


def test_one_spike_does_not_flatten_the_chart() -> None:
    points = loss()
    points[120][1] = 1e6
    clipped = y_range([Line('run', points)], ChartView())
    assert clipped.max is not None and clipped.max < 3  # the curve (0.06 .. 2.05) fills the chart
    assert clipped.clipped == 1
    options = chart_options('l', [Line('run', points)], ChartView())
    assert options['graphic'][0]['style']['text'] == '1 outlier off the scale'
    assert options['yAxis']['axisLabel']['showMaxLabel'] is False  # "2.64" would crowd the tick of 2.5
    # the toggle: every value in range again
    assert y_range([Line('run', points)], ChartView(clip=False)).max is None


def test_a_steep_start_is_not_an_outlier() -> None:
    """A loss that starts at 10 and falls fast: its first values are the curve, not spikes."""
    points = [[s, 10 * math.exp(-s / 5) + 0.1] for s in range(300)]
    assert y_range([Line('run', points)], ChartView()).max is None


def test_log_scale_drops_values_it_cannot_draw() -> None:
    points = [[0, 0.0], [1, -1.0], [2, 0.5], [3, 'NaN'], [4, 0.25]]
    options = chart_options('l', [Line('run', points)], ChartView(log=True))
    assert options['yAxis']['type'] == 'log'
    assert [row[1] for row in options['series'][0]['data']] == [None, None, 0.5, None, 0.25]


def test_smoothing_keeps_the_raw_line_faint_beneath() -> None:
    points = [[s, float(s % 2)] for s in range(100)]
    options = chart_options('l', [Line('run', points)], ChartView(smoothing=0.9))
    raw, smooth = options['series']
    assert raw['id'] == 'raw:run' and raw['lineStyle']['opacity'] < 0.5 and raw['z'] < smooth['z']
    assert [r[1] for r in raw['data']] == [p[1] for p in points]
    assert all(0.3 < r[1] < 0.7 for r in smooth['data'][20:])  # the zig-zag averaged out


def test_a_clipped_spike_does_not_lift_the_smoothed_line() -> None:
    points = loss()
    points[120][1] = 1e6
    options = chart_options('l', [Line('run', points)], ChartView(smoothing=0.9))
    smooth = options['series'][1]['data']
    assert max(r[1] for r in smooth[100:]) < 1  # without the clip, the average would sit near 1e5 after the spike
    assert options['series'][0]['data'][120][1] == 1e6  # the raw line still shows it
    assert max(r[1] for r in chart_options('l', [Line('run', points)],
                                            ChartView(smoothing=0.9, clip=False))['series'][1]['data']) > 1e4


def test_ema_is_debiased_and_skips_gaps() -> None:
    assert ema([1.0, 1.0, 1.0], 0.9) == pytest.approx([1.0, 1.0, 1.0])  # no pull towards 0 at the start
    assert ema([1.0, None, 3.0], 0.5) == pytest.approx([1.0, None, (0.5 * 0.5 + 0.5 * 3) / 0.75])
    assert ema([2.0, 4.0], 0.0) == [2.0, 4.0]


def test_appended_rows_continue_the_average() -> None:
    points = [[s, float(s)] for s in range(10)]
    line = Line('run', points)
    view = ChartView(smoothing=0.6)
    whole = rows(line, view)
    line.points.extend([[10, 10.0], [11, 11.0]])
    assert rows(line, view, points=[[10, 10.0], [11, 11.0]]) == rows(line, view)[-2:]
    assert rows(line, view)[:10] == whole


def test_x_axes() -> None:
    points = loss(10)
    step = chart_options('l', [Line('run', points)], ChartView())
    assert step['xAxis']['type'] == 'value' and step['xAxis']['minInterval'] == 1
    assert 'dataMin' not in json.dumps(step['xAxis'])  # nice bounds: no "600 632" at the ends
    assert [zoom['type'] for zoom in step['dataZoom']] == ['inside'] and step['brush']  # no slider: brushing
    wall = chart_options('l', [Line('run', points)], ChartView(x='wall'))
    assert wall['xAxis']['type'] == 'time' and wall['series'][0]['data'][1][0] == 1_700_000_003_000
    relative = chart_options('l', [Line('run', points, start=1_699_999_990.0)], ChartView(x='relative'))
    assert [r[0] for r in relative['series'][0]['data'][:2]] == [10.0, 13.0]
    assert relative['series'][0]['data'][1][2] == 1  # the step rides along for the tooltip
    # a line without times stays on steps
    assert chart_options('l', [Line('run', [[5, 1.0]])], ChartView(x='wall'))['series'][0]['data'][0][0] == 5


@pytest.mark.skipif(not shutil.which('node'), reason='needs Node to run the browser-side formats')
def test_numbers_read_like_numbers() -> None:
    values = [1.0890387146283742, 92, 1e6, 123456.789, 0.000012345678, 0, -2.5, None]
    out = _node(f'const f = {FORMAT_JS}; console.log(JSON.stringify({json.dumps(values)}.map(v => f(v))))')
    assert out == ['1.089', '92', '1e6', '123460', '1.2346e-5', '0', '-2.5', '–']


@pytest.mark.skipif(not shutil.which('node'), reason='needs Node to run the browser-side formats')
def test_tooltip_shows_whole_steps_short_values_and_escaped_names() -> None:
    options = chart_options('l', [Line('<b>x</b>', [[92, 1.0890387146283742]])], ChartView(smoothing=0.5))
    params = [{'seriesId': s['id'], 'seriesName': s['name'], 'marker': '', 'value': s['data'][0]}
              for s in options['series']]
    out = _node(f'console.log(JSON.stringify(({options["tooltip"][":formatter"]})({json.dumps(params)})))')
    assert out == 'step 92<br>&lt;b&gt;x&lt;/b&gt; <b>1.089</b>'
    axis = _node(f'console.log(JSON.stringify([92, 16.5].map({options["xAxis"]["axisLabel"][":formatter"]})))')
    assert axis == ['92', '']


def _node(script: str):
    return json.loads(subprocess.run(['node', '-e', script], check=True, capture_output=True, text=True,
                                     timeout=30).stdout)
