from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_run_control')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Run',
            name='log_cursor',
            field=fields.CharField(null=True, max_length=200),
        ),
    ]
