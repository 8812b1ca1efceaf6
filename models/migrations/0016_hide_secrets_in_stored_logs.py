from tortoise import migrations
from tortoise.migrations import operations as ops


async def hide_secrets(apps, schema_editor) -> None:
    """Lines stored before a run's secrets were hidden as they are stored held them in the clear: on the run page,
    through the API and to a search (only the download hid them)."""
    from services import log_secrets  # on its way in: the services import much else

    await log_secrets.hide_in_stored_lines(schema_editor.client)


class Migration(migrations.Migration):
    dependencies = [('models', '0015_metrics_without_foreign_key')]

    initial = False

    operations = [
        ops.RunPython(hide_secrets, ops.RunPython.noop),
    ]
