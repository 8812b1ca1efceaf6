"""Comparing runs (services/comparison.py): the link's ids, who sees which runs, the config keys that differ, the
metric summaries read in a few queries, and the rows of the parallel view."""

import logging
from collections.abc import Iterator

import pytest
from tortoise.transactions import in_transaction

from models import MemberRole, Run
from models import User as UserModel
from services import auth, comparison, projects, runs
from services.errors import Invalid
from services.metric_store import Point, write_points


async def make_run(owner: UserModel, project_id: int, name: str, config: dict,
                   points: dict[str, list[tuple[int, object]]] | None = None) -> int:
    """A run with `config` and metric points (a string value is a special: 'NaN', 'Infinity')."""
    data, _ = await runs.create_run(owner, project_id, name=name, config=config)
    if points:
        async with in_transaction() as conn:
            await write_points(conn, data['id'], [Point(metric, step, value if not isinstance(value, str) else None,
                                                        value if isinstance(value, str) else None, float(step))
                                                  for metric, values in points.items() for step, value in values])
    return data['id']


def test_a_link_names_runs_by_number() -> None:
    assert comparison.parse_ids(' 12, 15 ,,19,12,') == ['12', '15', '19']
    with pytest.raises(Invalid, match=r'"abc" is not a run id: .* like /compare\?runs=12,15,19'):
        comparison.parse_ids('12,abc')
    with pytest.raises(Invalid, match='"-3" is not a run id'):
        comparison.parse_ids('-3')
    with pytest.raises(Invalid, match='"٣" is not a run id'):  # a digit, but not one of ours
        comparison.parse_ids('٣')
    with pytest.raises(Invalid, match='No runs to compare'):
        comparison.parse_ids(' , ')
    with pytest.raises(Invalid, match='At most 200 runs can be compared at once; this link names 201'):
        comparison.parse_ids(','.join(str(i) for i in range(1, 202)))
    with pytest.raises(Invalid, match='This link is too long'):
        comparison.parse_ids('1' * 100_000)
    assert len(comparison.parse_ids(','.join(str(i) for i in range(1, 201)))) == 200


async def test_each_run_is_checked_with_the_callers_role_now(orm: str) -> None:
    owner = await auth.create_user('owner@example.com', 'a long password')
    viewer = await auth.create_user('viewer@example.com', 'a long password')
    admin = await auth.create_user('admin@example.com', 'a long password', role=auth.Role.ADMIN)
    shared = await projects.create_project(owner, name='Shared')
    private = await projects.create_project(owner, name='Private')
    await projects.add_member(owner, shared['id'], viewer.email, MemberRole.VIEWER.value)
    one = await make_run(owner, shared['id'], 'one', {})
    two = await make_run(owner, shared['id'], 'two', {})
    hidden = await make_run(owner, private['id'], 'hidden', {})
    link = [str(two), str(hidden), '999999', '99999999999', str(one), f'00{one}']

    seen = await comparison.compare(viewer, link)
    assert [run.name for run in seen.runs] == ['two', 'one']  # in the link's order
    # a run the viewer may not see is left out like one that does not exist: the link does not tell which
    assert seen.left_out == [str(hidden), '999999', '99999999999']

    everything = await comparison.compare(admin, link)  # across projects: each run by its own project's rule
    assert [run.name for run in everything.runs] == ['two', 'hidden', 'one']
    assert {run.project_name for run in everything.runs} == {'Shared', 'Private'}

    member = next(m for m in await projects.members(owner, shared['id']) if m.email == viewer.email)
    await projects.remove_member(owner, shared['id'], member.user_id)
    assert (await comparison.compare(viewer, link)).runs == []
    assert await comparison.series(viewer, [one], 'loss') == {}


