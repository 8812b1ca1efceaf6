from tortoise import fields, models


class LogLine(models.Model):
    # A line of a run's output, in the order it arrived; the run page tails the newest ones.
    id = fields.BigIntField(primary_key=True)
    run = fields.ForeignKeyField('models.Run', related_name='log_lines', on_delete=fields.CASCADE)
    timestamp = fields.FloatField()
    line = fields.TextField()

    class Meta:
        table = 'log_lines'
        indexes = (('run_id', 'id'),)
