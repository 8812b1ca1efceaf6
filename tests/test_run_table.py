"""The runs table's reads: summary metrics of every run at once, numeric sorting, search, filters, grouping, the
remembered view; and tags, notes and bulk actions, with who may write them. Real SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tortoise import connections

from models import Run, RunStatus
from services import auth, lifecycle, metric_store, projects, run_labels, run_table, runs
from services.errors import Forbidden, Invalid, NotFound
from services.run_table import View


async def _project_with_runs() -> tuple:
    ada = await auth.create_user('ada@example.com', 'a long password', name='Ada')
    project = await projects.create_project(ada, name='sweep')
    made = {}
    for name, cost, config in (('cheap', '0.25', {'lr': 0.001, 'opt': 'adam'}),
                               ('pricey', '17.25', {'lr': 0.01, 'opt': 'sgd'}),
                               ('middle', '3.00', {'lr': 0.001, 'opt': 'sgd', 'warmup': True})):
        data, _ = await runs.create_run(ada, project['id'], name=name, config=config)
        await Run.filter(id=data['id']).update(cost_usd=Decimal(cost))
        made[name] = data['id']
    return ada, project['id'], made


async def _points(run_id: int, values: list[float], name: str = 'val/loss') -> None:
    conn = connections.get('default')
    await metric_store.write_points(conn, run_id, [metric_store.Point(name=name, step=step, value=value, special=None,
                                                                      timestamp=1.0 + step)
                                                   for step, value in enumerate(values)])


async def test_cost_sorts_as_a_number_and_missing_values_sort_last(orm: str) -> None:
    ada, project_id, _ = await _project_with_runs()
    rows = await run_table.load(ada, project_id, [])
    cheapest_first = run_table.apply(rows, View(sort='cost', descending=False)).rows
    assert [row.name for row in cheapest_first] == ['cheap', 'middle', 'pricey']  # as text: 0.25, 17.25, 3.00
    assert [row.name for row in run_table.apply(rows, View(sort='cost')).rows] == ['pricey', 'middle', 'cheap']
    by_warmup = run_table.apply(rows, View(sort='config:warmup')).rows
    assert by_warmup[0].name == 'middle'  # the only run that has the key; the others after it, either direction
    assert run_table.apply(rows, View(sort='config:warmup', descending=False)).rows[0].name == 'middle'


async def test_summary_metrics_of_every_run_in_one_read(orm: str) -> None:
    ada, project_id, made = await _project_with_runs()
    await _points(made['cheap'], [2.0, 0.5, 9.0, 1.0])  # a spike in the middle: max 9, min 0.5, last 1
    await _points(made['pricey'], [3.0, 0.2, 0.4])
    keys = ['last:val/loss', 'min:val/loss', 'max:val/loss']
    rows = {row.name: row for row in await run_table.load(ada, project_id, keys)}
    assert rows['cheap'].metrics == {'last:val/loss': 1.0, 'min:val/loss': 0.5, 'max:val/loss': 9.0}
    assert rows['pricey'].metrics == {'last:val/loss': 0.4, 'min:val/loss': 0.2, 'max:val/loss': 3.0}
    assert rows['middle'].metrics == {}
    best = run_table.apply(list(rows.values()), View(sort='min:val/loss', descending=False)).rows
    assert [row.name for row in best] == ['pricey', 'cheap', 'middle']
    one = await run_table.load_one(ada, made['cheap'], project_id, ['max:val/loss'])
    assert one is not None and one.metrics == {'max:val/loss': 9.0}
    assert await run_table.metric_names(project_id) == ['val/loss']


async def test_metrics_of_some_runs_as_the_full_read_has_them(orm: str) -> None:
    """The first page's metric columns (read before the rest, services/run_table.fill_metrics) are the full read's;
    the runs not asked for stay without."""
    ada, project_id, made = await _project_with_runs()
    await _points(made['cheap'], [2.0, 0.5, 9.0, 1.0])
    await _points(made['pricey'], [3.0, 0.2, 0.4])
    keys = ['last:val/loss', 'min:val/loss', 'max:val/loss']
    full = {row.name: row.metrics for row in await run_table.load(ada, project_id, keys)}
    rows = await run_table.load(ada, project_id, [])
    assert all(row.metrics == {} for row in rows)
    some = [row for row in rows if row.name in ('cheap', 'middle')]
    await run_table.fill_metrics(project_id, some, keys)
    assert {row.name: row.metrics for row in some} == {'cheap': full['cheap'], 'middle': {}}
    assert next(row for row in rows if row.name == 'pricey').metrics == {}  # not asked for: not read


async def test_search_and_filters(orm: str) -> None:
    ada, project_id, made = await _project_with_runs()
    await run_labels.set_labels(ada, made['cheap'], tags=['baseline', 'lr-sweep'], note='the one to beat')
    rows = await run_table.load(ada, project_id, [])

    def names(**view: object) -> set[str]:
        return {row.name for row in run_table.apply(rows, View(**view)).rows}

    assert names(search='PRI') == {'pricey'}
    assert names(search='lr=0.001') == {'cheap', 'middle'}  # a config value
    assert names(search='opt=sgd lr=0.001') == {'middle'}  # every word must match
    assert names(search='baseline') == {'cheap'}  # a tag
    assert names(tags=['lr-sweep', 'nothing']) == {'cheap'}
    assert names(launched_by=['Ada']) == {'cheap', 'pricey', 'middle'}
    assert names(statuses=['running']) == set()
    assert names(providers=['external']) == {'cheap', 'pricey', 'middle'}
    await Run.filter(id=made['pricey']).update(created_at=datetime.now(UTC) - timedelta(days=10))
    rows = await run_table.load(ada, project_id, [])
    assert names(days=7) == {'cheap', 'middle'}


async def test_numbers_compare_as_numbers_whether_sent_as_numbers_or_as_mlflow_s_texts(orm: str) -> None:
    """A new user's review: 'lr=3e-4' found nothing where lr was 0.0003, no search could say lr<0.01, and MLflow's
    params (texts) sorted after every number."""
    ada, project_id, made = await _project_with_runs()
    data, _ = await runs.create_run(ada, project_id, name='from-mlflow', config={'lr': '0.0003', 'opt': 'adam'})
    await _points(made['pricey'], [0.9, 0.95])
    rows = await run_table.load(ada, project_id, ['last:val/loss'])

    def names(**view: object) -> list[str]:
        return [row.name for row in run_table.apply(rows, View(**view)).rows]

    assert set(names(search='lr=3e-4')) == {'from-mlflow'}  # the text '0.0003', as a number
    assert set(names(search='lr=1e-3')) == {'cheap', 'middle'}
    assert set(names(search='lr<0.005')) == {'cheap', 'middle', 'from-mlflow'}
    assert set(names(search='lr>=0.01 opt=sgd')) == {'pricey'}
    assert set(names(search='val/loss>0.9')) == {'pricey'}  # a metric column shown
    assert names(search='lr>abc') == []
    assert names(sort='config:lr', descending=False)[::3] == ['from-mlflow', 'pricey']  # 0.0003 < 0.001 < 0.01


async def test_archived_runs_are_hidden_unless_asked_for(orm: str) -> None:
    ada, project_id, made = await _project_with_runs()
    done = await run_labels.bulk(ada, project_id, [made['cheap'], made['middle']], 'archive')
    assert done.done == 2
    rows = await run_table.load(ada, project_id, [])
    shown = run_table.apply(rows, View())
    assert [row.name for row in shown.rows] == ['pricey'] and shown.hidden_archived == 2
    assert len(run_table.apply(rows, View(archived=True)).rows) == 3
    assert (await runs.snapshot(await Run.get(id=made['cheap'])))['archived'] is True
    await run_labels.bulk(ada, project_id, [made['cheap']], 'unarchive')
    assert run_table.apply(await run_table.load(ada, project_id, []), View()).hidden_archived == 1


async def test_groups_by_config_key_or_tag_with_aggregates(orm: str) -> None:
    ada, project_id, made = await _project_with_runs()
    await _points(made['cheap'], [0.5])
    await _points(made['middle'], [0.3])
    await _points(made['pricey'], [0.9])
    rows = await run_table.load(ada, project_id, ['last:val/loss'])
    groups = run_table.apply(rows, View(group_by='config:lr', group_metric='last:val/loss')).groups
    assert [(g.key, g.count, g.best, round(g.mean, 3), g.cost_usd) for g in groups] == [
        ('0.001', 2, 0.3, 0.4, 3.25), ('0.01', 1, 0.9, 0.9, 17.25)]  # the best group first
    highest = run_table.apply(rows, View(group_by='config:lr', group_metric='last:val/loss', group_best='max'))
    assert [g.key for g in highest.groups] == ['0.01', '0.001']
    await run_labels.bulk(ada, project_id, [made['cheap'], made['pricey']], 'tag', 'keep')
    tagged = run_table.apply(await run_table.load(ada, project_id, []), View(group_by='tag')).groups
    assert [(g.key, g.count) for g in tagged] == [('keep', 2), ('(no tag)', 1)]


async def test_the_view_is_remembered_per_user_and_project(orm: str) -> None:
    ada, project_id, _ = await _project_with_runs()
    bob = await auth.create_user('bob@example.com', 'a long password')
    await projects.add_member(ada, project_id, 'bob@example.com', 'viewer')
    await run_table.save_view(ada, project_id, View(metric_columns=['min:val/loss'], sort='cost', search='sgd'))
    assert (await run_table.saved_view(ada, project_id)).metric_columns == ['min:val/loss']
    assert await run_table.saved_view(bob, project_id) == View()  # bob's own, still the default
    await run_table.save_view(bob, project_id, View(config_columns=['lr']))
    assert (await run_table.saved_view(ada, project_id)).sort == 'cost'
    with pytest.raises(Invalid, match='last\\|min\\|max'):
        View.from_json({'metric_columns': ['median:val/loss']})
    with pytest.raises(Invalid, match='Cannot sort'):
        View.from_json({'sort': 'nonsense'})
    stranger = await auth.create_user('eve@example.com', 'a long password')
    with pytest.raises(NotFound):
        await run_table.save_view(stranger, project_id, View())
    with pytest.raises(NotFound):
        await run_table.load(stranger, project_id, [])


async def test_tags_and_notes_are_checked_and_only_editors_write_them(orm: str) -> None:
    ada, project_id, made = await _project_with_runs()
    bob = await auth.create_user('bob@example.com', 'a long password')
    await projects.add_member(ada, project_id, 'bob@example.com', 'viewer')
    answer = await run_labels.set_labels(ada, made['cheap'], tags='baseline  lr-sweep baseline', note=' best so far ')
    assert answer['tags'] == ['baseline', 'lr-sweep'] and answer['note'] == 'best so far'
    for bad, message in (([f't{i}' for i in range(21)], 'at most 20 tags'), (['has space'], 'is not valid'),
                         (['<b>'], 'is not valid'), (['x' * 41], 'is not valid'), ([3], 'list of texts')):
        with pytest.raises(Invalid, match=message):
            await run_labels.set_labels(ada, made['cheap'], tags=bad)
    with pytest.raises(Invalid, match='at most 2,000 characters'):
        await run_labels.set_labels(ada, made['cheap'], note='n' * 2001)
    with pytest.raises(Invalid, match='Send tags, a note'):
        await run_labels.set_labels(ada, made['cheap'])
    with pytest.raises(Forbidden):
        await run_labels.set_labels(bob, made['cheap'], tags=['mine'])
    with pytest.raises(Forbidden):
        await run_labels.bulk(bob, project_id, [made['cheap']], 'archive')
    run = await Run.get(id=made['cheap'])
    assert (run.tags, run.note, run.archived_at) == (['baseline', 'lr-sweep'], 'best so far', None)  # unchanged


async def test_bulk_actions_check_every_run_and_stop_what_can_stop(orm: str) -> None:
    ada, project_id, made = await _project_with_runs()
    other = await projects.create_project(ada, name='other')
    elsewhere, _ = await runs.create_run(ada, other['id'], name='elsewhere')
    with pytest.raises(NotFound, match='nothing was changed'):
        await run_labels.bulk(ada, project_id, [made['cheap'], elsewhere['id']], 'archive')
    assert await Run.filter(archived_at__isnull=False).count() == 0
    with pytest.raises(Invalid, match='Unknown action'):
        await run_labels.bulk(ada, project_id, [made['cheap']], 'delete')
    with pytest.raises(Invalid, match='is not valid'):
        await run_labels.bulk(ada, project_id, [made['cheap']], 'tag', 'two words')
    await lifecycle.move(await Run.get(id=made['cheap']), RunStatus.RUNNING, cause=lifecycle.Cause.JOB)
    await lifecycle.move(await Run.get(id=made['pricey']), RunStatus.RUNNING, cause=lifecycle.Cause.JOB)
    await lifecycle.move(await Run.get(id=made['pricey']), RunStatus.SUCCEEDED, cause=lifecycle.Cause.JOB)
    result = await run_labels.bulk(ada, project_id, [made['cheap'], made['pricey']], 'stop')
    assert result.done == 1 and len(result.skipped) == 1
    assert (await Run.get(id=made['cheap'])).status == RunStatus.STOPPING
    assert (await Run.get(id=made['pricey'])).status == RunStatus.SUCCEEDED
