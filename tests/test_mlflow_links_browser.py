"""The mlflow client's "View run at <tracking URI>/#/experiments/<e>/runs/<r>" opens the run's page in Chromium."""

import uuid

import pytest

from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, Server
from tests.test_browser import browser, signed_in  # noqa: F401  (the module's Chromium)

pytestmark = pytest.mark.browser


def test_mlflow_s_view_links_open_the_run_and_the_project(browser, server: Server) -> None:  # noqa: F811
    with server.client() as api:
        project = api.post('/projects', json={'name': f'linked {uuid.uuid4().hex[:6]}'}).json()
        run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'printed-by-mlflow'}).json()
    tab = signed_in(browser, server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    tab.goto(f'{server.url}/#/experiments/{project["id"]}/runs/{run["id"]}')
    tab.wait_for_url(f'{server.url}/runs/{run["id"]}')
    tab.get_by_text('printed-by-mlflow').first.wait_for()
    tab.goto(f'{server.url}/#/experiments/{project["id"]}')
    tab.wait_for_url(f'{server.url}/projects/{project["id"]}')
