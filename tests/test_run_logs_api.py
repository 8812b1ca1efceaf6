"""GET /api/v1/runs/{id}/logs pages back, searches and filters by level (what it did before stays as it was), and
/logs.txt and the browser's /runs/{id}/log/download stream the whole log as text; bad input is a 4xx that says why."""

import uuid

import httpx

from tests.helpers import Server


def a_run_with_lines(server: Server, api: httpx.Client, lines: list[str]) -> dict:
    project = api.post('/projects', json={'name': f'logs-{uuid.uuid4().hex[:8]}'}).json()
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'mlp'}).json()
    answer = httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report', json={'logs': lines},
                        headers={'Authorization': f'Bearer {run["token"]}'})
    assert answer.status_code == 200, answer.text
    return run


def test_the_log_reads_in_pages_searches_and_filters(server: Server, api: httpx.Client) -> None:
    run = a_run_with_lines(server, api, [f'INFO step {n}' for n in range(500)] + ['ERROR Out Of Memory'])
    url = f'/runs/{run["id"]}/logs'
    tail = api.get(url).json()  # as before: the newest 200, oldest first
    assert len(tail) == 200 and tail[-1]['line'] == 'ERROR Out Of Memory' and tail[-1]['level'] == 'error'
    assert set(tail[0]) == {'id', 'time', 'line', 'level'}
    older = api.get(url, params={'before_id': tail[0]['id'], 'limit': 1000}).json()
    assert [row['line'] for row in older] == [f'INFO step {n}' for n in range(301)]
    assert api.get(url, params={'after_id': tail[-2]['id']}).json() == tail[-1:]
    assert [row['line'] for row in api.get(url, params={'q': 'out of memory'}).json()] == ['ERROR Out Of Memory']
    assert [row['line'] for row in api.get(url, params={'level': 'warning'}).json()] == ['ERROR Out Of Memory']

    for params in ({'q': 'x' * 201}, {'level': 'loud'}, {'before_id': 0}, {'limit': 10_001}):
        answer = api.get(url, params=params)
        assert answer.status_code == 422, (params, answer.text)


def test_a_reported_line_is_cut_as_a_job_s_output_is(server: Server, api: httpx.Client) -> None:
    run = a_run_with_lines(server, api, ['x' * 50_000, 'next'])  # one line of 50,000 was kept and shown whole
    stored = [row['line'] for row in api.get(f'/runs/{run["id"]}/logs').json()]
    assert [len(line) for line in stored] == [10_000, 4]


def test_the_whole_log_downloads_as_text(server: Server, api: httpx.Client) -> None:
    run = a_run_with_lines(server, api, ['first', 'second'])
    answer = api.get(f'/runs/{run["id"]}/logs.txt', params={'tz': 'Europe/Berlin'})
    assert answer.status_code == 200
    assert answer.headers['content-disposition'].startswith('attachment;')
    assert answer.headers['content-type'].startswith('text/plain')
    rows = answer.text.splitlines()
    assert [row.split(' ', 3)[3] for row in rows] == ['first', 'second']
    assert rows[0].split(' ')[2] in {'CET', 'CEST'}
    refused = api.get(f'/runs/{run["id"]}/logs.txt', params={'tz': 'Mars/Olympus'})
    assert refused.status_code == 422 and 'Unknown time zone' in refused.text

    assert httpx.get(f'{server.url}/runs/{run["id"]}/log/download', follow_redirects=False).status_code in {303, 307}
