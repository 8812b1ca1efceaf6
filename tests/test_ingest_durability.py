"""Reports written together (group commit) keep what one report alone promised: an answered point is stored, once,
even when the server is killed; a point sent again after a lost answer is a duplicate; and a report that fails does
not take the reports it shared a transaction with down with it."""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from tortoise import connections

from models import Run
from services import auth, ingest, metric_store, projects, runs
from services.errors import Conflict
from tests import helpers
from tests.helpers import Server

CLIENTS = 8


@pytest.fixture
def own_server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    server = Server(helpers.app_env(database_url, tmp_path / 'data')).start()
    yield server
    server.stop()


class Client(threading.Thread):
    """A training process logging one point per request, step after step, until the server stops answering."""

    def __init__(self, server: Server, run: dict) -> None:
        super().__init__(daemon=True)
        self.server, self.run_ = server, run
        self.acknowledged: list[int] = []  # steps the server answered 200 for
        self.in_flight: int | None = None  # sent, no answer: stored or not, the client cannot know
        self.wrong: str | None = None  # an answer that was not 'stored, new'

    def run(self) -> None:
        conn = http.client.HTTPConnection('127.0.0.1', self.server.port, timeout=10)
        step = 0
        while True:
            self.in_flight = step
            try:
                answer = self.post(conn, step)
            except OSError:  # killed: this step's answer is lost
                return
            except AssertionError as error:
                self.wrong = str(error)
                return
            if answer != {'metrics_accepted': 1, 'metrics_duplicate': 0}:
                self.wrong = str(answer)
                return
            self.acknowledged.append(step)
            self.in_flight = None
            step += 1

    def post(self, conn: http.client.HTTPConnection, step: int) -> dict:
        body = orjson.dumps({'metrics': [{'name': 'loss', 'step': step, 'value': 1 / (1 + step)}]})
        conn.request('POST', f'/api/v1/runs/{self.run_["id"]}/report', body=body,
                     headers={'Authorization': f'Bearer {self.run_["token"]}', 'Content-Type': 'application/json'})
        response = conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise AssertionError(f'{response.status}: {payload!r}')
        return orjson.loads(payload)


def test_every_answered_point_survives_a_kill_exactly_once(own_server: Server) -> None:
    api = own_server.client()
    project = api.post('/projects', json={'name': 'killed'}).json()
    clients = [Client(own_server, api.post(f'/projects/{project["id"]}/runs', json={'name': f'r{i}'}).json())
               for i in range(CLIENTS)]
    for client in clients:
        client.start()
    time.sleep(1.5)
    assert all(len(client.acknowledged) >= 3 for client in clients), [len(c.acknowledged) for c in clients]
    own_server.process.kill()  # SIGKILL: no shutdown, no last flush
    own_server.process.wait()
    for client in clients:
        client.join(15)
        assert not client.is_alive() and client.wrong is None, client.wrong

    own_server.start()  # the same database and port
    api = own_server.client()
    for client in clients:
        sent = len(client.acknowledged)
        assert client.acknowledged == list(range(sent))
        if client.in_flight is not None:  # its answer was lost: sent again, it is stored now, once
            conn = http.client.HTTPConnection('127.0.0.1', own_server.port, timeout=10)
            answer = client.post(conn, client.in_flight)
            assert answer['metrics_accepted'] + answer['metrics_duplicate'] == 1
            sent += 1
        run_id = client.run_['id']
        series = api.get(f'/runs/{run_id}/metrics/loss', params={'max_points': 100_000}).json()
        assert [point[0] for point in series['points']] == list(range(sent))  # every answered point, none twice
        assert series['total'] == sent
        [latest] = api.get(f'/runs/{run_id}/metrics').json()
        assert latest['count'] == sent and latest['step'] == sent - 1  # the roll-ups counted each point once


