"""What many tests need: a Trainboard server in a real process, and Postgres schemas to run it on."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import inspect
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get('TRAINBOARD_TEST_POSTGRES_URL', '')
ADMIN_EMAIL = 'admin@example.com'
ADMIN_PASSWORD = 'correct horse battery'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds the socket listening on 127.0.0.1:`port` (Linux: /proc/net/tcp lists listening
    sockets, state 0A, with their inode; the process's descriptors name the inodes of its sockets)."""
    local = f'0100007F:{port:04X}'
    with open('/proc/net/tcp') as table:
        inodes = {fields[9] for fields in (line.split() for line in table) if fields[1] == local and fields[3] == '0A'}
    with contextlib.suppress(OSError):
        for descriptor in os.listdir(f'/proc/{pid}/fd'):
            with contextlib.suppress(OSError):
                link = os.readlink(f'/proc/{pid}/fd/{descriptor}')
                if link.startswith('socket:[') and link[8:-1] in inodes:
                    return True
    return False


def database_url(backend: str, tmp_path: Path) -> str:
    """A fresh, empty database: a new SQLite file, or a new schema in the test PostgreSQL database."""
    if backend == 'sqlite':
        return f'sqlite://{tmp_path / "trainboard.sqlite3"}'
    schema = f'tb_{uuid.uuid4().hex[:12]}'
    separator = '&' if '?' in POSTGRES_URL else '?'
    return f'{POSTGRES_URL}{separator}schema={schema}'


def migrated_database_url(backend: str, tmp_path: Path) -> str:
    """A fresh database at the latest schema, as start-up would leave it, but copied from one migrated once per test
    process: migrating from 0001 takes 3 s on SQLite and 4 s on PostgreSQL, most tests' whole set-up.
    tests/test_migrations.py migrates an empty one (`database_url`) as a real first start does."""
    url = database_url(backend, tmp_path)
    _templates.copy_to(url)
    return url


def drop_schema(url: str) -> None:
    from services.database import asyncpg_dsn, is_postgres, postgres_schema
    if not is_postgres(url) or not (schema := postgres_schema(url)):
        return

    async def drop() -> None:
        import asyncpg
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()
    _run_async(drop())


class _Templates:
    """One migrated database per backend, made on first use: a SQLite file, or a PostgreSQL schema's DDL and rows
    (pg_dump's, its name replaced by the copy's) from a schema dropped once dumped."""

    def __init__(self) -> None:
        self.sqlite: Path | None = None
        self.postgres_sql: str | None = None
        self.postgres_name = f'tbtemplate_{uuid.uuid4().hex}'

    def copy_to(self, url: str) -> None:
        from services.database import postgres_schema, sqlite_path
        if path := sqlite_path(url):
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self._sqlite(), path)
        else:
            sql = self._postgres().replace(self.postgres_name, postgres_schema(url))
            _run_async(_execute_postgres(url, sql))

    def _sqlite(self) -> Path:
        if self.sqlite is None:
            from services.database import migrate_database
            path = Path(tempfile.mkdtemp(prefix='trainboard-template-')) / 'trainboard.sqlite3'
            _run_async(migrate_database(f'sqlite://{path}'))
            atexit.register(shutil.rmtree, path.parent, True)
            self.sqlite = path
        return self.sqlite

    def _postgres(self) -> str:
        if self.postgres_sql is None:
            from services.database import asyncpg_dsn, migrate_database
            separator = '&' if '?' in POSTGRES_URL else '?'
            url = f'{POSTGRES_URL}{separator}schema={self.postgres_name}'
            _run_async(migrate_database(url))
            try:
                self.postgres_sql = subprocess.run(
                    ['pg_dump', '--schema', self.postgres_name, '--no-owner', '--no-privileges', '--inserts',
                     asyncpg_dsn(url)], check=True, capture_output=True, text=True).stdout
                # without psql's meta-commands (`\restrict`), which the server would not understand
                self.postgres_sql = '\n'.join(line for line in self.postgres_sql.splitlines()
                                              if not line.startswith('\\'))
            finally:
                drop_schema(url)
        return self.postgres_sql


