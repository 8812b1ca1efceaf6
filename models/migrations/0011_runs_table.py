from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0010_notification_defaults')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RunTableView',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='run_table_views', on_delete=OnDelete.CASCADE)),
                ('project', fields.ForeignKeyField('models.Project', source_field='project_id', db_constraint=True, to_field='id', related_name='run_table_views', on_delete=OnDelete.CASCADE)),
                ('view', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'run_table_views', 'app': 'models', 'unique_together': (('user', 'project'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Run',
            name='archived_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Run',
            name='note',
            field=fields.TextField(null=True, default='', unique=False),
        ),
        ops.AddField(
            model_name='Run',
            name='tags',
            field=fields.JSONField(null=True, default=list, encoder=JSON_DUMPS, decoder=loads),
        ),
        # runs made before tags and notes have none, rather than NULL
        ops.RunSQL("UPDATE runs SET tags = '[]', note = ''"),
        ops.AddIndex(
            model_name='Run',
            index=Index(fields=['project_id', 'created_at']),
        ),
    ]