async def test_only_the_keys_that_differ(orm: str) -> None:
    owner = await auth.create_user('owner@example.com', 'a long password')
    project = await projects.create_project(owner, name='Sweep')
    configs = [{'lr': 0.001, 'batch': 64, 'optim': {'name': 'adam', 'beta': 0.9}, 'seed': 1, 'tag': '1'},
               {'lr': 0.01, 'batch': 64.0, 'optim': {'name': 'adam', 'beta': 0.99}, 'seed': 1, 'tag': 1},
               {'lr': 0.1, 'batch': 64, 'optim': {'name': 'adam'}, 'seed': 1, 'tag': 1, 'warmup': True}]
    ids = [str(await make_run(owner, project['id'], f'r{i}', config)) for i, config in enumerate(configs)]
    compared = await comparison.compare(owner, ids)
    rows = {row.key: row for row in compared.config}
    assert sorted(rows) == ['batch', 'lr', 'optim.beta', 'optim.name', 'seed', 'tag', 'warmup']
    assert [key for key, row in rows.items() if row.differs] == ['lr', 'optim.beta', 'tag', 'warmup']
    assert rows['optim.beta'].values == (0.9, 0.99, None)  # a run without the key differs from those with it
    assert [comparison.shown_value(v) for v in rows['tag'].values] == ['1', '1', '1']  # text "1" and number 1...
    assert len({comparison._comparable(v) for v in rows['tag'].values}) == 2  # ...differ all the same
    assert [comparison.shown_value(v) for v in rows['warmup'].values] == ['—', '—', 'true']


async def test_summaries_and_the_parallel_view(orm: str) -> None:
    owner = await auth.create_user('owner@example.com', 'a long password')
    project = await projects.create_project(owner, name='Sweep')
    a = await make_run(owner, project['id'], 'a', {'lr': 0.1, 'optim': 'adam', 'layers': [1, 2]},
                       {'loss': [(1, 3.0), (5, -2.0), (1_500_000, 7.0), (1_500_001, 'NaN')], 'acc': [(1, 0.5)]})
    b = await make_run(owner, project['id'], 'b', {'lr': 0.01, 'optim': 'sgd', 'layers': [1]},
                       {'loss': [(i, 10.0 - i / 1000) for i in range(1, 3001)]})
    c = await make_run(owner, project['id'], 'b', {'lr': 0.01, 'optim': 'sgd', 'layers': [1]})
    compared = await comparison.compare(owner, [str(a), str(b), str(c)])
    assert [run.label for run in compared.runs] == ['a', f'b #{b}', f'b #{c}']  # legends tell the two "b" apart
    assert compared.metrics == ['acc', 'loss']
    loss = compared.summaries[(a, 'loss')]
    # the extremes come from the coarsest roll-ups, which every point reaches, however far apart the steps
    assert (loss.last, loss.min, loss.max, loss.step, loss.count) == ('NaN', -2.0, 7.0, 1_500_001, 4)
    assert loss.stat('last') is None and loss.stat('min') == -2.0
    assert compared.summaries[(b, 'loss')].last == pytest.approx(7.0)
    assert (c, 'loss') not in compared.summaries

    view = comparison.parallel(compared, 'loss', 'min')
    assert [(axis.name, axis.kind, axis.categories) for axis in view.axes] == [
        ('lr', 'value', ()), ('optim', 'category', ('adam', 'sgd')), ('loss (min)', 'value', ())]
    assert view.keys_left_out == 1  # layers: a list is no coordinate
    assert view.rows == [[0.1, 'adam', -2.0], [0.01, 'sgd', pytest.approx(7.0)], [0.01, 'sgd', None]]
    assert [axis.name for axis in comparison.parallel(compared, None).axes] == ['lr', 'optim']


@pytest.fixture
def queries() -> Iterator[list[str]]:
    """The SQL statements Tortoise sends while the test runs."""
    sent: list[str] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            sent.append(record.getMessage())
    logger = logging.getLogger('tortoise.db_client')
    handler, level = Recorder(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield sent
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_a_comparison_reads_all_runs_in_a_few_queries(orm: str, queries: list[str]) -> None:
    owner = await auth.create_user('owner@example.com', 'a long password')
    project = await projects.create_project(owner, name='Many')
    ids = [str(await make_run(owner, project['id'], f'run-{i}', {'lr': i / 100, 'seed': 1},
                              {'loss': [(s, 1.0 / s) for s in range(1, 50)]})) for i in range(20)]
    viewer = await auth.create_user('viewer@example.com', 'a long password')
    await projects.add_member(owner, project['id'], viewer.email, MemberRole.VIEWER.value)

    counts = []
    for count in (2, 20):
        queries.clear()
        compared = await comparison.compare(viewer, ids[:count])
        assert len(compared.runs) == count and len(compared.summaries) == count
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 4, counts  # the caller, the runs, the memberships, the summaries
    assert await Run.filter(id__in=[int(i) for i in ids]).count() == 20