async def _execute_postgres(url: str, sql: str) -> None:
    import asyncpg

    from services.database import asyncpg_dsn
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _run_async(coroutine: Any) -> Any:
    """Run a coroutine to its end from sync code, also when the caller runs an event loop (Playwright's sync API,
    an async fixture): in a thread of its own."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


_templates = _Templates()


async def insert_an_old_run(conn: Any) -> None:
    """A user, their project and a finished run, inserted as plain SQL that the first schema (0001) takes: what
    migration tests keep across their migrations."""
    await conn.execute_query("INSERT INTO users (email, name, password_hash, role, is_active, created_at) "
                             "VALUES ('old@example.com', 'Old', 'x', 'admin', true, CURRENT_TIMESTAMP)")
    await conn.execute_query("INSERT INTO projects (name, description, owner_id, status, budget_usd, used_usd, "
                             "settings, created_at, updated_at) VALUES ('kept', '', 1, 'active', 10, 2, '{}', "
                             "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
    await conn.execute_query("INSERT INTO runs (project_id, name, status, status_message, progress, config, "
                             "provider, gpu_product, gpu_count, price_per_hour, cost_usd, created_at, updated_at) "
                             "VALUES (1, 'old run', 'succeeded', '', 1, '{}', 'external', '', 0, 0, 1.5, "
                             "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")


def app_env(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        'TRAINBOARD_DATABASE_URL': url,
        'TRAINBOARD_DATA_DIR': str(data_dir),
        'TRAINBOARD_ADMIN_EMAIL': ADMIN_EMAIL,
        'TRAINBOARD_ADMIN_PASSWORD': ADMIN_PASSWORD,
        'TRAINBOARD_SCHEDULER_ENABLED': 'false',
        **extra,
    }


class Server:
    """`python main.py` in its own process, as a user starts it."""

    running: ClassVar[weakref.WeakSet[Server]] = weakref.WeakSet()  # started and not stopped by their test

    def __init__(self, env: dict[str, str], port: int | None = None) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(('PYTEST_', 'NICEGUI_'))}
        self.env.update(env, TRAINBOARD_HOST='127.0.0.1')
        self.port_given = port is not None
        self._use_port(port or free_port())
        self.process: subprocess.Popen | None = None

    def _use_port(self, port: int) -> None:
        self.port = port
        self.url = f'http://127.0.0.1:{port}'
        self.env['TRAINBOARD_PORT'] = str(port)
        self.log_path = Path(self.env['TRAINBOARD_DATA_DIR']) / f'server-{port}.log'

    def start(self, timeout: float = 60.0, retries: int = 3) -> Server:
        """Starts the server and waits until it answers on its port. Its answer, not another's: test processes run
        side by side, and a port `free_port` gave may be given to another process too before this server binds it;
        the health check would then pass against that other server, and the test talk to it until it went away."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open('ab')
        self.process = subprocess.Popen([sys.executable, 'main.py'], cwd=ROOT, env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if not self.port_given and retries and f"('127.0.0.1', {self.port}): address already in use" in \
                        self.log():  # taken by then: another port
                    self._use_port(free_port())
                    return self.start(timeout, retries - 1)
                raise RuntimeError(f'the server exited with {self.process.returncode}:\n{self.log()}')
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f'{self.url}/api/v1/health', timeout=1).status_code == 200 \
                        and listens(self.process.pid, self.port):
                    Server.running.add(self)
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f'the server did not answer within {timeout} s:\n{self.log()}')

    def stop(self) -> None:
        Server.running.discard(self)
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors='replace') if self.log_path.exists() else ''

    def token(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> str:
        """A login token; waits out the sign-in throttle, which a test's wrong password sets off for a second or
        two on the address every test signs in from."""
        deadline = time.monotonic() + 40
        while True:
            answer = httpx.post(f'{self.url}/api/v1/auth/token', json={'email': email, 'password': password})
            if answer.status_code != 429 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        answer.raise_for_status()
        return answer.json()['token']

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {'Authorization': f'Bearer {token or self.token()}'}
        return httpx.Client(base_url=f'{self.url}/api/v1', headers=headers, timeout=10)


def serve_cloud(database_url: str, tmp_path: Path, novita: Any, **settings: str) -> Iterator[Server]:
    """A server that polls often, stops quickly and talks to the Novita fake; it must leave no instance behind."""
    env = app_env(database_url, tmp_path / 'data', **{
        'TRAINBOARD_SCHEDULER_ENABLED': 'true', 'TRAINBOARD_POLL_INTERVAL_S': '0.1', 'TRAINBOARD_STOP_GRACE_S': '1',
        'TRAINBOARD_ORPHAN_GRACE_S': '1', 'TRAINBOARD_NOVITA_BASE_URL': novita.url,
        'TRAINBOARD_JOB_LOGS_INTERVAL_S': '0.2', 'TRAINBOARD_GPU_METRICS_INTERVAL_S': '0.5', **settings})
    server = Server(env).start()
    yield server
    server.stop()
    assert not novita.live(), 'an instance was left behind'


def launch_on_novita(server: Server, budget_usd: float = 10, **fields) -> tuple[httpx.Client, dict]:
    """A signed-in API client, and a run launched on the Novita fake (2 x RTX 4090, $1.34/h) in a new project."""
    from tests.fakes.novita import API_KEY
    api = server.client()
    assert api.post('/credentials', json={'provider': 'novita', 'label': 'team', 'secret': API_KEY}).status_code == 201
    project = api.post('/projects', json={'name': f'gpu-{time.time_ns()}', 'budget_usd': budget_usd}).json()
    body = {'name': 'finetune', 'provider': 'novita', 'product_id': '4090.16c96g.v2', 'gpu_count': 2,
            'image': 'pytorch/pytorch:2.4', 'command': 'python train.py', 'envs': {'SEED': '1'}, **fields}
    answer = api.post(f'/projects/{project["id"]}/runs', json=body)
    assert answer.status_code == 201, answer.text
    wait_for_status(api, answer.json(), 'provisioning', 'running', 'failed')  # launched by the leader's next poll
    return api, answer.json()


def running_on_novita(server: Server, novita: Any, **fields: Any) -> tuple[httpx.Client, dict]:
    """A run launched on the Novita fake, its clock on, once the run is running."""
    novita.auto_advance = True
    api, run = launch_on_novita(server, **fields)
    wait_for_status(api, run, 'running')
    return api, run


def wait_for_status(api: httpx.Client, run: dict, *statuses: str, timeout: float = 30) -> dict:
    """Poll the API until the run is in one of `statuses`; its state then."""
    deadline = time.monotonic() + timeout
    state: dict = {}
    while time.monotonic() < deadline:
        state = api.get(f'/runs/{run["id"]}').json()
        if state['status'] in statuses:
            return state
        time.sleep(0.05)
    raise AssertionError(f'run {run["id"]} is {state.get("status")}, not {statuses}')


def wait_until(check, timeout: float = 10, every_s: float = 0.05) -> None:
    """Block until `check()` is true: for what another process does (a server, the fake cloud)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f'not reached within {timeout} s')
        time.sleep(every_s)


async def eventually(check, tries: int = 30, every_s: float = 0.05) -> None:
    """Wait until `check()` (which may be async) is true: live updates land a moment after their write."""
    for _ in range(tries):
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        await asyncio.sleep(every_s)
    raise AssertionError('the condition was not reached')


def without_local_jobs(monkeypatch: Any) -> None:
    """Nobody may launch on this machine (TRAINBOARD_LOCAL_RUNS=off), so sample data starts no job: for tests that
    run the app in the test process, where a job would have no server to report to and would outlive the test."""
    import settings
    monkeypatch.setenv('TRAINBOARD_LOCAL_RUNS', 'off')
    settings.reload()


class Clock:
    """A monotonic clock for code that takes one (the sign-in throttle): it moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
