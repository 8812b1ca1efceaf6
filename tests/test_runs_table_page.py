"""The project page's runs table as a user drives it: numeric sorting, search, columns remembered, tags and notes in
place, bulk actions with a confirmation, the Compare link, and what a viewer may not do."""

from decimal import Decimal

from nicegui import ui
from nicegui.testing import User
from tortoise import connections

from components.runs_table import RunsTable
from models import Run, RunStatus
from models import User as UserModel
from services import auth, metric_store, projects, run_labels, run_table, runs
from tests.conftest import sign_in
from tests.helpers import ADMIN_EMAIL, eventually


async def _three_runs() -> tuple[int, dict[str, int]]:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Sweep')
    made = {}
    for name, cost, lr in (('cheap', '0.25', 0.001), ('pricey', '17.25', 0.01), ('middle', '3.00', 0.001)):
        data, _ = await runs.create_run(owner, project['id'], name=name, config={'lr': lr})
        await Run.filter(id=data['id']).update(cost_usd=Decimal(cost))
        made[name] = data['id']
    return project['id'], made


def _table(user: User) -> RunsTable:
    return next(iter(user.find(RunsTable).elements))


def _sort(user: User, by: str, descending: bool) -> None:
    table = _table(user)
    user.find(RunsTable).trigger('request', {'pagination': {**table.pagination, 'sortBy': by,
                                                            'descending': descending}})


async def test_cost_sorts_as_money_not_text(admin: User) -> None:
    project_id, _ = await _three_runs()
    await admin.open(f'/projects/{project_id}')
    table = _table(admin)
    _sort(admin, 'cost', False)
    await eventually(lambda: [row['cost'] for row in table.rows] == ['$0.25', '$3.00', '$17.25'])
    _sort(admin, 'cost', True)
    await eventually(lambda: [row['cost'] for row in table.rows] == ['$17.25', '$3.00', '$0.25'])
    await admin.open(f'/projects/{project_id}')  # the sort is remembered
    assert [row['cost'] for row in _table(admin).rows] == ['$17.25', '$3.00', '$0.25']


async def test_compare_opens_the_selected_or_the_filtered_runs(admin: User) -> None:
    project_id, made = await _three_runs()
    await admin.open(f'/projects/{project_id}')
    compare = next(iter(admin.find(marker='compare').elements))
    assert compare.text == 'Compare 3 runs'
    newest_first = [made['middle'], made['pricey'], made['cheap']]
    assert compare.props['href'] == '/compare?runs=' + ','.join(map(str, newest_first))
    admin.find('Search').type('lr=0.001')  # the filtered table's runs, all of them (not five)
    await eventually(lambda: compare.text == 'Compare 2 runs')
    assert compare.props['href'] == f'/compare?runs={made["middle"]},{made["cheap"]}'
    row = next(row for row in _table(admin).rows if row['name'] == 'cheap')
    admin.find(RunsTable).trigger('selection', {'rows': [row], 'keys': [row['id']], 'added': True})
    await eventually(lambda: compare.text == 'Compare 1 run')  # not "1 runs"
    assert compare.props['href'] == f'/compare?runs={made["cheap"]}'


async def test_search_filters_and_columns_are_remembered(admin: User) -> None:
    project_id, made = await _three_runs()
    await metric_store.write_points(connections.get('default'), made['pricey'], [
        metric_store.Point(name='val/loss', step=s, value=v, special=None, timestamp=1.0 + s)
        for s, v in enumerate([0.9, 0.123456, 0.5])])
    await admin.open(f'/projects/{project_id}')
    admin.find('Search').type('pri')
    await eventually(lambda: [row['name'] for row in _table(admin).rows] == ['pricey'])
    await admin.should_see('1 of 3 runs')
    next(iter(admin.find('Columns of metrics').elements)).set_value(['min:val/loss'])
    next(iter(admin.find('Columns of config values').elements)).set_value(['lr'])
    await eventually(lambda: _table(admin).rows[0].get('min:val/loss') == '0.1235')
    assert _table(admin).rows[0]['config:lr'] == '0.01'
    await admin.open(f'/projects/{project_id}')
    table = _table(admin)
    assert [row['name'] for row in table.rows] == ['pricey']
    assert {'min:val/loss', 'config:lr'} <= {column['name'] for column in table.columns}


