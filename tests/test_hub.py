"""The live hub is a service: no UI framework in it, one broken subscriber keeps a change from nobody, and the tabs
that re-read what a change concerns share their reads."""

import asyncio
import subprocess
import sys

from services import hub
from tests.helpers import ROOT


def test_the_hub_imports_no_ui_framework() -> None:
    code = 'import sys, services.hub; print(sorted(m for m in sys.modules if m.split(".")[0] == "nicegui"))'
    loaded = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == '[]'


async def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    heard: list[hub.Change] = []

    def broken(_change: hub.Change) -> None:
        raise RuntimeError('a tab that went wrong')

    hub.subscribe(broken)
    hub.subscribe(heard.append)
    try:
        change = hub.Change(kind='run', action='updated', id=7, project_id=3)
        await hub.publish(change)  # and the writer is not told of it either
    finally:
        hub.unsubscribe(broken)
        hub.unsubscribe(heard.append)
    assert heard == [change]


async def test_open_tabs_of_one_user_share_a_read_and_a_burst_costs_one_more() -> None:
    from components import live
    reads: list[tuple[int, int]] = []

    def reader(user_id: int):
        async def fetch(project_id: int) -> str:
            reads.append((user_id, project_id))
            await asyncio.sleep(0.05)
            return f'project {project_id} as user {user_id} sees it'
        return fetch

    shown: list[str] = []
    tabs = [live.Rereads(reader(7), lambda _key, value: shown.append(value), shared_by=('project', 7))
            for _ in range(20)]
    await asyncio.gather(*(tab.ask(3) for tab in tabs))
    assert reads == [(7, 3)] and shown == ['project 3 as user 7 sees it'] * 20

    other_user = live.Rereads(reader(8), lambda _key, value: shown.append(value), shared_by=('project', 8))
    await other_user.ask(3)  # what a read shows depends on who reads: not shared between users
    assert reads == [(7, 3), (8, 3)]

    reads.clear()
    first = asyncio.create_task(tabs[0].ask(3))
    await asyncio.sleep(0.01)
    for _ in range(10):  # changes while the tab reads
        await tabs[0].ask(3)
    await first
    assert reads == [(7, 3), (7, 3)]
