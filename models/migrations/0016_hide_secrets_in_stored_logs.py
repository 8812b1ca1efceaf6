from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0015_metrics_without_foreign_key')]

    initial = False

    # lines stored before a run's secrets were hidden as they are stored may hold them: every run launched with an
    # environment is marked, and the first start hides its secrets in them (log_secrets.hide_in_stored_lines, which
    # can decrypt the environment: a migration cannot) and clears the mark
    operations = [
        ops.AddField(
            model_name='Run',
            name='log_may_hold_secrets',
            field=fields.BooleanField(null=True),
        ),
        ops.RunSQL("UPDATE runs SET log_may_hold_secrets = TRUE WHERE spec IS NOT NULL AND provider <> 'external'"),
    ]
