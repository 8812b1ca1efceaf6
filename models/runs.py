from datetime import UTC, datetime
from enum import StrEnum

from tortoise import fields, models


class RunStatus(StrEnum):
    QUEUED = 'queued'
    PROVISIONING = 'provisioning'
    RUNNING = 'running'
    PAUSING = 'pausing'  # asked to pause: the job may checkpoint until the deadline, then it is frozen
    PAUSED = 'paused'  # frozen or its instance stopped: billing has ended
    RESUMING = 'resuming'  # asked to go on: the leader wakes the job or starts its instance
    STOPPING = 'stopping'  # asked to stop: the job may checkpoint until the deadline, then it is stopped
    SUCCEEDED = 'succeeded'
    FAILED = 'failed'
    STOPPED = 'stopped'
    CANCELLED = 'cancelled'

    @property
    def is_finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.STOPPED, RunStatus.CANCELLED})


class StepStatus(StrEnum):
    PENDING = 'pending'
    RUNNING = 'running'
    SUCCEEDED = 'succeeded'
    FAILED = 'failed'
    STOPPED = 'stopped'  # the run was stopped (or cancelled) while the step ran
    SKIPPED = 'skipped'


class Run(models.Model):
    id = fields.IntField(primary_key=True)
    project = fields.ForeignKeyField('models.Project', related_name='runs', on_delete=fields.CASCADE)
    created_by = fields.ForeignKeyField('models.User', related_name='runs', null=True, on_delete=fields.SET_NULL)
    name = fields.CharField(max_length=200)
    status = fields.CharEnumField(RunStatus, max_length=16, default=RunStatus.QUEUED)
    status_message = fields.TextField(default='')
    progress = fields.FloatField(default=0.0)
    config = fields.JSONField(default=dict)
    provider = fields.CharField(max_length=32, default='external')
    gpu_product = fields.CharField(max_length=100, default='')
    gpu_count = fields.IntField(default=0)
    price_per_hour = fields.DecimalField(max_digits=12, decimal_places=5, default=0)
    cost_usd = fields.DecimalField(max_digits=14, decimal_places=6, default=0)
    job_ref = fields.CharField(max_length=200, null=True)
    started_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    eta_seconds = fields.FloatField(null=True)
    step = fields.BigIntField(null=True)  # the training step last reported, of `total_steps`
    total_steps = fields.BigIntField(null=True)
    last_report_at = fields.DatetimeField(null=True)
    max_cost_usd = fields.DecimalField(max_digits=14, decimal_places=4, null=True)
    max_duration_s = fields.IntField(null=True)
    stall_timeout_s = fields.IntField(null=True)
    token_hash = fields.CharField(max_length=64, null=True, unique=True)
    token_nonce = fields.CharField(max_length=32, null=True)  # with the server secret, re-derives the token for HMAC
    progress_rate = fields.FloatField(null=True)  # smoothed fraction of the run per second, for the ETA
    progress_at = fields.FloatField(null=True)  # epoch seconds of the progress report the rate was last updated by
    # nullable so that a database made before these columns migrates: its rows get NULL
    spec = fields.JSONField(default=dict, null=True)  # what was launched: command, image, envs (for retry and restarts)
    provider_state = fields.CharField(max_length=64, default='', null=True)  # the provider's own word, shown as is
    billed_until = fields.FloatField(null=True)  # epoch seconds up to which cost has been accrued
    control = fields.CharField(max_length=16, default='', null=True)  # 'stop'/'pause' asked of the job via reports
    log_cursor = fields.CharField(max_length=200, null=True)  # how far the job's own log has been copied (provider's)
    # the stored key the run launched with (and is polled, stopped and billed through); None for local and external
    credential = fields.ForeignKeyField('models.Credential', related_name='runs', null=True,
                                        on_delete=fields.SET_NULL)
    # who or what moved the run to its status last (services/lifecycle.Cause), and the user if a person did
    status_cause = fields.CharField(max_length=16, null=True)
    status_by = fields.ForeignKeyField('models.User', related_name='moved_runs', null=True,
                                       on_delete=fields.SET_NULL)
    deadline = fields.FloatField(null=True)  # epoch seconds until which a stopping/pausing job may checkpoint
    carried_out_at = fields.FloatField(null=True)  # when the leader asked the provider to carry the intent out
    control_error = fields.TextField(null=True)  # why the intent could not be carried out yet (shown, retried)
    progress_window = fields.JSONField(null=True)  # [[epoch s, fraction], ...] of recent reports that advanced it
    # a run silent for its stall timeout is notified of first, and stopped after this much longer unless it reports
    stall_grace_s = fields.IntField(null=True)  # None: the project's setting, else the stall timeout again
    stall_notified_at = fields.FloatField(null=True)  # epoch seconds the stall was notified; cleared by a report
    logs_kept_at = fields.FloatField(null=True)  # epoch seconds its finished log went to the artifact store (0: never)
    log_may_hold_secrets = fields.BooleanField(null=True)  # lines stored before they were masked (migration 0016)
    # the team's own words about the run (services/run_labels.py bounds them); NULL on runs made before them
    tags = fields.JSONField(default=list, null=True)  # ["baseline", "lr-sweep"]
    note = fields.TextField(default='', null=True)
    mlflow_tags = fields.JSONField(null=True)  # MLflow's key/value tags that are not Trainboard tags (mlflow.*)
    archived_at = fields.DatetimeField(null=True)  # hidden from the runs table unless a filter shows archived runs
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = 'runs'
        indexes = (('project_id', 'status'), ('status',))


class RunStep(models.Model):
    id = fields.IntField(primary_key=True)
    run = fields.ForeignKeyField('models.Run', related_name='steps', on_delete=fields.CASCADE)
    index = fields.IntField()
    name = fields.CharField(max_length=100)
    status = fields.CharEnumField(StepStatus, max_length=16, default=StepStatus.PENDING)
    description = fields.TextField(default='')
    started_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    cost_usd = fields.DecimalField(max_digits=14, decimal_places=6, default=0)

    class Meta:
        table = 'run_steps'
        unique_together = (('run', 'index'),)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.ended_at or datetime.now(UTC)
        return (end - self.started_at).total_seconds()


class RunTableView(models.Model):
    # How one user last left one project's runs table: columns, sort, filters, grouping (services/run_table.View)
    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField('models.User', related_name='run_table_views', on_delete=fields.CASCADE)
    project = fields.ForeignKeyField('models.Project', related_name='run_table_views', on_delete=fields.CASCADE)
    view = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = 'run_table_views'
        unique_together = (('user', 'project'),)
