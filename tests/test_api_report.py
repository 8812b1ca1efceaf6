"""The report API, as training code uses it: one write path, retries that never double a point, clear refusals."""

import concurrent.futures
import json
import math
import time
import uuid

import httpx
import pytest

from services.runs import sign
from tests.helpers import Server


@pytest.fixture
def run(api: httpx.Client) -> dict:
    project = api.post('/projects', json={'name': f'reports-{uuid.uuid4().hex[:8]}'}).json()
    created = api.post(f'/projects/{project["id"]}/runs', json={'name': 'mlp', 'config': {'lr': 0.01}})
    assert created.status_code == 201
    return created.json()


def report(server: Server, run: dict, body: dict, token: str | None = None) -> httpx.Response:
    return httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report', json=body,
                      headers={'Authorization': f'Bearer {token or run["token"]}'})


def points(name: str, steps: range, value=lambda s: 1.0 / (s + 1)) -> list[dict]:
    return [{'name': name, 'step': s, 'value': value(s), 'time': 1732480000.0 + s} for s in steps]


def test_a_new_run_has_a_token_shown_once(api: httpx.Client, run: dict) -> None:
    assert run['token'].startswith('tbr_') and run['status'] == 'queued' and run['config'] == {'lr': 0.01}
    fetched = api.get(f'/runs/{run["id"]}').json()
    assert 'token' not in fetched
    assert fetched['progress'] == 0 and fetched['steps'] == [] and fetched['eta_seconds'] is None


def test_metrics_are_stored_once_and_retries_are_duplicates(server: Server, api: httpx.Client, run: dict) -> None:
    first = report(server, run, {'metrics': points('loss', range(100))})
    assert first.status_code == 200
    assert first.json() == {'metrics_accepted': 100, 'metrics_duplicate': 0}
    retry = report(server, run, {'metrics': points('loss', range(50, 150))})
    assert retry.json() == {'metrics_accepted': 50, 'metrics_duplicate': 50}
    series = api.get(f'/runs/{run["id"]}/metrics/loss').json()
    assert series['total'] == 150 and not series['downsampled']
    assert [p[0] for p in series['points']] == list(range(150))
    assert api.get(f'/runs/{run["id"]}/metrics').json()[0] | {'timestamp': None} == \
        {'name': 'loss', 'step': 149, 'value': 1 / 150, 'count': 150, 'timestamp': None}
    assert api.get(f'/runs/{run["id"]}').json()['status'] == 'running'  # the first report starts it


def test_a_point_repeated_in_one_report_is_stored_once_as_first_sent(server: Server, api: httpx.Client,
                                                                     run: dict) -> None:
    answer = report(server, run, {'metrics': [{'name': 'loss', 'step': 1, 'value': 0.5},
                                              {'name': 'loss', 'step': 1, 'value': 9.0},
                                              {'name': 'loss', 'step': 2, 'value': 0.25}]})
    assert answer.json() == {'metrics_accepted': 2, 'metrics_duplicate': 1}
    series = api.get(f'/runs/{run["id"]}/metrics/loss').json()
    assert series['total'] == 2 and [p[:2] for p in series['points']] == [[1, 0.5], [2, 0.25]]
    assert api.get(f'/runs/{run["id"]}/metrics').json()[0]['count'] == 2


def test_progress_steps_logs_and_status(server: Server, api: httpx.Client, run: dict) -> None:
    report(server, run, {'steps': [{'name': 'setup', 'status': 'succeeded'},
                                   {'name': 'training', 'status': 'running', 'description': 'epoch 1 of 3'}],
                         'progress': {'step': 10, 'total_steps': 1000}, 'logs': ['hello', 'world']})
    time.sleep(0.3)
    report(server, run, {'progress': {'step': 110, 'total_steps': 1000}})
    state = api.get(f'/runs/{run["id"]}').json()
    assert state['progress'] == pytest.approx(0.11) and state['step'] == 110 and state['total_steps'] == 1000
    assert 0 < state['eta_seconds'] < 3600
    assert [(s['name'], s['status'], s['description']) for s in state['steps']] == \
        [('setup', 'succeeded', ''), ('training', 'running', 'epoch 1 of 3')]
    assert [line['line'] for line in api.get(f'/runs/{run["id"]}/logs').json()] == ['hello', 'world']

    report(server, run, {'progress': {'fraction': 0.5}, 'status': {'state': 'succeeded', 'message': 'done'}})
    done = api.get(f'/runs/{run["id"]}').json()
    assert done['status'] == 'succeeded' and done['progress'] == 1.0 and done['ended_at']
    assert done['eta_seconds'] is None
    assert done['steps'][1]['status'] == 'succeeded' and done['steps'][1]['duration_s'] >= 0.3

    refused = report(server, run, {'metrics': points('loss', range(1))})
    assert refused.status_code == 409 and 'finished' in refused.json()['detail']


