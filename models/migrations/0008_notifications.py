from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0007_lifecycle')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Event',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(max_length=40)),
                ('key', fields.CharField(unique=True, max_length=200)),
                ('project', fields.ForeignKeyField('models.Project', source_field='project_id', null=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('run', fields.ForeignKeyField('models.Run', source_field='run_id', null=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('message', fields.TextField(unique=False)),
                ('details', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'events', 'app': 'models', 'indexes': [Index(fields=['project_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NotificationPreference',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='notification_preferences', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=40)),
                ('in_app', fields.BooleanField(default=True)),
                ('email', fields.BooleanField(default=False)),
            ],
            options={'table': 'notification_preferences', 'app': 'models', 'unique_together': (('user', 'kind'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NotificationTarget',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('project', fields.ForeignKeyField('models.Project', source_field='project_id', db_constraint=True, to_field='id', related_name='notification_targets', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=16)),
                ('label', fields.CharField(default='', max_length=100)),
                ('url_encrypted', fields.TextField(unique=False)),
                ('url_hint', fields.CharField(default='', max_length=200)),
                ('secret_encrypted', fields.TextField(null=True, unique=False)),
                ('kinds', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('enabled', fields.BooleanField(default=True)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='notification_targets', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'notification_targets', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Delivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('models.Event', source_field='event_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(max_length=16)),
                ('target', fields.CharField(max_length=64)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('endpoint', fields.ForeignKeyField('models.NotificationTarget', source_field='endpoint_id', null=True, db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharField(default='pending', max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.FloatField(default=0.0)),
                ('last_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'deliveries', 'app': 'models', 'unique_together': (('event', 'channel', 'target'),), 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='AuditEntry',
            name='project_id',
            field=fields.IntField(null=True),
        ),
        ops.AddIndex(
            model_name='AuditEntry',
            index=Index(fields=['project_id', 'created_at']),
        ),
        ops.AddField(
            model_name='Notification',
            name='event',
            field=fields.ForeignKeyField('models.Event', source_field='event_id', null=True, db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE),
        ),
        ops.AddConstraint(
            model_name='Notification',
            constraint=UniqueConstraint(fields=('event', 'user'), name=None),
        ),
        ops.AddField(
            model_name='Run',
            name='stall_grace_s',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Run',
            name='stall_notified_at',
            field=fields.FloatField(null=True),
        ),
    ]
