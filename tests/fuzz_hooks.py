"""Schemathesis hooks for tests/test_fuzz_api.py, loaded by the `st` process it starts (SCHEMATHESIS_HOOKS).

Every call goes out signed in as the admin (with a new login token once the fuzzer has revoked the one before, as
DELETE /me/tokens/{id} may); reports go to a real run with that run's token, and to a new run once a report has
finished (or the fuzzer stopped or deleted) the one before. No fuzzed body asks for a local run: its command would run
on this machine.
"""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
import schemathesis

REPORT_PATH = '/api/v1/runs/{run_id}/report'
_api = httpx.Client(base_url=os.environ.get('FUZZ_API_URL', ''), timeout=30,
                    headers={'Authorization': f'Bearer {os.environ.get("FUZZ_ADMIN_TOKEN", "")}'})
_admin = {'token': os.environ.get('FUZZ_ADMIN_TOKEN', '')}
_report_project: dict[str, Any] = {}
_report_run: dict[str, Any] = {}


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    token = _admin['token']
    if case.operation.path == REPORT_PATH:
        run = _report_run or _new_report_run()
        case.path_parameters = {**(case.path_parameters or {}), 'run_id': run['id']}
        token = run['token']
    if isinstance(case.body, dict) and case.body.get('provider') == 'local':
        case.body['provider'] = 'novita'
    case.headers = {**(case.headers or {}), 'Authorization': f'Bearer {token}'}


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    if case.operation.path == REPORT_PATH and response.status_code == 409:
        _report_run.clear()  # it takes no more reports
    elif response.status_code == 401 and _api.get('/me').status_code == 401:
        _sign_in_again()


def _sign_in_again() -> None:
    credentials = {'email': os.environ['FUZZ_ADMIN_EMAIL'], 'password': os.environ['FUZZ_ADMIN_PASSWORD']}
    for _ in range(60):  # the fuzzer's own wrong guesses may have this address waiting a little
        answer = _api.post('/auth/token', json=credentials)
        if answer.status_code != 429:
            break
        time.sleep(1)
    answer.raise_for_status()
    _admin['token'] = answer.json()['token']
    _api.headers['Authorization'] = f'Bearer {_admin["token"]}'


def _new_report_run() -> dict[str, Any]:
    if _api.get('/me').status_code == 401:
        _sign_in_again()
    if not _report_project:  # the first, or the fuzzer deleted the one before
        _report_project.update(_api.post('/projects', json={'name': f'fuzzed reports {time.time_ns()}'}).json())
    answer = _api.post(f'/projects/{_report_project["id"]}/runs', json={'name': 'fuzzed reports'})
    if answer.status_code == 404:
        _report_project.clear()
        return _new_report_run()
    answer.raise_for_status()
    _report_run.update(answer.json())
    return _report_run