async def test_every_page_shows_its_metric_columns(admin: User) -> None:
    """The page is sent with the first page's metric columns and reads every run's once the tab is connected: the
    second page and a sort by a metric have theirs, and the column picker offers every metric."""
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Many')
    for n in range(30):  # more than a page (25)
        data, _ = await runs.create_run(owner, project['id'], name=f'run-{n:02d}')
        await metric_store.write_points(connections.get('default'), data['id'], [
            metric_store.Point(name='val/loss', step=s, value=n + 1 / (s + 1), special=None, timestamp=1.0 + s)
            for s in range(3)])
    await run_table.save_view(owner, project['id'], run_table.View(metric_columns=['min:val/loss']))
    await admin.open(f'/projects/{project["id"]}')
    table = _table(admin)
    assert [row['min:val/loss'] for row in table.rows[:2]] == ['29.33', '28.33']  # newest first, in the first paint
    admin.find(RunsTable).trigger('request', {'pagination': {**table.pagination, 'page': 2}})
    await eventually(lambda: [row['min:val/loss'] for row in table.rows] == ['4.333', '3.333', '2.333', '1.333',
                                                                            '0.3333'])
    options = next(iter(admin.find('Columns of metrics').elements)).options
    assert {'last:val/loss', 'min:val/loss', 'max:val/loss'} <= set(options)
    _sort(admin, 'min:val/loss', False)  # on the second page still: the highest five, lowest first
    await eventually(lambda: [row['name'] for row in table.rows] == [f'run-{n}' for n in range(25, 30)])


async def test_tags_and_notes_in_place_and_live(admin: User) -> None:
    project_id, made = await _three_runs()
    await admin.open(f'/projects/{project_id}')
    table = _table(admin)
    admin.find(RunsTable).trigger('edit', {'id': made['cheap'], 'what': 'tags'})  # a click on the tags cell
    await admin.should_see(marker='label-field')
    admin.find(marker='label-field').type('baseline lr-sweep')
    admin.find(marker='save-label').click()
    await eventually(lambda: next(r for r in table.rows if r['name'] == 'cheap')['tags'] == ['baseline', 'lr-sweep'])
    admin.find(RunsTable).trigger('edit', {'id': made['cheap'], 'what': 'tags'})
    await admin.should_see(marker='label-field')
    admin.find(marker='label-field').clear().type('not<valid>')
    admin.find(marker='save-label').click()
    await admin.should_see('The tag "not<valid>" is not valid')  # in the dialog, which stays open
    assert (await Run.get(id=made['cheap'])).tags == ['baseline', 'lr-sweep']
    admin.find(marker='dismiss').click()
    await admin.should_not_see(marker='save-label')
    admin.find(RunsTable).trigger('edit', {'id': made['middle'], 'what': 'note'})
    await admin.should_see(marker='label-field')
    admin.find(marker='label-field').type('the one to beat')
    admin.find(marker='save-label').click()
    await eventually(lambda: next(r for r in table.rows if r['name'] == 'middle')['note'] == 'the one to beat')
    owner = await UserModel.get(email=ADMIN_EMAIL)
    await run_labels.set_labels(owner, made['pricey'], note='written in another tab')  # live, in place
    await eventually(lambda: next(r for r in table.rows if r['name'] == 'pricey')['note'] == 'written in another tab')


async def test_bulk_archive_asks_first_and_hides_the_runs(admin: User) -> None:
    project_id, made = await _three_runs()
    await admin.open(f'/projects/{project_id}')
    table = _table(admin)
    chosen = [row for row in table.rows if row['name'] in ('cheap', 'pricey')]
    admin.find(RunsTable).trigger('selection', {'rows': chosen, 'keys': [r['id'] for r in chosen], 'added': True})
    await admin.should_see('2 selected')
    admin.find(kind=ui.button, content='Archive').click()
    await admin.should_see('Archive 2 runs?')
    admin.find(marker='confirm').click()
    await eventually(lambda: [row['name'] for row in table.rows] == ['middle'])
    await admin.should_see('1 of 3 runs · 2 archived hidden')
    assert await Run.filter(archived_at__isnull=False).count() == 2
    admin.find('Archived').click()  # the filter that shows them
    await eventually(lambda: len(table.rows) == 3)


