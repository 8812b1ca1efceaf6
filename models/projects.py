from enum import StrEnum

from tortoise import fields, models


class ProjectStatus(StrEnum):
    ACTIVE = 'active'
    ARCHIVED = 'archived'


class MemberRole(StrEnum):
    OWNER = 'owner'
    EDITOR = 'editor'
    VIEWER = 'viewer'


class Project(models.Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    description = fields.TextField(default='')
    owner = fields.ForeignKeyField('models.User', related_name='owned_projects', on_delete=fields.RESTRICT)
    status = fields.CharEnumField(ProjectStatus, max_length=16, default=ProjectStatus.ACTIVE)
    budget_usd = fields.DecimalField(max_digits=14, decimal_places=4, default=0)
    used_usd = fields.DecimalField(max_digits=16, decimal_places=6, default=0)  # accrues in sub-cent steps
    # with no budget (0), paid runs launch only for an admin, or once an admin has marked the project unlimited
    budget_unlimited = fields.BooleanField(default=False, null=True)  # nullable: older rows migrate as NULL
    settings = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = 'projects'
        unique_together = (('owner', 'name'),)


class Membership(models.Model):
    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField('models.User', related_name='memberships', on_delete=fields.CASCADE)
    project = fields.ForeignKeyField('models.Project', related_name='memberships', on_delete=fields.CASCADE)
    role = fields.CharEnumField(MemberRole, max_length=16, default=MemberRole.VIEWER)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = 'memberships'
        unique_together = (('user', 'project'),)
