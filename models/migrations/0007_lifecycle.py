from tortoise import migrations
from tortoise.migrations import operations as ops
from models.runs import RunStatus, StepStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_security')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Run',
            name='status',
            field=fields.CharEnumField(default=RunStatus.QUEUED, description='QUEUED: queued\nPROVISIONING: provisioning\nRUNNING: running\nPAUSING: pausing\nPAUSED: paused\nRESUMING: resuming\nSTOPPING: stopping\nSUCCEEDED: succeeded\nFAILED: failed\nSTOPPED: stopped\nCANCELLED: cancelled', enum_type=RunStatus, max_length=16),
        ),
        ops.AddField(
            model_name='Run',
            name='carried_out_at',
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name='Run',
            name='control_error',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='Run',
            name='deadline',
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name='Run',
            name='progress_window',
            field=fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.AddField(
            model_name='Run',
            name='status_by',
            field=fields.ForeignKeyField('models.User', source_field='status_by_id', null=True, db_constraint=True, to_field='id', related_name='moved_runs', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Run',
            name='status_cause',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AlterField(
            model_name='RunStep',
            name='status',
            field=fields.CharEnumField(default=StepStatus.PENDING, description='PENDING: pending\nRUNNING: running\nSUCCEEDED: succeeded\nFAILED: failed\nSTOPPED: stopped\nSKIPPED: skipped', enum_type=StepStatus, max_length=16),
        ),
    ]
