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


class MetricBucket(models.Model):
    # Roll-ups of the history for fast charts: at `level` L a bucket spans BUCKET_BASE**L steps and keeps its
    # count and the step and value of its minimum and maximum, so a downsampled chart still shows every spike.
    id = fields.BigIntField(primary_key=True)
    run = fields.ForeignKeyField('models.Run', related_name='metric_buckets', on_delete=fields.CASCADE)
    name = fields.CharField(max_length=200)
    level = fields.SmallIntField()
    bucket = fields.BigIntField()
    count = fields.BigIntField(default=0)
    min_step = fields.BigIntField(null=True)
    min_value = fields.FloatField(null=True)
    max_step = fields.BigIntField(null=True)
    max_value = fields.FloatField(null=True)

    class Meta:
        table = 'metric_buckets'
        unique_together = (('run', 'name', 'level', 'bucket'),)
