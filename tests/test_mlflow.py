"""Training code written for MLflow reports to Trainboard unchanged: the real `mlflow` client, in a process of its
own as a training script is, against a real server, with MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN set."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.helpers import Server

SCRIPT = '''
import math, mlflow
mlflow.set_experiment({experiment!r})
with mlflow.start_run(run_name='mlp-baseline') as run:
    mlflow.log_params({{'lr': 0.01, 'batch_size': 32, 'optimizer': 'adam'}})
    mlflow.set_tags({{'team': 'vision', 'mlflow.source.name': 'train.py'}})
    for step in range(1000):
        mlflow.log_metrics({{'loss': 2.0 * math.exp(-step / 300), 'acc': step / 1000}}, step=step, synchronous=False)
    mlflow.log_metric('val_loss', 0.5, step=999)  # synchronous: one request
    mlflow.flush_async_logging()
    mlflow.log_artifact({notes!r})  # to the run's artifact_uri: the run's artifacts in Trainboard's store
    print('RESULT', run.info.run_id)
client = mlflow.MlflowClient()
found = mlflow.search_runs(experiment_names=[{experiment!r}], filter_string="params.lr = '0.01' and metrics.loss < 0.1",
                           output_format='list')
print('RESULT', json.dumps({{'found': [r.info.run_id for r in found],
                   'history': len(client.get_metric_history(run.info.run_id, 'loss')),
                   'status': client.get_run(run.info.run_id).info.status}}))
'''


def run_script(server: Server, code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {key: value for key, value in os.environ.items() if not key.startswith('MLFLOW_')}
    environ.update(MLFLOW_TRACKING_URI=server.url, MLFLOW_HTTP_REQUEST_MAX_RETRIES='0', **env)
    return subprocess.run([sys.executable, '-c', 'import json\n' + textwrap.dedent(code)], env=environ,
                          capture_output=True, text=True, timeout=180)


def results(done: subprocess.CompletedProcess) -> list[str]:
    """What the script printed after 'RESULT ' (the client prints lines of its own, such as where to view a run)."""
    return [line.removeprefix('RESULT ') for line in done.stdout.splitlines() if line.startswith('RESULT ')]


def test_a_script_written_for_mlflow_shows_up_with_params_as_config_and_curves_as_metrics(
        server: Server, api: httpx.Client, tmp_path: Path) -> None:
    experiment, notes = f'mlflow-{uuid.uuid4().hex[:6]}', tmp_path / 'notes.txt'
    notes.write_text('lr 0.01 looked best\n')
    done = run_script(server, SCRIPT.format(experiment=experiment, notes=str(notes)),
                      MLFLOW_TRACKING_TOKEN=server.token())
    assert done.returncode == 0, done.stderr[-3000:]
    run_id, answer = results(done)
    answer = json.loads(answer)
    assert answer == {'found': [run_id], 'history': 1000, 'status': 'FINISHED'}

    [project] = [p for p in api.get('/projects').json() if p['name'] == experiment]
    [run] = api.get(f'/projects/{project["id"]}/runs').json()
    assert (str(run['id']), run['name'], run['status']) == (run_id, 'mlp-baseline', 'succeeded')
    assert run['config'] == {'lr': '0.01', 'batch_size': '32', 'optimizer': 'adam'}
    assert 'team:vision' in run['tags'] and 'mlflow.source.name:train.py' not in run['tags']
    metrics = {m['name']: m for m in api.get(f'/runs/{run_id}/metrics').json()}
    assert (metrics['loss']['count'], metrics['acc']['count'], metrics['val_loss']['count']) == (1000, 1000, 1)
    assert metrics['acc']['step'] == 999
    [artifact] = api.get(f'/runs/{run_id}/artifacts').json()
    assert (artifact['name'], artifact['status'], artifact['size_bytes']) == ('notes.txt', 'ready', 20)


def test_a_launched_job_resumes_its_own_run_with_the_run_token_and_reaches_no_other(server: Server,
                                                                                    api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': f'resume-{uuid.uuid4().hex[:6]}'}).json()
    mine = api.post(f'/projects/{project["id"]}/runs', json={'name': 'launched'}).json()
    other = api.post(f'/projects/{project["id"]}/runs', json={'name': 'someone-else'}).json()
    code = f'''
    import mlflow
    with mlflow.start_run() as run:
        mlflow.log_metric('loss', 0.25, step=3)
        print('RESULT', run.info.run_id)
    try:
        mlflow.MlflowClient().get_run('{other["id"]}')
    except mlflow.exceptions.MlflowException as error:
        print('RESULT', error.error_code)
    '''
    done = run_script(server, code, MLFLOW_TRACKING_TOKEN=mine['token'], MLFLOW_RUN_ID=str(mine['id']))
    assert done.returncode == 0, done.stderr[-3000:]
    assert results(done) == [str(mine['id']), 'RESOURCE_DOES_NOT_EXIST']
    assert api.get(f'/runs/{mine["id"]}').json()['status'] == 'succeeded'
    assert [m['name'] for m in api.get(f'/runs/{mine["id"]}/metrics').json()] == ['loss']
    assert api.get(f'/runs/{other["id"]}/metrics').json() == []


@pytest.mark.parametrize('token', ['', 'tb_not-a-real-key'])
def test_no_token_or_a_wrong_one_is_refused_and_writes_nothing(server: Server, api: httpx.Client, token: str) -> None:
    experiment = f'refused-{uuid.uuid4().hex[:6]}'
    code = f'''
    import mlflow
    try:
        mlflow.set_experiment({experiment!r})
    except mlflow.exceptions.MlflowException as error:
        print('RESULT', error.error_code)
    '''
    done = run_script(server, code, **({'MLFLOW_TRACKING_TOKEN': token} if token else {}))
    assert results(done) == ['UNAUTHENTICATED'], done.stderr[-3000:]
    assert experiment not in {p['name'] for p in api.get('/projects').json()}


def test_a_batch_over_mlflow_s_limits_is_refused_with_mlflow_s_words(server: Server, api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': f'limits-{uuid.uuid4().hex[:6]}'}).json()
    url = f'{server.url}/api/2.0/mlflow'
    headers = api.headers
    run = httpx.post(f'{url}/runs/create', json={'experiment_id': str(project['id']), 'run_name': 'big'},
                     headers=headers).json()['run']
    metrics = [{'key': 'loss', 'value': 1.0, 'timestamp': 0, 'step': step} for step in range(1001)]
    answer = httpx.post(f'{url}/runs/log-batch', json={'run_id': run['info']['run_id'], 'metrics': metrics},
                        headers=headers)
    assert answer.status_code == 400
    assert answer.json() == {'error_code': 'INVALID_PARAMETER_VALUE', 'message':
                             'A batch logging request can contain at most 1000 metrics. Got 1001 metrics. Please '
                             'split up metrics across multiple requests and try again.'}
    assert api.get(f'/runs/{run["info"]["run_id"]}/metrics').json() == []
    changed = httpx.post(f'{url}/runs/log-parameter', json={'run_id': run['info']['run_id'], 'key': 'lr',
                                                             'value': '0.1'}, headers=headers)
    again = httpx.post(f'{url}/runs/log-parameter', json={'run_id': run['info']['run_id'], 'key': 'lr',
                                                           'value': '0.2'}, headers=headers)
    assert changed.status_code == 200 and again.status_code == 400
    assert again.json()['error_code'] == 'INVALID_PARAMETER_VALUE'
    assert again.json()['message'].startswith("Changing param values is not allowed. Param with key='lr'")


def test_a_viewer_reads_but_cannot_write(server: Server, api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': f'viewers-{uuid.uuid4().hex[:6]}'}).json()
    email = f'viewer-{uuid.uuid4().hex[:6]}@example.com'
    assert api.post('/users', json={'email': email, 'password': 'a long password', 'name': 'V'}).status_code == 201
    api.post(f'/projects/{project["id"]}/members', json={'email': email, 'role': 'viewer'}).raise_for_status()
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'watched'}).json()
    viewer = {'Authorization': f'Bearer {server.token(email, "a long password")}'}
    url = f'{server.url}/api/2.0/mlflow'
    assert httpx.get(f'{url}/runs/get', params={'run_id': run['id']}, headers=viewer).status_code == 200
    refused = httpx.post(f'{url}/runs/log-metric', json={'run_id': str(run['id']), 'key': 'loss', 'value': 1,
                                                          'timestamp': 0, 'step': 0}, headers=viewer)
    assert refused.status_code == 403 and refused.json()['error_code'] == 'PERMISSION_DENIED'



def test_params_and_tags_sent_at_once_are_all_kept(server: Server, api: httpx.Client) -> None:
    """An async client (Hugging Face's Trainer logs its params with synchronous=False) sends batches at once."""
    project = api.post('/projects', json={'name': f'async-{uuid.uuid4().hex[:6]}'}).json()
    url, headers = f'{server.url}/api/2.0/mlflow', dict(api.headers)
    run_id = httpx.post(f'{url}/runs/create', json={'experiment_id': str(project['id'])},
                        headers=headers).json()['run']['info']['run_id']

    def send(index: int) -> int:
        body = {'run_id': run_id, 'params': [{'key': f'p{index}', 'value': str(index)}],
                'tags': [{'key': f't{index}', 'value': 'x'}]}
        return httpx.post(f'{url}/runs/log-batch', json=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(12) as pool:
        assert set(pool.map(send, range(12))) == {200}
    run = api.get(f'/runs/{run_id}').json()
    assert run['config'] == {f'p{index}': str(index) for index in range(12)}
    assert sorted(run['tags']) == sorted(f't{index}:x' for index in range(12))


def test_email_and_password_sign_in_as_mlflow_s_basic_auth(server: Server, api: httpx.Client) -> None:
    experiment = f'basic-{uuid.uuid4().hex[:6]}'
    code = f'''
    import mlflow
    mlflow.set_experiment({experiment!r})
    with mlflow.start_run(run_name='with-a-password'):
        mlflow.log_param('seed', 7)
    print('RESULT ok')
    '''
    done = run_script(server, code, MLFLOW_TRACKING_USERNAME='admin@example.com',
                      MLFLOW_TRACKING_PASSWORD='correct horse battery')
    assert results(done) == ['ok'], done.stderr[-3000:]
    wrong = run_script(server, code.replace("print('RESULT ok')", ''), MLFLOW_TRACKING_USERNAME='admin@example.com',
                       MLFLOW_TRACKING_PASSWORD='not the password')
    assert wrong.returncode != 0 and 'UNAUTHENTICATED' in wrong.stderr
    [project] = [p for p in api.get('/projects').json() if p['name'] == experiment]
    assert [run['config'] for run in api.get(f'/projects/{project["id"]}/runs').json()] == [{'seed': '7'}]


BAD_REQUESTS = [  # each once answered 500 (a hostile member's review)
    ('post', 'runs/create', {'run_name': ['x']}), ('post', 'runs/create', {'run_name': {'a': 1}}),
    ('post', 'runs/create', {'tags': 5}), ('post', 'runs/update', {'run_name': [5]}),
    ('post', 'runs/update', {'status': ['FINISHED']}), ('post', 'runs/update', {'status': {}}),
    ('post', 'runs/search', {'filter': 5}), ('post', 'runs/search', {'page_token': [1]}),
    ('post', 'runs/search', {'page_token': '-3'}), ('post', 'runs/search', {'run_view_type': 'SOME'}),
    ('post', 'runs/search', {'experiment_ids': [str(i) for i in range(1, 5001)]}),
    ('get', 'metrics/get-history', {'max_results': '-5', 'metric_key': 'loss'}),
    ('get', 'metrics/get-history', {'page_token': str(10**30), 'metric_key': 'loss'}),
    ('get', 'metrics/get-history', {'page_token': str(2**63), 'metric_key': 'loss'}),
    ('post', 'runs/log-batch', {'metrics': [{'key': 'loss', 'value': 1, 'timestamp': 0, 'step': 1.5}]}),
    ('post', 'runs/log-batch', {'params': [{'key': 'lr', 'value': '1'}, {'key': 'lr', 'value': '2'}]}),
    ('post', 'experiments/search', {'max_results': 10**9}),
]


def test_bad_requests_get_mlflow_s_4xx_and_change_nothing(server: Server, api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': f'bad-{uuid.uuid4().hex[:6]}'}).json()
    url, headers = f'{server.url}/api/2.0/mlflow', dict(api.headers)
    run_id = httpx.post(f'{url}/runs/create', json={'experiment_id': str(project['id']), 'run_name': 'target'},
                        headers=headers).json()['run']['info']['run_id']
    for method, path, fields in BAD_REQUESTS:
        fields = {'run_id': run_id, 'experiment_ids': [str(project['id'])], **fields}
        answer = httpx.get(f'{url}/{path}', params=fields, headers=headers) if method == 'get' else \
            httpx.post(f'{url}/{path}', json=fields, headers=headers, timeout=30)
        assert answer.status_code == 400, (path, fields, answer.text)
        assert answer.json()['error_code'] == 'INVALID_PARAMETER_VALUE', (path, answer.text)
    run = api.get(f'/runs/{run_id}').json()
    assert (run['name'], run['config'], run['status']) == ('target', {}, 'running')


def test_a_nul_in_an_address_or_a_sign_in_is_a_4xx_not_a_500(server: Server, api: httpx.Client) -> None:
    """PostgreSQL refuses NUL in any text it is handed: each of these was a 500 there (a hostile member's review)."""
    project = api.post('/projects', json={'name': f'nul-{uuid.uuid4().hex[:6]}'}).json()
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'target'}).json()
    headers = dict(api.headers)
    for path, params in ((f'/api/v1/runs/{run["id"]}/logs', {'q': 'a\x00b'}),
                         ('/api/2.0/mlflow/metrics/get-history', {'run_id': str(run['id']), 'metric_key': 'a\x00b'}),
                         (f'/api/2.0/mlflow-artifacts/artifacts/runs/{run["id"]}/a%00b', {})):
        answer = httpx.get(f'{server.url}{path}', params=params, headers=headers)
        assert answer.status_code == 422 and 'NUL' in answer.text, (path, answer.text)
    nul_email = base64.b64encode(b'a\x00@example.com:a long password').decode()
    answer = httpx.get(f'{server.url}/api/2.0/mlflow/experiments/search', params={'max_results': 5},
                       headers={'Authorization': f'Basic {nul_email}'})
    assert answer.status_code == 401, answer.text


def test_the_ajax_api_takes_a_run_s_token_as_the_api_does(server: Server, api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': f'ajax-{uuid.uuid4().hex[:6]}'}).json()
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'uploads'}).json()
    token = {'Authorization': f'Bearer {run["token"]}'}
    answer = httpx.get(f'{server.url}/ajax-api/2.0/mlflow/runs/get', params={'run_id': str(run['id'])},
                       headers=token)
    assert answer.status_code == 200 and answer.json()['run']['info']['run_name'] == 'uploads', answer.text
    assert httpx.get(f'{server.url}/ajax-api/2.0/mlflow/runs/get', params={'run_id': str(run['id'])}) \
        .status_code == 401  # no token: MLflow's 401, not the sign-in page


