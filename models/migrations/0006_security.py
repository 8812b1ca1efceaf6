from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_job_log_cursor')]

    initial = False

    operations = [
        ops.CreateModel(
            name='UsedSignature',
            fields=[
                ('signature_hash', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('expires_at', fields.FloatField()),
            ],
            options={'table': 'used_signatures', 'app': 'models', 'indexes': [Index(fields=['expires_at'])], 'pk_attr': 'signature_hash'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Project',
            name='budget_unlimited',
            field=fields.BooleanField(default=False, null=True),
        ),
        ops.AddField(
            model_name='Run',
            name='credential',
            field=fields.ForeignKeyField('models.Credential', source_field='credential_id', null=True, db_constraint=True, to_field='id', related_name='runs', on_delete=OnDelete.SET_NULL),
        ),
    ]
