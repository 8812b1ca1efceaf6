from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LogLine',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('run', fields.ForeignKeyField('models.Run', source_field='run_id', db_constraint=True, to_field='id', related_name='log_lines', on_delete=OnDelete.CASCADE)),
                ('timestamp', fields.FloatField()),
                ('line', fields.TextField(unique=False)),
            ],
            options={'table': 'log_lines', 'app': 'models', 'indexes': [Index(fields=['run_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Run',
            name='last_report_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Run',
            name='step',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='Run',
            name='total_steps',
            field=fields.BigIntField(null=True),
        ),
    ]
