"""/compare?runs=<ids>: the runs of a link side by side, live; bad links and runs the viewer may not see."""

import pytest
from nicegui.testing import User

from components.compare_charts import CompareCharts, RunLinesChart
from components.config_diff import ConfigDiff
from components.parallel_view import ParallelView
from models import Run
from models import User as UserModel
from services import auth, ingest, projects, runs
from tests.conftest import sign_in
from tests.helpers import ADMIN_EMAIL, eventually


async def sweep(owner: UserModel, count: int = 3) -> tuple[int, list[int]]:
    project = await projects.create_project(owner, name='Sweep')
    ids = []
    for index in range(count):
        data, _ = await runs.create_run(owner, project['id'], name=f'lr-{index}',
                                        config={'lr': 10 ** -(index + 1), 'batch': 64, 'optim': 'adam'})
        await ingest.report(await Run.get(id=data['id']),
                            {'metrics': [{'name': 'train/loss', 'step': step, 'value': 2.0 / step + index}
                                         for step in range(1, 51)]})
        ids.append(data['id'])
    return project['id'], ids


async def chart(user: User, metric: str) -> RunLinesChart:
    """The chart of `metric`, once drawn: the charts are read after the page reached the browser."""
    charts = next(iter(user.find(CompareCharts).elements))
    await eventually(lambda: metric in charts.charts, tries=100)
    return charts.charts[metric]


async def test_runs_overlaid_with_their_config_diff_and_parallel_view(admin: User) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project_id, ids = await sweep(owner)
    await admin.open(f'/compare?runs={ids[0]},{ids[1]},{ids[2]},99999')
    await admin.should_see('Compare 3 runs')
    await admin.should_see('1 of the link\'s runs is left out: not found, or not yours to see (99999).')
    await admin.should_see('Sweep')  # the project, linked, before the title
    loss = await chart(admin, 'train/loss')
    assert list(loss.lines) == ['lr-0', 'lr-1', 'lr-2'] and len(loss.lines['lr-2'].points) == 50
    colours = {s['id']: s['color'] for s in loss.options['series']}
    assert len(set(colours.values())) == 3  # a colour per run...
    parallel = next(iter(admin.find(ParallelView).elements))
    assert [s['color'] for s in parallel.chart.options['series']] == [colours[f'main:lr-{i}'] for i in range(3)]

    diff = next(iter(admin.find(ConfigDiff).elements))
    assert [row['key'] for row in diff.table.rows] == ['lr']  # only the key that differs...
    assert [c['label'] for c in diff.table.columns] == ['key', 'lr-0', 'lr-1', 'lr-2']
    admin.find('Show all keys').click()
    assert [row['key'] for row in diff.table.rows] == ['batch', 'lr', 'optim']  # ...or every key
    assert diff.table.rows[1]['run' + str(ids[1])] == '0.01'

    axes = parallel.chart.options['parallelAxis']
    assert [axis['name'] for axis in axes] == ['lr', 'train/loss (last)']
    assert [s['data'][0] for s in parallel.chart.options['series']] == [[0.1, 0.04], [0.01, 1.04], [0.001, 2.04]]
    parallel.stat.set_value('max')
    assert [s['data'][0][1] for s in parallel.chart.options['series']] == [2.0, 3.0, 4.0]


async def test_points_and_metrics_arrive_live(admin: User) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    _, ids = await sweep(owner, 2)
    await admin.open(f'/compare?runs={ids[0]},{ids[1]}')
    await admin.should_see('Compare 2 runs')
    loss = await chart(admin, 'train/loss')
    second = await Run.get(id=ids[1])
    await ingest.report(second, {'metrics': [{'name': 'train/loss', 'step': 51, 'value': 0.5},
                                             {'name': 'eval/accuracy', 'step': 51, 'value': 0.9},
                                             {'name': 'train/accuracy', 'step': 51, 'value': 0.8}]})
    await eventually(lambda: loss.lines['lr-1'].points[-1] == [51, 0.5], tries=60)
    await eventually(lambda: any(c.name == 'eval/accuracy' for c in admin.find(RunLinesChart).elements), tries=60)
    accuracy = await chart(admin, 'eval/accuracy')
    assert list(accuracy.lines) == ['lr-1']
    # a run's colour is its own, in a chart where it is the only line too
    assert accuracy.options['series'][0]['color'] == next(s['color'] for s in loss.options['series']
                                                          if s['id'] == 'main:lr-1')
    parallel = next(iter(admin.find(ParallelView).elements))
    await eventually(lambda: 'eval/accuracy' in parallel.metric.options)
    charts = next(iter(admin.find(CompareCharts).elements))
    assert list(charts.body.groups) == ['train', 'eval']
    # in the page as after a reload: by group, then by name, whatever came first
    assert [section.default_slot.children[0].text for section in charts.body.default_slot.children] == \
        ['train/', 'eval/']
    assert [cell.default_slot.children[0].name for cell in charts.body.groups['train'].default_slot.children] == \
        ['train/accuracy', 'train/loss']


