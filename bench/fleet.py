"""Several processes on one PostgreSQL database: how fast a change reaches every tab, whichever process serves it,
and what a leader's crash costs.

1. Chromium tabs spread over two processes; projects renamed through the API of each in turn; the delay from the
   API call returning to the new name showing in every tab of both (p50, p95).
2. Runs on the Novita fake, launched through the leader; the leader SIGKILLed while they run and more are queued;
   the time until another process leads, then every run finished: runs lost, runs billed twice (tests/fleet.py).

    TRAINBOARD_TEST_POSTGRES_URL=postgres://... .venv/bin/python bench/fleet.py [--tabs 10] [--changes 40]
        [--poll-interval 1] [--runs 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import Figure, report  # noqa: E402
from bench.live_latency import WATCH, _wait_for  # noqa: E402
from tests import fleet, helpers  # noqa: E402
from tests.fakes.novita import FakeNovita  # noqa: E402
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, signed_in_tabs  # noqa: E402

WHERE = 'PostgreSQL, 2 processes'
CHANGE_GOAL_MS = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tabs', type=int, default=10, help='tabs in all, half on each process')
    parser.add_argument('--changes', type=int, default=40)
    parser.add_argument('--poll-interval', type=float, default=1.0, help='TRAINBOARD_POLL_INTERVAL_S')
    parser.add_argument('--runs', type=int, default=4, help='runs running when the leader dies (and half as many '
                        'queued)')
    args = parser.parse_args()
    if not helpers.POSTGRES_URL:
        sys.exit('set TRAINBOARD_TEST_POSTGRES_URL to a PostgreSQL database (each run uses a schema of its own)')
    with tempfile.TemporaryDirectory() as tmp:
        every_tab = change_delays(Path(tmp) / 'tabs', args.tabs, args.changes)
        report(Figure(f'change to every tab, {args.tabs} tabs over 2 processes, p50', WHERE, _pct(every_tab, 50),
                      'ms', goal=CHANGE_GOAL_MS, lower_is_better=True),
               Figure(f'change to every tab, {args.tabs} tabs over 2 processes, p95', WHERE, _pct(every_tab, 95),
                      'ms', goal=CHANGE_GOAL_MS, lower_is_better=True))
        failover_s, audit = leader_killed(Path(tmp) / 'failover', args.poll_interval, args.runs)
        # the lock is a session lock: it goes the moment PostgreSQL sees the connection close, and the others ask for
        # it at each tick of their jobs, the poll's included; so it changes hands within a poll interval, and two
        # allow for a busy machine
        report(Figure(f'failover after SIGKILL of the leader, poll every {args.poll_interval:g} s', WHERE,
                      failover_s, 's', goal=2 * args.poll_interval, lower_is_better=True),
               Figure(f'runs lost of {audit.runs} (leader killed mid-run)', WHERE, len(audit.lost), 'runs',
                      goal=0, lower_is_better=True),
               Figure(f'runs billed twice of {audit.runs} (leader killed mid-run)', WHERE,
                      len(audit.billed_twice), 'runs', goal=0, lower_is_better=True))
        print(f'  billed ${audit.cost_usd:.6f}; the fake cloud billed ${audit.cloud_usd:.6f} for the same instances')


def change_delays(tmp: Path, tabs: int, changes: int) -> list[float]:
    """Milliseconds from each API change returning to its showing in every tab of both processes."""
    from playwright.sync_api import sync_playwright
    url = helpers.database_url('postgres', tmp)
    env = helpers.app_env(url, tmp / 'data', TRAINBOARD_SECRET_KEY='shared by the two processes',
                          TRAINBOARD_SCHEDULER_ENABLED='true')
    servers = [helpers.Server(env).start() for _ in range(2)]
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                apis = [server.client() for server in servers]
                project = apis[0].post('/projects', json={'name': 'bench-start', 'budget_usd': 1}).json()
                open_tabs = [tab for server in servers
                             for tab in signed_in_tabs(browser, server.url, max(tabs // len(servers), 1))]
                time.sleep(1.0)
                for tab in open_tabs:
                    tab.evaluate(WATCH)
                every_tab = []
                for i in range(changes):
                    answer = apis[i % len(apis)].patch(f'/projects/{project["id"]}', json={'name': f'bench-{i}'})
                    returned = time.time() * 1000
                    answer.raise_for_status()
                    every_tab.append(max(_wait_for(open_tabs, str(i))) - returned)
                for api in apis:
                    api.close()
            finally:
                browser.close()
    finally:
        for server in servers:
            server.stop()
        helpers.drop_schema(url)
    return every_tab


def leader_killed(tmp: Path, poll_interval_s: float, running: int) -> tuple[float, fleet.Audit]:
    """Seconds from SIGKILL of the leader to another process leading; and the runs' audit once all have ended."""
    novita = FakeNovita().start()
    novita.auto_advance = True
    url = helpers.database_url('postgres', tmp)
    servers = [helpers.Server(fleet.cloud_env(url, tmp / 'data', novita, poll_interval_s)).start() for _ in range(2)]
    try:
        first = fleet.leader(servers)
        launched = fleet.launching(first)
        for run in launched.launch(running):
            helpers.wait_for_status(launched.api, run, 'running', timeout=30 + 10 * poll_interval_s)
        time.sleep(2 * poll_interval_s)  # billed a while by the first leader
        launched.launch(max(running // 2, 1))
        killed_at = time.time()
        first.process.kill()
        first.process.wait()
        (other,) = [s for s in servers if s is not first]
        helpers.wait_until(lambda: fleet.took_over_at(other) is not None, timeout=60)
        failover_s = fleet.took_over_at(other) - killed_at
        time.sleep(2 * poll_interval_s)  # billed a while by the next
        with other.client() as api:
            launched.api = api
            fleet.finish_all(launched, other, novita, timeout=60 + 10 * poll_interval_s)
            audit = fleet.audit(launched, novita, poll_interval_s)
    finally:
        for server in servers:
            server.stop()
        helpers.drop_schema(url)
        novita.stop()
    return failover_s, audit


def _pct(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method='inclusive')[pct - 1] if len(values) > 1 else values[0]


if __name__ == '__main__':
    main()
