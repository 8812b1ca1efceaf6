from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_run_reporting')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MetricBucket',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('run', fields.ForeignKeyField('models.Run', source_field='run_id', db_constraint=True, to_field='id', related_name='metric_buckets', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('level', fields.SmallIntField()),
                ('bucket', fields.BigIntField()),
                ('count', fields.BigIntField(default=0)),
                ('min_step', fields.BigIntField(null=True)),
                ('min_value', fields.FloatField(null=True)),
                ('max_step', fields.BigIntField(null=True)),
                ('max_value', fields.FloatField(null=True)),
            ],
            options={'table': 'metric_buckets', 'app': 'models', 'unique_together': (('run', 'name', 'level', 'bucket'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Run',
            name='token_hash',
            field=fields.CharField(null=True, unique=True, max_length=64),
        ),
        ops.AddField(
            model_name='Run',
            name='progress_at',
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name='Run',
            name='progress_rate',
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name='Run',
            name='token_nonce',
            field=fields.CharField(null=True, max_length=32),
        ),
    ]
