from tortoise import fields, models


class Artifact(models.Model):
    id = fields.IntField(primary_key=True)
    run = fields.ForeignKeyField('models.Run', related_name='artifacts', on_delete=fields.CASCADE)
    name = fields.CharField(max_length=255)
    type = fields.CharField(max_length=32, default='file')
    size_bytes = fields.BigIntField(default=0)
    storage_url = fields.CharField(max_length=1024)
    sha256 = fields.CharField(max_length=64, default='')
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = 'artifacts'
        indexes = (('run_id', 'name'),)
