"""How fast does a change reach every open tab?

Opens N Chromium tabs on /projects, renames a project through the API 50 times, and prints p50/p95 of the delay
from the API call returning to the new name showing in every tab, and the server's memory per open tab.
Goal: the change in every tab within 1 s at p95.

    .venv/bin/python bench/live_latency.py [--tabs 20] [--changes 50] [--database-url postgres://...]
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
from services.database import is_postgres  # noqa: E402
from tests import helpers  # noqa: E402
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, signed_in_tabs  # noqa: E402

GOAL_P95_MS = 1000
WATCH = """() => {
    window.__seen = {};
    new MutationObserver(() => {
        for (const link of document.querySelectorAll('a')) {
            const match = /^bench-(\\d+)$/.exec(link.textContent.trim());
            if (match && !(match[1] in window.__seen)) window.__seen[match[1]] = Date.now();
        }
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tabs', type=int, default=20)
    parser.add_argument('--changes', type=int, default=50)
    parser.add_argument('--database-url', default='')
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        url = args.database_url or helpers.database_url('sqlite', Path(tmp))
        server = helpers.Server(helpers.app_env(url, Path(tmp) / 'data')).start()
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            with server.client() as api:
                project = api.post('/projects', json={'name': 'bench-start', 'budget_usd': 1}).json()
                warm = signed_in_tabs(browser, server.url, 1)  # a first tab so that page code is loaded
                rss_before = _rss_kib(server.process.pid)
                tabs = warm + signed_in_tabs(browser, server.url, args.tabs - 1) if args.tabs > 1 else warm
                time.sleep(1.0)
                rss_after = _rss_kib(server.process.pid)
                for tab in tabs:
                    tab.evaluate(WATCH)

                every_tab, any_tab = [], []
                for i in range(args.changes):
                    answer = api.patch(f'/projects/{project["id"]}', json={'name': f'bench-{i}'})
                    returned = time.time() * 1000
                    answer.raise_for_status()
                    seen = _wait_for(tabs, str(i))
                    every_tab.append(max(seen) - returned)
                    any_tab.extend(s - returned for s in seen)
        finally:
            browser.close()
            server.stop()
            if args.database_url:
                helpers.drop_schema(url)

    backend = 'PostgreSQL' if is_postgres(url) else 'SQLite'
    print(f'live latency, {args.tabs} Chromium tabs, {args.changes} API changes, {backend}')
    print(f'  delay until the change shows in every tab: p50 {_pct(every_tab, 50):.1f} ms, '
          f'p95 {_pct(every_tab, 95):.1f} ms, max {max(every_tab):.1f} ms')
    print(f'  delay per tab:                            p50 {_pct(any_tab, 50):.1f} ms, '
          f'p95 {_pct(any_tab, 95):.1f} ms')
    print(f'  server memory per open tab: {(rss_after - rss_before) / max(args.tabs - 1, 1):.0f} KiB '
          f'(RSS {rss_before / 1024:.0f} MiB with 1 tab, {rss_after / 1024:.0f} MiB with {args.tabs})')
    where = f'{backend}, {args.tabs} Chromium tabs'
    report(Figure('a change shown in every tab, p50', where, _pct(every_tab, 50), 'ms', lower_is_better=True),
           Figure('a change shown in every tab, p95', where, _pct(every_tab, 95), 'ms', goal=GOAL_P95_MS,
                  lower_is_better=True),
           Figure('server memory per open tab', where, (rss_after - rss_before) / max(args.tabs - 1, 1), 'KiB',
                  lower_is_better=True))


def _wait_for(tabs: list, key: str, timeout_s: float = 5.0) -> list[float]:
    """The time each tab first showed change `key`, as its MutationObserver recorded it.

    Asking the tabs costs them CPU, so leave them alone while the change arrives, then collect."""
    deadline = time.monotonic() + timeout_s
    seen: list[float | None] = [None] * len(tabs)
    time.sleep(0.25)
    while time.monotonic() < deadline:
        for index, tab in enumerate(tabs):
            if seen[index] is None:
                seen[index] = tab.evaluate(f'() => window.__seen["{key}"] ?? null')
        if all(s is not None for s in seen):
            return [float(s) for s in seen]
        time.sleep(0.05)
    raise TimeoutError(f'change {key} did not reach every tab within {timeout_s} s')


def _rss_kib(pid: int) -> int:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    return 0


def _pct(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method='inclusive')[pct - 1] if len(values) > 1 else values[0]


if __name__ == '__main__':
    main()
