from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_run_control')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Project',
            name='used_usd',
            field=fields.DecimalField(default=0, max_digits=16, decimal_places=6),
        ),
    ]
