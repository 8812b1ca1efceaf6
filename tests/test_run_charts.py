"""The run page's charts: grouped by prefix in a stable order (live as after a reload), one toolbar for smoothing,
log scale, outliers and the x-axis, a full-width expand, and zooming that reads the finer detail from the server."""

import contextlib
from typing import Any

from nicegui import ui
from nicegui.testing import User

from components.metric_chart import MetricChart
from components.metric_charts import MetricCharts
from models import Run
from models import User as UserModel
from services import ingest, projects, runs
from tests.helpers import ADMIN_EMAIL, eventually


async def new_run() -> Run:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Charts')
    data, _ = await runs.create_run(owner, project['id'], name='mlp')
    return await Run.get(id=data['id'])


def order(admin: User) -> list[tuple[str, list[str]]]:
    """(group heading, chart names) as the page shows them, top to bottom."""
    charts = next(iter(admin.find(MetricCharts).elements))
    shown = []
    for section in charts.body.default_slot.children:
        heading, grid = section.default_slot.children
        names = [cell.default_slot.children[0].name for cell in grid.default_slot.children]
        shown.append((heading.text, names))
    return shown


async def shown(admin: User, name: str) -> None:
    def drawn() -> bool:
        with contextlib.suppress(AssertionError):  # `find` insists on at least one
            return name in {c.name for c in admin.find(MetricChart).elements}
        return False
    await eventually(drawn, tries=100, every_s=0.1)


def chart(admin: User, name: str) -> MetricChart:
    return next(c for c in admin.find(MetricChart).elements if c.name == name)


def points(name: str, steps: range, value: Any = 1.0) -> list[dict[str, Any]]:
    return [{'name': name, 'step': s, 'value': value if not callable(value) else value(s)} for s in steps]


async def test_charts_keep_one_order_live_and_after_a_reload(admin: User) -> None:
    run = await new_run()
    await admin.open(f'/runs/{run.id}')
    await admin.should_see('No metrics yet')
    # arrival order: neither alphabetical nor grouped
    for name in ['val/loss', 'system/gpu_util', 'train/loss', 'lr', 'train/accuracy', 'eval/bleu', 'val/acc']:
        await ingest.report(run, {'metrics': points(name, range(5))})
        await shown(admin, name)
    expected = [('train/', ['train/accuracy', 'train/loss']), ('val/', ['val/acc', 'val/loss']),
                ('eval/', ['eval/bleu']), ('Other', ['lr']), ('system/', ['system/gpu_util'])]
    await eventually(lambda: order(admin) == expected, every_s=0.1)
    assert order(admin) == expected
    await admin.open(f'/runs/{run.id}')
    await shown(admin, 'train/loss')
    assert order(admin) == expected


async def test_toolbar_sets_every_chart(admin: User) -> None:
    run = await new_run()
    await ingest.report(run, {'metrics': points('train/loss', range(300), lambda s: 1e6 if s == 150 else 1 / (s + 1))
                          + points('val/loss', range(0, 300, 10), 0.5)})
    await admin.open(f'/runs/{run.id}')
    await shown(admin, 'train/loss')
    loss = chart(admin, 'train/loss')
    assert loss.options['yAxis']['max'] is not None and loss.options['yAxis']['max'] < 2  # the spike is clipped

    admin.find('Ignore outliers').click()
    assert loss.options['yAxis']['max'] is None
    admin.find('Log scale').click()
    assert loss.options['yAxis']['type'] == 'log' and chart(admin, 'val/loss').options['yAxis']['type'] == 'log'

    slider = next(iter(admin.find(ui.slider).elements))
    slider.value = 0.9
    admin.find(ui.slider).trigger('change')
    assert [s['id'] for s in loss.options['series']] == ['raw:run', 'main:run']

    toggle = next(iter(admin.find(ui.toggle).elements))
    toggle.value = 'relative'
    await eventually(lambda: loss.options['xAxis']['type'] == 'value' and loss.options['xAxis']['name'] == '')
    toggle.value = 'wall'
    await eventually(lambda: loss.options['xAxis']['type'] == 'time')
    assert isinstance(loss.options['series'][1]['data'][0][0], float)  # milliseconds of the point's time
    # live points on a time axis are read with their time (a change carries steps and values only)
    await ingest.report(run, {'metrics': points('train/loss', range(300, 310), 0.01)})
    await eventually(lambda: loss.hi == 309, tries=100, every_s=0.1)
    assert all(len(p) == 3 and p[2] is not None for p in loss.lines['run'].points[-10:])


async def test_a_chart_expands_to_the_full_width(admin: User) -> None:
    run = await new_run()
    await ingest.report(run, {'metrics': points('train/loss', range(10))})
    await admin.open(f'/runs/{run.id}')
    await shown(admin, 'train/loss')
    loss = chart(admin, 'train/loss')
    admin.find(marker='expand').click()
    assert 'col-span-full' in loss.parent_slot.parent.classes and 'h-96' in loss.classes
    admin.find(marker='expand').click()
    assert 'col-span-full' not in loss.parent_slot.parent.classes and 'h-64' in loss.classes


async def test_zooming_reads_the_finer_detail(admin: User) -> None:
    run = await new_run()
    for start in range(0, 20_000, 5_000):
        await ingest.report(run, {'metrics': points('train/loss', range(start, start + 5_000), lambda s: s % 7)})
    await admin.open(f'/runs/{run.id}')
    await shown(admin, 'train/loss')
    loss = chart(admin, 'train/loss')
    assert loss.points_shown == 1_000  # downsampled
    # a brush from step 10,000 to 10,300: every raw point of it (and one either side of the overview's)
    admin.find(MetricChart).trigger('chart:datazoom', {'startValue': 10_000, 'endValue': 10_300})
    await eventually(lambda: loss.zoom_points.get('run', 0) > 300)
    assert 300 < loss.zoom_points['run'] < 400


async def test_a_system_metric_logged_by_step_has_a_step_axis(admin: User) -> None:
    run = await new_run()
    await ingest.report(run, {'metrics': points('system/gpu_util', range(0, 50_000, 1_000), 90.0)})
    await admin.open(f'/runs/{run.id}')
    await shown(admin, 'system/gpu_util')
    assert chart(admin, 'system/gpu_util').options['xAxis']['name'] == 'step'