async def test_bulk_actions_show_with_a_selection_and_say_how_many(admin: User) -> None:
    project_id, _ = await _three_runs()
    await admin.open(f'/projects/{project_id}')
    table = _table(admin)
    await admin.should_see('3 of 3 runs')
    for verb in ('Stop', 'Tag', 'Archive'):  # nothing selected: nothing to act on, no buttons
        await admin.should_not_see(kind=ui.button, content=verb)

    def select(names: tuple[str, ...], added: bool = True) -> None:  # the rows' checkboxes
        chosen = [row for row in table.rows if row['name'] in names]
        admin.find(RunsTable).trigger('selection', {'rows': chosen, 'keys': [r['id'] for r in chosen],
                                                    'added': added})
    select(('cheap', 'pricey', 'middle'))
    for label in ('Stop 3 runs', 'Tag 3 runs', 'Archive 3 runs'):
        await admin.should_see(kind=ui.button, content=label)
    select(('pricey', 'middle'), added=False)
    await admin.should_see(kind=ui.button, content='Stop 1 run')  # not "1 runs"
    select(('cheap',), added=False)
    await admin.should_not_see(kind=ui.button, content='Stop')


async def test_stop_counts_only_the_selected_runs_that_have_not_ended(admin: User) -> None:
    """Two ended runs selected offered "Stop 2 runs", then said "Stop: 0 runs; 2 left as they were" (a review)."""
    project_id, made = await _three_runs()
    for name in ('pricey', 'middle'):
        await Run.filter(id=made[name]).update(status=RunStatus.FAILED.value)
    await admin.open(f'/projects/{project_id}')
    table = _table(admin)
    await admin.should_see('3 of 3 runs')
    admin.find(RunsTable).trigger('selection', {'rows': table.rows, 'keys': [r['id'] for r in table.rows],
                                                'added': True})
    await admin.should_see(kind=ui.button, content='Stop 1 run')
    await admin.should_see(kind=ui.button, content='Tag 3 runs')
    ended = [row for row in table.rows if row['name'] != 'cheap']
    admin.find(RunsTable).trigger('selection', {'rows': [r for r in table.rows if r['name'] == 'cheap'],
                                                'keys': [made['cheap']], 'added': False})
    await admin.should_see(kind=ui.button, content='Archive 2 runs')
    await admin.should_not_see(kind=ui.button, content='Stop')  # nothing left to stop
    assert len(ended) == 2


async def test_a_viewer_reads_but_cannot_edit(app_env: dict[str, str], user: User) -> None:
    project_id, made = await _three_runs()
    owner = await UserModel.get(email=ADMIN_EMAIL)
    await run_labels.set_labels(owner, made['cheap'], tags=['baseline'])
    await auth.create_user('viv@example.com', 'a long password')
    await projects.add_member(owner, project_id, 'viv@example.com', 'viewer')
    await sign_in(user, 'viv@example.com', 'a long password')
    await user.open(f'/projects/{project_id}')
    table = _table(user)
    assert next(r for r in table.rows if r['name'] == 'cheap')['tags'] == ['baseline']
    assert '$emit' not in table.slots['body-cell-tags'].template  # no editor to open
    await user.should_not_see(kind=ui.button, content='Archive')
    user.find(RunsTable).trigger('edit', {'id': made['cheap'], 'what': 'tags'})  # a crafted event: refused
    await user.should_see('Only the project\'s editors and owners can change tags and notes.')
    assert (await Run.get(id=made['cheap'])).tags == ['baseline']


async def test_a_saved_grouping_opens_again(admin: User) -> None:
    """Grouping by a config key and a best-of metric were saved, and the page then failed to open (500) for that
    user and project, everywhere: the two pickers started with none but their blank option (a new user's review)."""
    project_id, made = await _three_runs()
    owner = await UserModel.get(email=ADMIN_EMAIL)
    await metric_store.write_points(connections.get('default'), made['cheap'],
                                    [metric_store.Point('loss', 1, 0.5, None, 0.0)])
    view = await run_table.saved_view(owner, project_id)
    view.group_by, view.group_metric = 'config:lr', 'last:loss'
    await run_table.save_view(owner, project_id, view)
    await admin.open(f'/projects/{project_id}')
    await admin.should_see('config: lr')  # grouped, as saved
    assert len(_table(admin).rows) == 3
