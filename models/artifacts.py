from enum import StrEnum

from tortoise import fields, models


class ArtifactStatus(StrEnum):
    UPLOADING = 'uploading'  # bytes are on their way; a re-save of a name is uploading again until it completes
    READY = 'ready'          # stored, with the size and SHA-256 that were checked
    FAILED = 'failed'        # `error` says why (a checksum mismatch, a refused upload); nothing to download


class Artifact(models.Model):
    # A run's file in the artifact store, one per (run, name): saving a name again replaces its bytes.
    # `storage_url` says where the bytes are (`s3://<bucket>/<key>` or `local:<key>`), fixed when the upload begins.

    id = fields.IntField(primary_key=True)
    run = fields.ForeignKeyField('models.Run', related_name='artifacts', on_delete=fields.CASCADE)
    name = fields.CharField(max_length=255)
    type = fields.CharField(max_length=32, default='file')
    size_bytes = fields.BigIntField(default=0)
    storage_url = fields.CharField(max_length=1024)
    sha256 = fields.CharField(max_length=64, default='')
    status = fields.CharEnumField(ArtifactStatus, max_length=16, default=ArtifactStatus.READY)
    error = fields.TextField(null=True)
    upload_id = fields.CharField(max_length=1024, null=True)  # S3's multipart upload in progress
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = 'artifacts'
        unique_together = (('run', 'name'),)
