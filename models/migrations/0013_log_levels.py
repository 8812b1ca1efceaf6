from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.logs import level_of

BATCH = 5000


async def classify_stored_lines(apps, schema_editor) -> None:
    """Give the lines stored before this their level, a batch at a time (a run may have millions)."""
    client = schema_editor.client
    after = 0
    while True:
        rows = await client.execute_query_dict(
            f'SELECT id, line FROM log_lines WHERE id > {after} ORDER BY id LIMIT {BATCH}')
        if not rows:
            return
        by_level: dict[int, list[int]] = {}
        for row in rows:
            level = level_of(row['line'])
            if level is not None:
                by_level.setdefault(level, []).append(int(row['id']))
        for level, ids in by_level.items():
            await client.execute_script(
                f'UPDATE log_lines SET level = {int(level)} WHERE id IN ({",".join(str(i) for i in ids)})')
        after = int(rows[-1]['id'])


class Migration(migrations.Migration):
    dependencies = [('models', '0011_runs_table')]

    initial = False

    # a log line's level, read from its text, so that the run page's level filter is an indexed read
    operations = [
        ops.AddField(
            model_name='LogLine',
            name='level',
            field=fields.SmallIntField(null=True),
        ),
        ops.AddIndex(
            model_name='LogLine',
            index=Index(fields=["run_id", "level", "id"]),
        ),
        ops.RunPython(classify_stored_lines, ops.RunPython.noop),
    ]
