"""Fixtures. Every database test runs on SQLite, and, when TRAINBOARD_TEST_POSTGRES_URL is set, on PostgreSQL too
unless it drives pages or a browser (see pytest_collection_modifyitems)."""

from __future__ import annotations

import json
import os
import statistics
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from nicegui import app
from nicegui.testing import User
from tortoise.backends.base.executor import EXECUTOR_CACHE

import settings
from services import artifact_store, auth, database
from tests import helpers
from tests.fakes.novita import FakeNovita
from tests.s3 import MotoS3

BACKENDS = [
    'sqlite',
    pytest.param('postgres', marks=pytest.mark.skipif(not helpers.POSTGRES_URL,
                                                      reason='the PostgreSQL run of this test needs '
                                                             'TRAINBOARD_TEST_POSTGRES_URL (.ci/run sets it)')),
]
_ORIGINAL_LIFESPAN = app.router.lifespan_context
# seconds per test file and database in a recorded run of the whole suite: how make test spreads files over shards
DURATIONS: dict[str, dict[str, float]] = json.loads((Path(__file__).parent / 'durations.json').read_text()) \
    if (Path(__file__).parent / 'durations.json').exists() else {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    """A failing test's report ends with the log of any server that exited while the test still used it: a test that
    fails with "connection refused" tells why."""
    report = yield
    if report.failed:
        for server in list(helpers.Server.running):
            if server.process and server.process.poll() is not None:
                report.sections.append((f'server on port {server.port}, exited {server.process.returncode}',
                                        server.log()[-20_000:]))
    return report


@pytest.hookimpl(trylast=True)  # after -k has kept one database's tests: the shards split those
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Pages (NiceGUI's `user`), browsers and `sqlite_only` tests run on SQLite alone: what differs between the
    databases is below them, in the services, the API and the background tasks, which run on both.

    TRAINBOARD_TEST_SHARD=<database>:<i>/<n> keeps the i-th of n shards of the test files (`make test` runs several
    at once): whole files, so a module's fixtures start once, spread by how long each file took on that database in a
    recorded run (tests/durations.json, `make test-durations` records it), largest first; a file not recorded yet
    counts as its number of tests times the median second per test."""
    on_both = [item for item in items if not (_on_postgres(item) and _above_the_database(item))]
    if len(on_both) < len(items):
        kept = set(on_both)
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = on_both
    if not (shard := os.environ.get('TRAINBOARD_TEST_SHARD')):
        return
    database, _, numbers = shard.rpartition(':')
    index, count = (int(part) for part in numbers.split('/'))
    costs = _file_costs(items, database)
    loads, owner = [0.0] * count, {}
    for path, cost in sorted(costs.items(), key=lambda pair: (-pair[1], pair[0])):
        owner[path] = loads.index(min(loads))
        loads[owner[path]] += cost
    kept = [item for item in items if owner[item.nodeid.partition('::')[0]] == index - 1]
    chosen = set(kept)
    config.hook.pytest_deselected(items=[item for item in items if item not in chosen])
    items[:] = kept


def _file_costs(items: list[pytest.Item], database: str) -> dict[str, float]:
    counts = Counter(item.nodeid.partition('::')[0] for item in items)
    recorded = DURATIONS.get(database, {})
    per_test = statistics.median([recorded[path] / counts[path] for path in counts if path in recorded] or [1.0])
    return {path: recorded.get(path, count * per_test) for path, count in counts.items()}


def _on_postgres(item: pytest.Item) -> bool:
    callspec = getattr(item, 'callspec', None)
    return callspec is not None and 'postgres' in callspec.params.values()


def _above_the_database(item: pytest.Item) -> bool:
    """Pages, browsers, and tests marked so (a framework's client end to end, whose database part others cover)."""
    return 'user' in item.fixturenames or any(item.get_closest_marker(mark) for mark in ('browser', 'sqlite_only'))


@pytest.fixture(autouse=True)
def _restore_globals() -> Iterator[None]:
    """main.py wraps the app's lifespan each time a `user` test runs it (NiceGUI's reset does not undo that),
    tests change the environment that settings were read from, and the sign-in throttle remembers every test's
    failed sign-ins (all from one address)."""
    yield
    app.router.lifespan_context = _ORIGINAL_LIFESPAN
    settings.reload()
    auth.throttle.forget()
    artifact_store.forget()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the latest schema, with no rows in it: what the first start-up leaves."""
    yield from _fresh_database(helpers.migrated_database_url, backend, tmp_path)


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database with no tables at all, for the tests of migrating one."""
    yield from _fresh_database(helpers.database_url, backend, tmp_path)


def _fresh_database(make: Callable[[str, Path], str], backend: str, tmp_path: Path) -> Iterator[str]:
    # Tortoise caches each model's INSERT per (connection name, table), not per dialect: a process that switches
    # from SQLite to PostgreSQL (only tests do) would send '?' placeholders to PostgreSQL
    EXECUTOR_CACHE.clear()
    url = make(backend, tmp_path)
    yield url
    helpers.drop_schema(url)


@pytest.fixture
def app_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment main.py reads when a `user` test runs it: a fresh database and data dir, an admin."""
    env = helpers.app_env(database_url, tmp_path / 'data')
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
async def admin(app_env: dict[str, str], user: User) -> User:
    """The `user` fixture, signed in as the admin that TRAINBOARD_ADMIN_EMAIL created."""
    await sign_in(user, helpers.ADMIN_EMAIL, helpers.ADMIN_PASSWORD)
    return user


async def sign_in(user: User, email: str, password: str) -> None:
    await user.open('/login')
    user.find('Email').type(email)
    user.find('Password').type(password)
    user.find('Log in').click()
    await user.should_see('New project', retries=50)


@pytest.fixture(scope='session', params=BACKENDS)
def session_backend(request: pytest.FixtureRequest) -> str:
    """The backend of the session's servers: one parameter, so a test using two of them runs once per backend."""
    return request.param


@pytest.fixture(scope='session')
def server(session_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[helpers.Server]:
    """One real server process per backend for the whole session (API and browser tests)."""
    tmp = tmp_path_factory.mktemp(f'server-{session_backend}')
    url = helpers.migrated_database_url(session_backend, tmp)
    server = helpers.Server(helpers.app_env(url, tmp / 'data')).start()
    yield server
    server.stop()
    helpers.drop_schema(url)


@pytest.fixture
def api(server: helpers.Server) -> Iterator[httpx.Client]:
    """An API client of the session's server, signed in as the admin."""
    with server.client() as client:
        yield client


@pytest.fixture
def novita() -> Iterator[FakeNovita]:
    fake = FakeNovita().start()
    yield fake
    fake.stop()


@pytest.fixture
def cloud_server(database_url: str, tmp_path: Path, novita: FakeNovita) -> Iterator[helpers.Server]:
    """A server that polls often, stops quickly and talks to the Novita fake; it must leave no instance behind."""
    yield from helpers.serve_cloud(database_url, tmp_path, novita)


@pytest.fixture(scope='session')
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 server for the whole session; each test makes buckets of its own."""
    s3 = MotoS3().start()
    yield s3
    s3.stop()


@pytest.fixture(scope='session')
def s3_server(session_backend: str, tmp_path_factory: pytest.TempPathFactory,
              moto_s3: MotoS3) -> Iterator[helpers.Server]:
    """A server per backend for the session whose artifacts go to a bucket of moto's (`server.bucket`)."""
    tmp = tmp_path_factory.mktemp(f's3-server-{session_backend}')
    url = helpers.migrated_database_url(session_backend, tmp)
    bucket = moto_s3.bucket()
    server = helpers.Server(helpers.app_env(url, tmp / 'data', **moto_s3.settings(bucket))).start()
    server.bucket = bucket
    yield server
    server.stop()
    helpers.drop_schema(url)


@pytest.fixture
async def orm(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A migrated database with the ORM open, for service tests that need no app; a data dir of its own unless the
    test chose one (artifacts and the server secret go there, not into the working directory)."""
    if 'TRAINBOARD_DATA_DIR' not in os.environ:
        monkeypatch.setenv('TRAINBOARD_DATA_DIR', str(tmp_path / 'orm-data'))
        settings.reload()
    await database.migrate_database(database_url)
    await database.open_orm(database_url)
    yield database_url
    await database.close_orm()
