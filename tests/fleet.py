"""Several Trainboard processes on one PostgreSQL schema, Novita runs launched through them, and the two things a
leader's crash must not do: lose a run or bill one twice. Used by tests/test_leader.py and bench/fleet.py."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import httpx

from tests.fakes.novita import API_KEY, FakeNovita
from tests.helpers import Server, app_env, wait_for_status, wait_until

LEADS = 'this process now leads'
PRODUCT = '4090.16c96g.v2'  # 2 x RTX 4090 on the fake: $1.34/h
# the poller bills from one poll to the next, and starts and stops at the midpoint between two polls: its bill may
# differ from the cloud's by a few polls' worth of seconds (more on a busy machine, whose polls come late), where
# billing a run twice would double it
BILL_SLACK_POLLS = 4
BILL_SLACK_SHARE = 0.5


def cloud_env(url: str, data_dir: Path, novita: FakeNovita, poll_interval_s: float, **extra: str) -> dict[str, str]:
    """Every process leads when it can: polls, launches and bills against the Novita fake."""
    return app_env(url, data_dir, TRAINBOARD_SECRET_KEY='shared by every process', TRAINBOARD_SCHEDULER_ENABLED='true',
                   TRAINBOARD_POLL_INTERVAL_S=str(poll_interval_s), TRAINBOARD_STOP_GRACE_S='1',
                   TRAINBOARD_NOVITA_BASE_URL=novita.url, **extra)


def leader(servers: list[Server]) -> Server:
    """The one process that says it leads and is alive."""
    (leading,) = [s for s in servers if s.process.poll() is None and LEADS in s.log()]
    return leading


def took_over_at(server: Server) -> float | None:
    """When `server` last logged that it leads (epoch seconds, from its log's local time), if it has."""
    lines = [line for line in server.log().splitlines() if LEADS in line]
    if not lines:
        return None
    return datetime.strptime(lines[-1][:23], '%Y-%m-%d %H:%M:%S,%f').timestamp()


@dataclass
class Launched:
    """Runs launched on the Novita fake through one API, all in one project."""
    api: httpx.Client
    project: dict
    runs: list[dict] = field(default_factory=list)

    def launch(self, count: int) -> list[dict]:
        """`count` more runs, queued for the leader to launch (not waited for)."""
        body = {'provider': 'novita', 'product_id': PRODUCT, 'gpu_count': 2, 'image': 'pytorch/pytorch:2.4',
                'command': 'python train.py'}
        new = []
        for _ in range(count):
            answer = self.api.post(f'/projects/{self.project["id"]}/runs', json=body)
            answer.raise_for_status()
            new.append(answer.json())
        self.runs += new
        return new


def launching(server: Server, budget_usd: float = 100) -> Launched:
    """A signed-in API of `server` with the fake's key stored and a project to launch in."""
    api = server.client()
    assert api.post('/credentials', json={'provider': 'novita', 'label': 'team', 'secret': API_KEY}).status_code == 201
    project = api.post('/projects', json={'name': f'fleet-{time.time_ns()}', 'budget_usd': budget_usd}).json()
    return Launched(api, project)


def finish_all(launched: Launched, server: Server, novita: FakeNovita, timeout: float = 60) -> None:
    """Each run reports its end (through `server`), and the leader frees every instance."""
    for run in launched.runs:
        wait_for_status(launched.api, run, 'running', timeout=timeout)
        httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report', json={'status': {'state': 'succeeded'}},
                   headers={'Authorization': f'Bearer {run["token"]}'}, timeout=10).raise_for_status()
    wait_until(lambda: not novita.live(), timeout=timeout)


@dataclass
class Audit:
    runs: int
    lost: list[int]  # runs that did not end as they reported, or never had an instance
    billed_twice: list[int]  # runs with two instances, or billed well beyond what the cloud billed
    cost_usd: Decimal  # what Trainboard billed for the runs
    cloud_usd: float  # what the fake billed for their instances


def audit(launched: Launched, novita: FakeNovita, poll_interval_s: float) -> Audit:
    """Every run against the fake's instances and bill."""
    lost, twice = [], []
    cost, cloud = Decimal(0), 0.0
    for run in launched.runs:
        state = launched.api.get(f'/runs/{run["id"]}').json()
        instances = [i for i in novita.instances.values() if i.name == f'trainboard-run-{run["id"]}']
        bill = sum(i.cost() for i in instances)
        cost, cloud = cost + Decimal(str(state['cost_usd'])), cloud + bill
        if state['status'] != 'succeeded' or not instances:
            lost.append(run['id'])
        slack = max(float(state['price_per_hour'] or 0) * BILL_SLACK_POLLS * poll_interval_s / 3600,
                    BILL_SLACK_SHARE * bill)
        if len(instances) > 1 or float(state['cost_usd']) > bill + slack:
            twice.append(run['id'])
    return Audit(len(launched.runs), lost, twice, cost, cloud)
