from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_run_ingest')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Project',
            name='used_usd',
            field=fields.DecimalField(default=0, max_digits=16, decimal_places=6),
        ),
        ops.AddField(
            model_name='Run',
            name='billed_until',
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name='Run',
            name='control',
            field=fields.CharField(null=True, default='', max_length=16),
        ),
        ops.AddField(
            model_name='Run',
            name='provider_state',
            field=fields.CharField(null=True, default='', max_length=64),
        ),
        ops.AddField(
            model_name='Run',
            name='spec',
            field=fields.JSONField(null=True, default=dict, encoder=JSON_DUMPS, decoder=loads),
        ),
    ]
