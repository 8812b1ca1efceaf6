"""Secrets at rest: a run's environment is stored encrypted, shown masked, and given to its job in the clear."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import sqlite3

from cryptography.fernet import Fernet

from models import Project, Run, User
from services import keys, runs
from services.database import asyncpg_dsn, postgres_schema
from tests import helpers
from tests.fakes.novita import FakeNovita
from tests.helpers import Server, launch_on_novita, wait_for_status

HF_TOKEN = 'hf_secretAbCdEfGhIjKlMnOp7890'


def test_run_envs_are_encrypted_at_rest_masked_when_shown_and_given_to_the_job(
        cloud_server: Server, novita: FakeNovita, database_url: str) -> None:
    api, run = launch_on_novita(cloud_server, envs={'HF_TOKEN': HF_TOKEN, 'SEED': '1'})
    assert HF_TOKEN not in raw_run_row(database_url, run['id'])
    shown = api.get(f'/runs/{run["id"]}')
    assert HF_TOKEN not in shown.text and shown.json()['envs'] == {'HF_TOKEN': '••••7890', 'SEED': '••••'}
    assert launched_envs(novita, run['id'])['HF_TOKEN'] == HF_TOKEN

    # a retry launches with the same environment, stored the same way
    assert api.post(f'/runs/{run["id"]}/actions/cancel').status_code == 202
    wait_for_status(api, run, 'cancelled')
    retried = api.post(f'/runs/{run["id"]}/actions/retry').json()
    wait_for_status(api, retried, 'provisioning', 'running')  # launched by the leader's next poll
    assert launched_envs(novita, retried['id'])['HF_TOKEN'] == HF_TOKEN
    assert HF_TOKEN not in raw_run_row(database_url, retried['id']) and HF_TOKEN not in str(retried)
    assert api.post(f'/runs/{retried["id"]}/actions/cancel').status_code == 202
    helpers.wait_until(lambda: not novita.live())


async def test_plain_envs_of_an_older_version_are_encrypted_and_still_launch(orm: str) -> None:
    owner = await User.create(email='owner@example.com', password_hash='-')
    project = await Project.create(name='older', owner=owner)
    plain = {'command': 'python train.py', 'envs': {'HF_TOKEN': HF_TOKEN}}
    older = await Run.create(project=project, name='from before', provider='local', spec=plain)
    assert runs.launch_spec(older)['envs'] == {'HF_TOKEN': HF_TOKEN}  # read as it was stored

    await runs.seal_stored_envs()  # at start-up
    assert HF_TOKEN not in raw_run_row(orm, older.id)
    older = await Run.get(id=older.id)
    assert runs.launch_spec(older) == plain and older.spec['envs'] == {'HF_TOKEN': '••••7890'}
    assert (await runs.snapshot(older))['envs'] == {'HF_TOKEN': '••••7890'}


def test_credentials_stored_before_the_shared_key_helper_still_decrypt() -> None:
    # how services/credentials derived its key before services.keys.fernet existed
    older = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b'credentials:' + keys.server_secret().encode()).digest()))
    assert keys.decrypt(older.encrypt(b'sk-live-1234').decode(), 'credentials') == 'sk-live-1234'
    assert keys.decrypt(keys.encrypt('value', 'run-envs'), 'run-envs') == 'value'


def launched_envs(novita: FakeNovita, run_id: int) -> dict[str, str]:
    instance = next(i for i in novita.instances.values() if i.name == f'trainboard-run-{run_id}')
    return {env['key']: env['value'] for env in instance.envs}


def raw_run_row(url: str, run_id: int) -> str:
    """The run's row as the database file holds it, read past the ORM."""
    if url.startswith('sqlite://'):
        with sqlite3.connect(url.removeprefix('sqlite://')) as conn:
            return str(conn.execute('SELECT * FROM runs WHERE id = ?', (run_id,)).fetchone())

    async def read() -> str:
        import asyncpg
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            return str(await conn.fetchrow(f'SELECT * FROM "{postgres_schema(url)}".runs WHERE id = $1', run_id))
        finally:
            await conn.close()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # callers may run an event loop already
        return pool.submit(asyncio.run, read()).result()
