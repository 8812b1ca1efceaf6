from tortoise import migrations
from tortoise.migrations import operations as ops


async def drop_foreign_key(apps, schema_editor) -> None:
    """On PostgreSQL the history's rows no longer check their run one by one: that check, a query per inserted row,
    took a third of a batched report's insert. Every writer holds the run's row lock as it writes its points
    (services/metric_store.py), and deleting a project deletes its runs' points itself (services/projects.py).
    SQLite's check is an in-process index lookup, and dropping a constraint there rebuilds the table: it stays."""
    client = schema_editor.client
    if client.capabilities.dialect != 'postgres':
        return
    rows = await client.execute_query_dict(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'metrics'::regclass AND contype = 'f'")
    for row in rows:
        await client.execute_script(f'ALTER TABLE metrics DROP CONSTRAINT "{row["conname"]}"')


async def add_foreign_key(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == 'postgres':
        await client.execute_script('ALTER TABLE metrics ADD CONSTRAINT metrics_run_id_fkey FOREIGN KEY (run_id) '
                                    'REFERENCES runs (id) ON DELETE CASCADE')


class Migration(migrations.Migration):
    dependencies = [('models', '0014_mlflow_tags')]

    initial = False

    operations = [
        ops.RunPython(drop_foreign_key, add_foreign_key),
    ]