def test_experiment_zero_is_the_caller_s_own_default_and_tag_keys_keep_their_colons(server: Server,
                                                                                   api: httpx.Client) -> None:
    email = f'member-{uuid.uuid4().hex[:6]}@example.com'
    assert api.post('/users', json={'email': email, 'password': 'a long password', 'name': 'M'}).status_code == 201
    url = f'{server.url}/api/2.0/mlflow'
    member = {'Authorization': f'Bearer {server.token(email, "a long password")}'}
    theirs = httpx.post(f'{url}/runs/create', json={}, headers=member).json()['run']['info']
    mine = httpx.post(f'{url}/runs/create', json={}, headers=dict(api.headers)).json()['run']['info']
    assert theirs['experiment_id'] != mine['experiment_id']  # the admin sees the member's Default, but has their own
    for key, value in (('a:b', 'c'), ('x:y', ''), ('a', 'z')):
        assert httpx.post(f'{url}/runs/set-tag', json={'run_id': mine['run_id'], 'key': key, 'value': value},
                          headers=dict(api.headers)).status_code == 200
    assert httpx.post(f'{url}/runs/delete-tag', json={'run_id': mine['run_id'], 'key': 'x:y'},
                      headers=dict(api.headers)).status_code == 200
    tags = httpx.get(f'{url}/runs/get', params={'run_id': mine['run_id']}, headers=dict(api.headers)).json()
    pairs = {t['key']: t['value'] for t in tags['run']['data']['tags'] if not t['key'].startswith('mlflow.')}
    assert pairs == {'a:b': 'c', 'a': 'z'}