def test_special_values_are_kept(server: Server, api: httpx.Client, run: dict) -> None:
    values = [1.5, 'NaN', 'Infinity', '-Infinity']
    body = {'metrics': [{'name': 'loss', 'step': step, 'value': value} for step, value in enumerate(values)]}
    assert report(server, run, body).json()['metrics_accepted'] == 4
    assert api.get(f'/runs/{run["id"]}/metrics/loss').json()['points'] == \
        [[0, 1.5], [1, 'NaN'], [2, 'Infinity'], [3, '-Infinity']]
    csv = api.get(f'/runs/{run["id"]}/metrics/loss.csv').text.splitlines()
    assert csv[0] == 'step,value,timestamp' and csv[2].startswith('1,NaN,')


@pytest.mark.parametrize('body, status, words', [
    ({'metrics': [{'name': 'loss', 'step': 1, 'value': 1.0}, {'name': 'loss', 'step': 2, 'value': 'lots'}]}, 422,
     'metrics[1].value'),
    ({'metrics': [{'name': 'loss', 'step': -1, 'value': 1.0}]}, 422, 'metrics[0].step'),
    ({'metrics': [{'name': '', 'step': 1, 'value': 1.0}]}, 422, 'metrics[0].name'),
    ({'metrics': [{'step': 1, 'value': 1.0}]}, 422, 'metrics[0].name'),
    ({'metrics': [{'name': 'loss', 'step': 1.5, 'value': 1.0}]}, 422, 'metrics[0].step'),
    ({'metrics': 'loss=1'}, 422, 'metrics must be a list'),
    ({'progress': {'step': 5}}, 422, 'progress'),
    ({'progress': {'fraction': 1.5}}, 422, 'progress.fraction'),
    ({'steps': [{'name': 'training', 'status': 'dancing'}]}, 422, 'steps[0].status'),
    ({'status': {'state': 'exploded'}}, 422, 'status.state'),
    ({'status': {'state': {}}}, 422, 'status.state'),  # found by the fuzz test: was a 500 (unhashable)
    ({'steps': [{'name': 'training', 'status': ['running']}]}, 422, 'steps[0].status'),
    ({'logs': [1, 2]}, 422, 'logs'),
    ({'weather': 'sunny'}, 422, 'weather'),
    ({'metrics': points('loss', range(10_001))}, 413, '10,000'),
])
def test_bad_reports_are_refused_whole(server: Server, api: httpx.Client, run: dict, body: dict, status: int,
                                       words: str) -> None:
    answer = report(server, run, {**body, 'logs': body.get('logs', ['must not be stored'])})
    assert answer.status_code == status, answer.text
    assert words in answer.json()['detail']
    assert api.get(f'/runs/{run["id"]}/metrics').json() == []
    assert api.get(f'/runs/{run["id"]}/logs').json() == []
    assert api.get(f'/runs/{run["id"]}').json()['status'] == 'queued'


def test_bodies_over_4_mb_are_refused(server: Server, run: dict) -> None:
    answer = report(server, run, {'logs': ['x' * 1000] * 4200})
    assert answer.status_code == 413 and '4 MB' in answer.json()['detail']


def test_who_may_report(server: Server, api: httpx.Client, run: dict) -> None:
    assert report(server, run, {}, token='tbr_wrong').status_code == 401
    assert httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report', json={}).status_code == 401
    user_token = api.headers['Authorization'].removeprefix('Bearer ')
    assert report(server, run, {'logs': ['from a user token']}, token=user_token).status_code == 200
    other_project = api.post('/projects', json={'name': f'other-{uuid.uuid4().hex[:8]}'}).json()
    other = api.post(f'/projects/{other_project["id"]}/runs', json={'name': 'other'}).json()
    assert report(server, run, {}, token=other['token']).status_code == 401  # another run's token
    # which runs exist is not for a stranger to learn: no token, or another run's, is 401 for a missing run too;
    # a person who may report learns it as everywhere (404)
    missing = f'{server.url}/api/v1/runs/999999/report'
    assert httpx.post(missing, json={}).status_code == 401
    assert httpx.post(missing, json={}, headers={'Authorization': f'Bearer {run["token"]}'}).status_code == 401
    assert httpx.post(missing, json={}, headers={'X-Trainboard-Timestamp': '1', 'X-Trainboard-Signature': 'x'}) \
        .status_code == 401
    assert httpx.post(missing, json={}, headers={'Authorization': f'Bearer {user_token}'}).status_code == 404


def test_signed_reports(server: Server, api: httpx.Client, run: dict) -> None:
    body = json.dumps({'metrics': points('acc', range(3))}).encode()

    def post(timestamp: float, signature: str) -> httpx.Response:
        return httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report', content=body,
                          headers={'Content-Type': 'application/json', 'X-Trainboard-Timestamp': str(timestamp),
                                   'X-Trainboard-Signature': signature})

    now = time.time()
    assert post(now, sign(run['token'], str(now), body)).json()['metrics_accepted'] == 3
    stale = now - 301
    answer = post(stale, sign(run['token'], str(stale), body))
    assert answer.status_code == 401 and 'older than 5 minutes' in answer.json()['detail']
    assert post(now, sign('tbr_not-the-token', str(now), body)).status_code == 401
    assert post(now, sign(run['token'], str(now), body + b' ')).status_code == 401


