"""A database made by an older Trainboard is brought up to date at start-up, keeping its data."""

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest
from tortoise import connections

import settings
from models import LogLine, Project, Run
from services import database, log_secrets, runs
from tests import helpers


async def test_an_older_database_is_migrated_and_keeps_its_data(empty_database_url: str) -> None:
    await database.migrate_database(empty_database_url, target='models.0001_initial')  # what the first release made
    await database.open_orm(empty_database_url)
    conn = connections.get('default')
    await helpers.insert_an_old_run(conn)
    await conn.execute_query("INSERT INTO run_steps (run_id, \"index\", name, status, description, cost_usd) "
                             "VALUES (1, 0, 'training', 'succeeded', '', 0)")
    await conn.execute_query("INSERT INTO metrics (run_id, name, step, value, timestamp) VALUES (1, 'loss', 7, 0.5, 1)")
    await conn.execute_query("INSERT INTO artifacts (run_id, name, type, size_bytes, storage_url, sha256, created_at) "
                             "VALUES (1, 'model.pt', 'model', 10, 's3://old/model.pt', '', CURRENT_TIMESTAMP)")
    await database.close_orm()

    await database.migrate_database(empty_database_url)  # what start-up does
    await database.migrate_database(empty_database_url)  # and again on the next start: nothing left to do

    await database.open_orm(empty_database_url)
    try:
        project = await Project.get(name='kept')
        assert float(project.budget_usd) == 10 and float(project.used_usd) == 2
        run = await Run.get(name='old run')
        assert run.total_steps is None and run.step is None  # the new columns exist
        # rebuilding a parent table on SQLite must not cascade into its children
        assert await run.steps.all().count() == 1 and await run.metrics.all().count() == 1
        await run.log_lines.all()  # and the new table
        [artifact] = await run.artifacts.all()
        assert artifact.status == 'ready' and artifact.updated_at is not None  # an older artifact was stored whole
        assert run.logs_kept_at == 0  # an older finished run's log is not uploaded all at once by the next leader
        applied = await connections.get('default').execute_query_dict('SELECT name FROM tortoise_migrations')
        assert {row['name'] for row in applied} >= {'0001_initial', '0002_run_reporting', '0003_run_ingest',
                                                    '0004_run_control'}
        assert run.control in {None, ''} and not run.spec  # columns added after the old rows were made
    finally:
        await database.close_orm()


async def test_secrets_in_lines_stored_before_they_were_hidden_are_hidden(empty_database_url: str, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('TRAINBOARD_DATA_DIR', str(tmp_path / 'data'))  # the server secret the envs are sealed with
    settings.reload()
    await database.migrate_database(empty_database_url, target='models.0001_initial')
    await database.open_orm(empty_database_url)
    await helpers.insert_an_old_run(connections.get('default'))  # its owner and project
    await database.close_orm()
    await database.migrate_database(empty_database_url, target='models.0015_metrics_without_foreign_key')
    await database.open_orm(empty_database_url)
    conn = connections.get('default')
    sealed = runs.sealed({'envs': {'HF_TOKEN': 'hf_sealedsecret1', 'N': '1'}})
    plain = {'command': 'train', 'envs': {'WANDB_API_KEY': 'wandb-plain-secret'}}  # as versions before sealing kept it
    lines = {2: ['token hf_sealedsecret1 and hf_sealedsecret1', 'N is 1', '50% done_'],
             3: ['key=wandb-plain-secret', 'hf_sealedsecret1 is not this run\'s']}
    try:
        for spec in (sealed, plain):  # as the version before this one stored them: plain SQL of that schema
            await conn.execute_query(database.in_dialect(
                conn, "INSERT INTO runs (project_id, name, status, status_message, progress, config, provider, "
                      "gpu_product, gpu_count, price_per_hour, cost_usd, created_at, updated_at, spec) VALUES (1, 'r', "
                      "'succeeded', '', 1, '{}', 'local', '', 0, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?)"),
                [json.dumps(spec)])
        for run_id, texts in lines.items():
            for text in texts:
                await conn.execute_query(database.in_dialect(
                    conn, 'INSERT INTO log_lines (run_id, timestamp, line) VALUES (?, 1, ?)'), [run_id, text])
    finally:
        await database.close_orm()

    await database.migrate_database(empty_database_url)
    await database.open_orm(empty_database_url)
    try:
        assert await log_secrets.hide_in_stored_lines() == 2  # at start-up: the runs the migration marked
        assert await log_secrets.hide_in_stored_lines() == 0  # once
        stored = {run_id: await LogLine.filter(run_id=run_id).order_by('id').values_list('line', flat=True)
                  for run_id in lines}
        assert stored == {2: ['token [hidden] and [hidden]', 'N is 1', '50% done_'],
                          3: ['key=[hidden]', 'hf_sealedsecret1 is not this run\'s']}
    finally:
        await database.close_orm()


async def test_a_new_sqlite_database_starts_from_the_migrated_copy_and_is_migrated_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    migrated = tmp_path / 'built' / 'migrated.sqlite3'  # as scripts/build_binary.py makes it, but a release behind
    await database.migrate_database(f'sqlite://{migrated}', target='models.0015_metrics_without_foreign_key')
    with contextlib.closing(sqlite3.connect(migrated)) as made:  # closed: its write-ahead log is in the file
        made.execute('CREATE TABLE made_at_build (id INTEGER)')  # to tell the copy from a database migrated anew
    monkeypatch.setattr(database, 'NEW_SQLITE_DATABASE', migrated)

    new = tmp_path / 'data' / 'trainboard.sqlite3'
    await database.migrate_database(f'sqlite://{new}')

    with contextlib.closing(sqlite3.connect(new)) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        applied = {name for (name,) in db.execute('SELECT name FROM tortoise_migrations')}
        columns = {row[1] for row in db.execute('PRAGMA table_info(runs)')}
    assert 'made_at_build' in tables  # the copy, not a database made from 0001
    assert '0016_hide_secrets_in_stored_logs' in applied and 'log_may_hold_secrets' in columns  # what came after

    with contextlib.closing(sqlite3.connect(new)) as db:
        db.execute('CREATE TABLE kept (id INTEGER)')
        db.commit()
    await database.migrate_database(f'sqlite://{new}')  # the next start: a database that exists is never replaced
    with contextlib.closing(sqlite3.connect(new)) as db:
        assert db.execute("SELECT 1 FROM sqlite_master WHERE name = 'kept'").fetchone()

    deleted = tmp_path / 'deleted' / 'trainboard.sqlite3'  # by hand, after a kill left its write-ahead log behind
    deleted.parent.mkdir()
    (deleted.parent / 'trainboard.sqlite3-wal').write_bytes(b'frames SQLite would replay onto a copy')
    await database.migrate_database(f'sqlite://{deleted}')
    with contextlib.closing(sqlite3.connect(deleted)) as db:
        assert not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'made_at_build'").fetchone()  # no copy
        assert db.execute("SELECT 1 FROM tortoise_migrations WHERE name = '0016_hide_secrets_in_stored_logs'")\
            .fetchone()  # migrated from 0001 instead
    assert not [path for path in (tmp_path / 'data').iterdir() if path.name.startswith('.')]  # no copy left over