async def test_runs_of_one_config_say_so_instead_of_a_lone_axis(admin: User) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Seeds')
    ids = []
    for index in range(2):
        data, _ = await runs.create_run(owner, project['id'], name=f'same-{index}', config={'lr': 0.1})
        await ingest.report(await Run.get(id=data['id']), {'metrics': [{'name': 'loss', 'step': 1, 'value': index}]})
        ids.append(data['id'])
    await admin.open(f'/compare?runs={ids[0]},{ids[1]}')
    parallel = next(iter(admin.find(ParallelView).elements))
    await eventually(lambda: parallel.metric.value == 'loss')
    assert parallel.note.text == 'No config key differs between these runs: nothing to set the metric against.'
    assert not parallel.chart.visible


@pytest.mark.parametrize(('link', 'hint'), [
    ('abc', '"abc" is not a run id: name runs by their numbers, separated by commas, like /compare?runs=12,15,19.'),
    ('1,2,x3', '"x3" is not a run id'),
    (','.join(str(i) for i in range(1, 250)), 'At most 200 runs can be compared at once; this link names 249.'),
    ('', 'No runs to compare: name them by id in the link, like /compare?runs=12,15,19.'),
])
async def test_a_bad_link_says_what_is_wrong(admin: User, link: str, hint: str) -> None:
    await admin.open(f'/compare?runs={link}')
    await admin.should_see(hint)
    await admin.should_see('Back to projects')


async def test_one_run_and_runs_the_viewer_may_not_see(app_env: dict[str, str], user: User) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    _, ids = await sweep(owner, 2)
    other = await projects.create_project(owner, name='Other')
    hidden, _ = await runs.create_run(owner, other['id'], name='hidden-run')
    viewer = await auth.create_user('viewer@example.com', 'a long password')
    await projects.add_member(owner, (await Run.get(id=ids[0])).project_id, viewer.email, 'viewer')
    await sign_in(user, 'viewer@example.com', 'a long password')

    await user.open(f'/compare?runs={ids[0]}')
    await user.should_see('Compare 1 run')
    await user.should_see('One run: 3 config keys, nothing to compare it with.')
    await user.open(f'/compare?runs={hidden["id"]},{ids[1]}')
    await user.should_see('Compare 1 run')
    await user.should_see(f'1 of the link\'s runs is left out: not found, or not yours to see ({hidden["id"]}).')
    await user.should_not_see('hidden-run')
    await user.open(f'/compare?runs={hidden["id"]}')
    await user.should_see('Compare 0 runs')
    await user.should_not_see('hidden-run')


async def test_a_viewer_removed_from_one_of_the_projects_sees_its_runs_no_more(app_env: dict[str, str],
                                                                                user: User) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    _, ids = await sweep(owner, 1)
    other = await projects.create_project(owner, name='Other')
    elsewhere, _ = await runs.create_run(owner, other['id'], name='elsewhere')
    viewer = await auth.create_user('viewer@example.com', 'a long password')
    for project_id in ((await Run.get(id=ids[0])).project_id, other['id']):
        await projects.add_member(owner, project_id, viewer.email, 'viewer')
    await sign_in(user, 'viewer@example.com', 'a long password')
    await user.open(f'/compare?runs={ids[0]},{elsewhere["id"]}')
    await user.should_see('Compare 2 runs')
    await user.should_see('from 2 projects')  # across projects: each run by its own project's rule

    member = next(m for m in await projects.members(owner, other['id']) if m.email == viewer.email)
    await projects.remove_member(owner, other['id'], member.user_id)
    await user.should_see('Compare 1 run', retries=30)
    await user.should_see(f'not found, or not yours to see ({elsewhere["id"]})')
    await user.should_not_see('elsewhere')