def test_a_finished_run_s_token_changes_nothing_more(server: Server, api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': f'ended-{uuid.uuid4().hex[:6]}'}).json()
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'done'}).json()
    url, token = f'{server.url}/api/2.0/mlflow', {'Authorization': f'Bearer {run["token"]}'}
    assert httpx.post(f'{url}/runs/update', json={'run_id': str(run['id']), 'status': 'FINISHED'},
                      headers=token).status_code == 200
    for path, body in (('runs/set-tag', {'key': 'k', 'value': 'v'}), ('runs/delete', {}),
                       ('runs/log-parameter', {'key': 'lr', 'value': '1'}), ('runs/update', {'run_name': 'hijacked'})):
        answer = httpx.post(f'{url}/{path}', json={'run_id': str(run['id']), **body}, headers=token)
        assert answer.status_code == 400 and answer.json()['error_code'] == 'INVALID_STATE', (path, answer.text)
    after = api.get(f'/runs/{run["id"]}').json()
    assert (after['name'], after['tags'], after['config'], after['archived']) == ('done', [], {}, False)
    # the run's end told again, as a script's last end_run may: harmless, and no error for the script
    assert httpx.post(f'{url}/runs/update', json={'run_id': str(run['id']), 'status': 'FINISHED'},
                      headers=token).status_code == 200


