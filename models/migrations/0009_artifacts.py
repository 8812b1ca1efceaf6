from tortoise import migrations
from tortoise.migrations import operations as ops
from models.artifacts import ArtifactStatus
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0008_notifications')]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name='Artifact',
            name=None,
            fields=['run_id', 'name'],
        ),
        ops.AddField(
            model_name='Artifact',
            name='error',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='Artifact',
            name='status',
            field=fields.CharEnumField(null=True, default=ArtifactStatus.READY, description='UPLOADING: uploading\nREADY: ready\nFAILED: failed', enum_type=ArtifactStatus, max_length=16),
        ),
        ops.AddField(
            model_name='Artifact',
            name='updated_at',
            field=fields.DatetimeField(null=True, auto_now=True, auto_now_add=False),
        ),
        # older artifacts were recorded whole; then the columns take no nulls, as the model says
        ops.RunSQL("UPDATE artifacts SET status = 'ready', updated_at = created_at"),
        ops.AlterField(
            model_name='Artifact',
            name='status',
            field=fields.CharEnumField(default=ArtifactStatus.READY, description='UPLOADING: uploading\nREADY: ready\nFAILED: failed', enum_type=ArtifactStatus, max_length=16),
        ),
        ops.AlterField(
            model_name='Artifact',
            name='updated_at',
            field=fields.DatetimeField(auto_now=True, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Artifact',
            name='upload_id',
            field=fields.CharField(null=True, max_length=1024),
        ),
        ops.AddConstraint(
            model_name='Artifact',
            constraint=UniqueConstraint(fields=('run', 'name'), name=None),
        ),
        ops.AddField(
            model_name='Run',
            name='logs_kept_at',
            field=fields.FloatField(null=True),
        ),
        # runs that ended before logs were kept: 0, so that the leader does not upload every old log at once
        ops.RunSQL("UPDATE runs SET logs_kept_at = 0 WHERE status IN ('succeeded', 'failed', 'stopped', 'cancelled')"),
    ]
