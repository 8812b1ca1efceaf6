from tortoise import fields, models


class Metric(models.Model):
    # The full history: one row per (run, name, step). A retried report never doubles a point.

    id = fields.BigIntField(primary_key=True)
    run = fields.ForeignKeyField('models.Run', related_name='metrics', on_delete=fields.CASCADE)
    name = fields.CharField(max_length=200)
    step = fields.BigIntField()
    value = fields.FloatField(null=True)  # NULL with `special` set for NaN/±Infinity
    special = fields.CharField(max_length=9, null=True)
    timestamp = fields.FloatField()

    class Meta:
        table = 'metrics'
        unique_together = (('run', 'name', 'step'),)


class LatestMetric(models.Model):
    # The latest value per (run, name), kept small for tables and headers (MLflow's latest_metrics).

    id = fields.IntField(primary_key=True)
    run = fields.ForeignKeyField('models.Run', related_name='latest_metrics', on_delete=fields.CASCADE)
    name = fields.CharField(max_length=200)
    step = fields.BigIntField()
    value = fields.FloatField(null=True)
    special = fields.CharField(max_length=9, null=True)
    timestamp = fields.FloatField()
    count = fields.BigIntField(default=0)

    class Meta:
        table = 'latest_metrics'
        unique_together = (('run', 'name'),)