def test_a_rename_is_checked_and_kept_in_the_audit_trail(server: Server, api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': f'renamed-{uuid.uuid4().hex[:6]}'}).json()
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'before'}).json()
    url = f'{server.url}/api/2.0/mlflow'
    answer = httpx.post(f'{url}/runs/update', json={'run_id': str(run['id']), 'run_name': 'nul\u0000name'},
                        headers=dict(api.headers))
    assert answer.status_code == 400 and 'NUL' in answer.json()['message'], answer.text
    assert httpx.post(f'{url}/runs/update', json={'run_id': str(run['id']), 'run_name': 'after'},
                      headers=dict(api.headers)).status_code == 200
    assert api.get(f'/runs/{run["id"]}').json()['name'] == 'after'
    trail = api.get('/audit', params={'project_id': project['id'], 'action': 'run.renamed'}).json()['items']
    assert [entry['object_id'] for entry in trail] == [str(run['id'])], trail


def test_a_run_that_reports_through_mlflow_is_stopped_not_paused(server: Server, api: httpx.Client) -> None:
    """MLflow's client never reads a report's answer: a pause would say "paused" while its code ran on (a new user's
    review). Such a run can be stopped; a run of the SDK's can still be paused."""
    project = api.post('/projects', json={'name': f'nopause-{uuid.uuid4().hex[:6]}'}).json()
    url, headers = f'{server.url}/api/2.0/mlflow', dict(api.headers)
    run_id = httpx.post(f'{url}/runs/create', json={'experiment_id': str(project['id']), 'run_name': 'mlflow-made',
                                                    'tags': [{'key': 'mlflow.user', 'value': 'ada'}]},
                        headers=headers).json()['run']['info']['run_id']
    assert httpx.post(f'{url}/runs/log-metric', json={'run_id': run_id, 'key': 'loss', 'value': 1, 'timestamp': 0,
                                                      'step': 0}, headers=headers).status_code == 200
    assert api.get(f'/runs/{run_id}').json()['pausable'] is False
    refused = api.post(f'/runs/{run_id}/actions/pause')
    assert refused.status_code == 409 and 'MLflow' in refused.json()['detail'], refused.text
    assert api.get(f'/runs/{run_id}').json()['status'] == 'running'
    assert api.post(f'/runs/{run_id}/actions/stop').status_code == 202
    sdk = api.post(f'/projects/{project["id"]}/runs', json={'name': 'sdk-made'}).json()
    httpx.post(f'{server.url}/api/v1/runs/{sdk["id"]}/report', json={'status': {'state': 'running'}},
               headers={'Authorization': f'Bearer {sdk["token"]}'}).raise_for_status()
    assert api.get(f'/runs/{sdk["id"]}').json()['pausable'] is True
    assert api.post(f'/runs/{sdk["id"]}/actions/pause').status_code == 202


