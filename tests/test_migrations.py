"""A database made by an older Trainboard is brought up to date at start-up, keeping its data."""

from tortoise import connections

from models import Project, Run
from services import database
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
