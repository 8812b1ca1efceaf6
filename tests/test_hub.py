"""The live hub is a service: no UI framework in it, and one broken subscriber keeps a change from nobody."""

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