async def test_a_report_that_fails_in_a_group_fails_alone(orm: str) -> None:
    owner = await auth.create_user('gina@example.com', 'a long password')
    project = await projects.create_project(owner, name='Grouped')
    live, _ = await runs.create_run(owner, project['id'], name='live')
    ended, _ = await runs.create_run(owner, project['id'], name='ended')
    live_run, ended_run = await Run.get(id=live['id']), await Run.get(id=ended['id'])
    await Run.filter(id=ended['id']).update(status='succeeded')  # after it was read: only the write finds out

    def report(steps: range, **parts: dict) -> dict:
        return {'metrics': [{'name': 'loss', 'step': s, 'value': float(s)} for s in steps], **parts}

    # sent at once, they queue behind the first and are written together: points alone in a few statements for
    # all, a report with more parts on its own (which raises, and rolls the group back: each is then tried alone)
    answers = await asyncio.gather(
        ingest.report(live_run, report(range(0, 10))),
        ingest.report(live_run, report(range(5, 15))),  # 5..9 are the previous report's
        ingest.report(ended_run, report(range(0, 10))),
        ingest.report(ended_run, report(range(0, 10), progress={'fraction': 0.5})),
        ingest.report(live_run, report(range(15, 20))),
        return_exceptions=True)
    assert answers[0] == {'metrics_accepted': 10, 'metrics_duplicate': 0}
    assert answers[1] == {'metrics_accepted': 5, 'metrics_duplicate': 5}
    assert isinstance(answers[2], Conflict) and isinstance(answers[3], Conflict)
    assert answers[4] == {'metrics_accepted': 5, 'metrics_duplicate': 0}
    [latest] = await metric_store.metric_names(live['id'])
    assert (latest['count'], latest['step']) == (20, 19)
    series = await metric_store.series(live['id'], 'loss')
    assert [point[0] for point in series['points']] == list(range(20))
    assert await metric_store.metric_names(ended['id']) == []


async def test_a_job_s_output_and_its_reports_at_once_store_each_point_once(orm: str) -> None:
    """A provider's samples (record_output) and the job's own reports may carry the same points at the same moment;
    each writer holds the run's lock as it writes, so the points read as stored are all there are."""
    owner = await auth.create_user('hal@example.com', 'a long password')
    project = await projects.create_project(owner, name='Both ways')
    created, _ = await runs.create_run(owner, project['id'], name='r')
    run = await Run.get(id=created['id'])
    await ingest.report(run, {'metrics': [{'name': 'loss', 'step': 0, 'value': 1.0}]})  # running from here on

    def sample(step: int) -> metric_store.Point:
        return metric_store.Point('system/gpu', step, float(step), None, time.time())

    for attempt in range(5):  # the writes race anew each time
        steps = range(1 + attempt * 100, 1 + (attempt + 1) * 100)
        answers = await asyncio.gather(
            *[ingest.record_output(run, points=[sample(s) for s in steps]) for _ in range(3)],
            *[ingest.report(run, {'metrics': [{'name': 'system/gpu', 'step': s, 'value': float(s)} for s in steps]})
              for _ in range(3)])
        recorded = answers[:3] + [answer['metrics_accepted'] for answer in answers[3:]]
        assert sum(recorded) == 100, recorded  # every point new to exactly one writer
    latest = {metric['name']: metric for metric in await metric_store.metric_names(run.id)}
    assert latest['system/gpu']['count'] == 500
    series = await metric_store.series(run.id, 'system/gpu', max_points=1000)
    assert [point[0] for point in series['points']] == list(range(1, 501))


async def test_deleting_a_project_deletes_its_runs_history(orm: str) -> None:
    owner = await auth.create_user('ida@example.com', 'a long password')
    gone = await projects.create_project(owner, name='Gone')
    kept = await projects.create_project(owner, name='Kept')
    for project in (gone, kept):
        created, _ = await runs.create_run(owner, project['id'], name='r')
        run = await Run.get(id=created['id'])
        await ingest.report(run, {'metrics': [{'name': 'loss', 'step': s, 'value': 1.0} for s in range(50)]})
        await ingest.report(run, {'status': {'state': 'succeeded'}})
    await projects.delete_project(owner, gone['id'])
    conn = connections.get('default')
    counts = await conn.execute_query_dict('SELECT r.project_id AS project, COUNT(*) AS points FROM metrics m '
                                           'LEFT JOIN runs r ON r.id = m.run_id GROUP BY r.project_id')
    assert [(row['project'], row['points']) for row in counts] == [(kept['id'], 50)]  # no point of a run that is gone
