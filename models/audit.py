from tortoise import fields, models


class AuditEntry(models.Model):
    # Who did what to which object. `actor` is empty for the system (poller, budget enforcement). `project_id` is a
    # plain column, not a key: the trail of a deleted project stays readable by admins.

    id = fields.BigIntField(primary_key=True)
    actor = fields.ForeignKeyField('models.User', related_name='audit_entries', null=True,
                                   on_delete=fields.SET_NULL)
    action = fields.CharField(max_length=64)
    object_type = fields.CharField(max_length=32)
    object_id = fields.CharField(max_length=64, default='')
    project_id = fields.IntField(null=True)
    details = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = 'audit_entries'
        indexes = (('object_type', 'object_id'), ('created_at',), ('project_id', 'created_at'))
