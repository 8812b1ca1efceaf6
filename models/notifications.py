from tortoise import fields, models


class Event(models.Model):
    # Something people may want to hear of (services/notifications.KINDS), stored once: `key` says what makes it
    # the same event (a run's end, a budget threshold at a given budget), so that a second detection adds nothing.

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=40)
    key = fields.CharField(max_length=200, unique=True)
    project = fields.ForeignKeyField('models.Project', related_name='events', null=True, on_delete=fields.CASCADE)
    run = fields.ForeignKeyField('models.Run', related_name='events', null=True, on_delete=fields.CASCADE)
    message = fields.TextField()
    details = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = 'events'
        indexes = (('project_id', 'created_at'),)


class Notification(models.Model):
    # One person's copy of an event in the app: the bell, the list, the toast.

    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField('models.User', related_name='notifications', on_delete=fields.CASCADE)
    event = fields.ForeignKeyField('models.Event', related_name='notifications', null=True, on_delete=fields.CASCADE)
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
        unique_together = (('event', 'user'),)


class NotificationPreference(models.Model):
    # A person's choice for one kind of event, per channel; with no row, or None in a channel, the default of how the
    # event concerns them applies (services/notifications.default_channels): only what they changed is stored.

    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField('models.User', related_name='notification_preferences', on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=40)
    in_app = fields.BooleanField(null=True, default=None)
    email = fields.BooleanField(null=True, default=None)

    class Meta:
        table = 'notification_preferences'
        unique_together = (('user', 'kind'),)


class NotificationTarget(models.Model):
    # Where a project's events go out of the app: a Slack incoming webhook or a signed generic webhook. The URL (it
    # is a secret for Slack) and the signing secret are encrypted at rest; `url_hint` is what is shown.

    id = fields.IntField(primary_key=True)
    project = fields.ForeignKeyField('models.Project', related_name='notification_targets', on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=16)  # 'slack' | 'webhook'
    label = fields.CharField(max_length=100, default='')
    url_encrypted = fields.TextField()
    url_hint = fields.CharField(max_length=200, default='')
    secret_encrypted = fields.TextField(null=True)  # webhooks only: signs each delivery
    kinds = fields.JSONField(default=list)  # event kinds sent; empty: every kind
    enabled = fields.BooleanField(default=True)
    created_by = fields.ForeignKeyField('models.User', related_name='notification_targets', null=True,
                                        on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = 'notification_targets'


class DeliveryStatus:
    PENDING = 'pending'
    DELIVERED = 'delivered'
    FAILED = 'failed'  # given up after the last retry


class Delivery(models.Model):
    # The outbox: one row per event and target, written with the event, carried out by the leader. The unique key
    # is what keeps an event from going to one target twice.

    id = fields.BigIntField(primary_key=True)
    event = fields.ForeignKeyField('models.Event', related_name='deliveries', on_delete=fields.CASCADE)
    channel = fields.CharField(max_length=16)  # 'email' | 'slack' | 'webhook'
    target = fields.CharField(max_length=64)  # 'user:<id>' for email, 'target:<id>' for a project's target
    user = fields.ForeignKeyField('models.User', related_name='deliveries', null=True, on_delete=fields.CASCADE)
    endpoint = fields.ForeignKeyField('models.NotificationTarget', related_name='deliveries', null=True,
                                      on_delete=fields.CASCADE)
    status = fields.CharField(max_length=16, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.FloatField(default=0.0)  # epoch seconds
    last_attempt_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = 'deliveries'
        unique_together = (('event', 'channel', 'target'),)
        indexes = (('status', 'next_attempt_at'),)
