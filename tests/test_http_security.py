"""In transit and at start-up: security headers on every answer, the session cookie's flags, a health check that
says when the database is gone, and a start-up that cannot use its database exits saying why."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from services.database import asyncpg_dsn
from tests import helpers
from tests.helpers import ROOT, Server

HEADERS = {'x-content-type-options': 'nosniff', 'referrer-policy': 'same-origin', 'x-frame-options': 'DENY'}
START_UP_TIMEOUT_S = 20  # generous for a loaded machine: what matters is that it exits rather than hangs


@pytest.mark.parametrize('path', ['/login', '/api/v1/health', '/api/v1/projects', '/no/such/page'])
def test_every_answer_carries_the_security_headers(server: Server, path: str) -> None:
    answer = httpx.get(server.url + path)
    assert {name: answer.headers.get(name) for name in HEADERS} == HEADERS
    policy = answer.headers['content-security-policy']
    for directive in ("frame-ancestors 'none'", "object-src 'none'", "base-uri 'self'", "form-action 'self'"):
        assert directive in policy


@pytest.mark.parametrize(('setting', 'secure'), [({}, False), ({'TRAINBOARD_COOKIE_SECURE': 'true'}, True),
                                                 ({'TRAINBOARD_PUBLIC_URL': 'https://trainboard.example'}, True)])
def test_the_session_cookie_is_http_only_same_site_and_secure_when_asked(
        tmp_path: Path, setting: dict[str, str], secure: bool) -> None:
    env = helpers.app_env(helpers.database_url('sqlite', tmp_path), tmp_path / 'data', **setting)
    server = Server(env).start()
    try:
        cookie = httpx.get(f'{server.url}/login').headers['set-cookie'].lower()
    finally:
        server.stop()
    flags = {flag.strip() for flag in cookie.split(';')}
    assert {'httponly', 'samesite=lax'} <= flags and ('secure' in flags) == secure


def test_health_answers_503_once_the_database_is_gone(database_url: str, tmp_path: Path) -> None:
    server = Server(helpers.app_env(database_url, tmp_path / 'data')).start()
    try:
        assert httpx.get(f'{server.url}/api/v1/health').json() == {'status': 'ok'}
        break_database(database_url)
        answer = httpx.get(f'{server.url}/api/v1/health', timeout=10)
    finally:
        server.stop()
    assert answer.status_code == 503
    assert answer.json()['status'] == 'unavailable'
    assert answer.json()['detail'].startswith('the database is unreachable: ')


def test_a_read_only_sqlite_database_stops_the_start_at_once(tmp_path: Path) -> None:
    url = helpers.database_url('sqlite', tmp_path)
    Server(helpers.app_env(url, tmp_path / 'data')).start().stop()  # a database made by an earlier start
    database = Path(url.removeprefix('sqlite://'))
    for path in (database, *database.parent.glob(database.name + '-*')):
        path.chmod(0o444)
    database.parent.chmod(0o555)
    try:
        returncode, output = start_without_file_rights(helpers.app_env(url, tmp_path / 'data'))
    finally:
        database.parent.chmod(0o755)
    assert returncode != 0
    assert f'cannot write the SQLite database {database}' in output, output


@pytest.mark.skipif(not helpers.POSTGRES_URL, reason='needs TRAINBOARD_TEST_POSTGRES_URL (.ci/run sets it)')
def test_an_unreachable_postgres_stops_the_start_at_once(tmp_path: Path) -> None:
    url = f'postgres://trainboard:not-this@127.0.0.1:{helpers.free_port()}/trainboard'  # nothing listens there
    returncode, output = start_without_file_rights(helpers.app_env(url, tmp_path / 'data'))
    assert returncode != 0
    assert 'cannot connect to PostgreSQL at 127.0.0.1' in output and 'not-this' not in output, output


@pytest.mark.skipif(not helpers.POSTGRES_URL, reason='needs TRAINBOARD_TEST_POSTGRES_URL (.ci/run sets it)')
def test_a_read_only_postgres_stops_the_start_at_once(tmp_path: Path) -> None:
    role = f'tb_read_only_{uuid.uuid4().hex[:8]}'  # a role of its own: whose every transaction is read-only
    postgres(f'CREATE ROLE {role} LOGIN', f'ALTER ROLE {role} SET default_transaction_read_only = on')
    try:
        parts = urlsplit(helpers.POSTGRES_URL)
        url = urlunsplit(parts._replace(netloc=f'{role}@{parts.hostname}:{parts.port or 5432}'))
        returncode, output = start_without_file_rights(helpers.app_env(url, tmp_path / 'data'))
    finally:
        postgres(f'DROP ROLE {role}')
    assert returncode != 0
    assert 'is read-only' in output, output


def start_without_file_rights(env: dict[str, str]) -> tuple[int, str]:
    """Run main.py until it exits; its exit code and output. Root may write any file whatever its mode, so as root
    the process starts without the capabilities that let it (the way a server run as a plain user would)."""
    command = [sys.executable, 'main.py']
    if os.geteuid() == 0:
        command = ['setpriv', '--bounding-set', '-dac_override,-dac_read_search', '--', *command]
    process = subprocess.run(command, cwd=ROOT, env=Server(env).env, capture_output=True, text=True,
                             timeout=START_UP_TIMEOUT_S)
    return process.returncode, process.stdout + process.stderr


def break_database(url: str) -> None:
    """Take the database away from under a running server: drop its PostgreSQL schema, or its SQLite users table
    (the server keeps the SQLite file open and its pages cached, so deleting, chmodding or overwriting the file
    would change nothing it sees)."""
    if url.startswith('sqlite://'):
        with sqlite3.connect(url.removeprefix('sqlite://')) as conn:
            conn.execute('DROP TABLE users')
        return
    helpers.drop_schema(url)


def postgres(*statements: str) -> None:
    async def run() -> None:
        import asyncpg
        conn = await asyncpg.connect(asyncpg_dsn(helpers.POSTGRES_URL))
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()
    asyncio.run(run())
