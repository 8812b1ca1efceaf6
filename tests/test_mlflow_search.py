"""MLflow's search language, as `search_runs(filter_string=..., order_by=...)` sends it."""

import pytest

from services.errors import Invalid
from services.mlflow_search import matches, parse_filter, parse_order, sort_key


def run(run_id: str, *, lr: str, loss: float | None, team: str, status: str, start: int) -> dict:
    return {'params': {'lr': lr}, 'metrics': {} if loss is None else {'loss': loss}, 'tags': {'team': team},
            'attributes': {'run_id': run_id, 'status': status, 'start_time': start, 'run_name': f'run-{run_id}'}}


RUNS = [run('1', lr='0.1', loss=0.4, team='vision', status='FINISHED', start=1),
        run('2', lr='0.01', loss=0.2, team='vision', status='RUNNING', start=2),
        run('3', lr='0.01', loss=None, team='speech', status='FAILED', start=3)]


@pytest.mark.parametrize(('text', 'found'), [
    ("params.lr = '0.01'", ['2', '3']),
    ("params.lr = '0.01' and metrics.loss < 0.5", ['2']),
    ("metrics.loss >= 0.2 AND tags.team = \"vision\"", ['1', '2']),
    ("attributes.status != 'FINISHED'", ['2', '3']),
    ("attributes.status IN ('FINISHED', 'FAILED')", ['1', '3']),
    ("tags.team LIKE 'vis%'", ['1', '2']),
    ("tags.`team` ILIKE 'SPEECH'", ['3']),
    ("attributes.run_name NOT LIKE '%1'", ['2', '3']),
    ('', ['1', '2', '3']),
])
def test_filters_as_the_client_writes_them(text: str, found: list[str]) -> None:
    clauses = parse_filter(text)
    assert [r['attributes']['run_id'] for r in RUNS if matches(r, clauses)] == found


@pytest.mark.parametrize('text', ["params.lr = 0.01", "loss < 1", "metrics.loss < 'a'", "params.lr = '1' or",
                                  "params.lr = '1' and", "attributes.colour = 'red'", "params.lr ~ '1'"])
def test_a_filter_it_cannot_read_is_refused_with_what_is_wrong(text: str) -> None:
    with pytest.raises(Invalid, match='Invalid'):
        parse_filter(text)


def test_order_by_metrics_then_newest_first_with_missing_values_last() -> None:
    assert [r['attributes']['run_id'] for r in sorted(RUNS, key=sort_key(parse_order(['metrics.loss ASC'])))] \
        == ['2', '1', '3']
    assert [r['attributes']['run_id'] for r in sorted(RUNS, key=sort_key(parse_order(['metrics.loss DESC'])))] \
        == ['1', '2', '3']
    assert [r['attributes']['run_id'] for r in sorted(RUNS, key=sort_key([]))] == ['3', '2', '1']