def post_signed(server: Server, run: dict, body: bytes, timestamp: str, signature: str | None = None) -> httpx.Response:
    return httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report', content=body,
                      headers={'Content-Type': 'application/json', 'X-Trainboard-Timestamp': timestamp,
                               'X-Trainboard-Signature': signature or sign(run['token'], timestamp, body)})


@pytest.mark.parametrize('timestamp', ['nan', '-NaN', 'inf', '-Infinity', '1e999'])
def test_a_signature_needs_a_finite_timestamp(server: Server, api: httpx.Client, run: dict, timestamp: str) -> None:
    answer = post_signed(server, run, json.dumps({'logs': ['signed']}).encode(), timestamp)
    assert answer.status_code == 401 and 'finite' in answer.json()['detail']
    assert api.get(f'/runs/{run["id"]}/logs').json() == []


def test_a_replayed_signature_is_refused(server: Server, api: httpx.Client, run: dict) -> None:
    body = json.dumps({'logs': ['once'], 'metrics': points('acc', range(3))}).encode()
    now = str(time.time())
    assert post_signed(server, run, body, now).status_code == 200
    replay = post_signed(server, run, body, now)
    assert replay.status_code == 409 and 'already' in replay.json()['detail']
    assert [line['line'] for line in api.get(f'/runs/{run["id"]}/logs').json()] == ['once']
    assert post_signed(server, run, body, str(time.time() + 0.001)).status_code == 200  # signed again: a new report
    assert len(api.get(f'/runs/{run["id"]}/logs').json()) == 2


def test_replays_at_the_same_moment_store_once(server: Server, api: httpx.Client, run: dict) -> None:
    body = json.dumps({'logs': ['once']}).encode()
    now = str(time.time())
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(lambda _: post_signed(server, run, body, now).status_code, range(4)))
    assert statuses == [200, 409, 409, 409]
    assert [line['line'] for line in api.get(f'/runs/{run["id"]}/logs').json()] == ['once']


def test_a_refused_report_does_not_spend_its_signature(server: Server, api: httpx.Client, run: dict) -> None:
    body = json.dumps({'weather': 'sunny'}).encode()
    now = str(time.time())
    assert post_signed(server, run, body, now).status_code == 422
    assert post_signed(server, run, body, now).status_code == 422  # not 409: nothing was stored


def test_downsampling_keeps_spikes(server: Server, api: httpx.Client, run: dict) -> None:
    spike_at = 12_345
    for start in range(0, 30_000, 10_000):
        body = {'metrics': points('loss', range(start, start + 10_000),
                                  lambda s: 100.0 if s == spike_at else math.sin(s / 500))}
        assert report(server, run, body).status_code == 200
    series = api.get(f'/runs/{run["id"]}/metrics/loss', params={'max_points': 500}).json()
    assert series['downsampled'] and series['total'] == 30_000 and len(series['points']) <= 500
    assert [spike_at, 100.0] in series['points']
    assert min(v for _, v in series['points']) == pytest.approx(-1, abs=1e-3)
    zoom = api.get(f'/runs/{run["id"]}/metrics/loss',
                   params={'max_points': 500, 'min_step': 12_300, 'max_step': 12_400}).json()
    assert not zoom['downsampled'] and zoom['total'] == 101 and len(zoom['points']) == 101
    middle = api.get(f'/runs/{run["id"]}/metrics/loss',
                     params={'max_points': 1000, 'min_step': 1_001, 'max_step': 21_999}).json()
    assert middle['total'] == 20_999 and middle['downsampled'] and len(middle['points']) <= 1000
    assert all(1_001 <= step <= 21_999 for step, _ in middle['points'])
    csv = api.get(f'/runs/{run["id"]}/metrics/loss.csv')
    assert csv.headers['content-type'].startswith('text/csv') and len(csv.text.splitlines()) == 30_001
    assert api.get(f'/runs/{run["id"]}/metrics/nope').status_code == 404


def test_reports_take_their_own_lane_with_the_app_s_guards(server: Server, run: dict) -> None:
    """Reports skip the pages' middleware (api/fast_lane.py) but not the app's own guards or error answers."""
    answer = report(server, run, {'metrics': [{'name': 'lane', 'step': 0, 'value': 1.0}]})
    assert answer.status_code == 200 and answer.headers['x-frame-options'] == 'DENY'
    assert 'set-cookie' not in answer.headers  # no session is made for a report
    headers = {'Authorization': f'Bearer {run["token"]}'}
    too_big = httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report', content=b' ' * (4 * 2**20 + 1),
                         headers=headers)
    assert too_big.status_code == 413 and 'larger than' in too_big.json()['detail']
    bad = httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report', content=b'{', headers=headers)
    assert bad.status_code == 422 and 'not valid JSON' in bad.json()['detail']
