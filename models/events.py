from tortoise import fields, models


class Notification(models.Model):
    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField('models.User', related_name='notifications', on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=32)
    message = fields.TextField()
    project = fields.ForeignKeyField('models.Project', related_name='notifications', null=True,
                                     on_delete=fields.CASCADE)
    run = fields.ForeignKeyField('models.Run', related_name='notifications', null=True, on_delete=fields.CASCADE)
    read = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = 'notifications'
        indexes = (('user_id', 'read'),)


class AuditEntry(models.Model):
    # Who did what to which object. `actor` is empty for the system (poller, budget enforcement).

    id = fields.BigIntField(primary_key=True)
    actor = fields.ForeignKeyField('models.User', related_name='audit_entries', null=True,
                                   on_delete=fields.SET_NULL)
    action = fields.CharField(max_length=64)
    object_type = fields.CharField(max_length=32)
    object_id = fields.CharField(max_length=64, default='')
    details = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = 'audit_entries'
        indexes = (('object_type', 'object_id'), ('created_at',))