def test_a_run_copied_from_another_server_keeps_its_start_and_end(server: Server, api: httpx.Client) -> None:
    """create_run(start_time=...) and set_terminated(end_time=...) were ignored: a run copied from last week showed
    as started now and 0 s long (a new user's review)."""
    project = api.post('/projects', json={'name': f'copied-{uuid.uuid4().hex[:6]}'}).json()
    url, headers = f'{server.url}/api/2.0/mlflow', dict(api.headers)
    week_ago = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC
    run_id = httpx.post(f'{url}/runs/create', json={'experiment_id': str(project['id']), 'run_name': 'last-week',
                                                    'start_time': week_ago}, headers=headers).json()['run']['info']
    assert run_id['start_time'] == week_ago
    assert httpx.post(f'{url}/runs/update', json={'run_id': run_id['run_id'], 'status': 'FINISHED',
                                                  'end_time': week_ago + 3_600_000}, headers=headers).status_code == 200
    run = api.get(f'/runs/{run_id["run_id"]}').json()
    assert (run['started_at'][:19], run['ended_at'][:19]) == ('2023-11-14T22:13:20', '2023-11-14T23:13:20')
    for bad in (-1, 10**20, 'soon'):
        answer = httpx.post(f'{url}/runs/create', json={'experiment_id': str(project['id']), 'start_time': bad},
                            headers=headers)
        assert answer.status_code == 400 and answer.json()['error_code'] == 'INVALID_PARAMETER_VALUE', answer.text
