from tortoise import fields, models


class Credential(models.Model):
    # A provider secret, encrypted at rest with Fernet; only `last4` is ever shown.

    id = fields.IntField(primary_key=True)
    provider = fields.CharField(max_length=32)
    label = fields.CharField(max_length=100)
    secret_encrypted = fields.TextField()
    last4 = fields.CharField(max_length=4, default='')
    owner = fields.ForeignKeyField('models.User', related_name='credentials', null=True, on_delete=fields.CASCADE)
    project = fields.ForeignKeyField('models.Project', related_name='credentials', null=True,
                                     on_delete=fields.CASCADE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = 'credentials'
        indexes = (('provider',),)
