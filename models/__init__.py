"""Tortoise models: the whole data model of DESIGN.md. Imports nothing of ours."""

from models.accounts import ApiKey, Role, UsedSignature, User
from models.artifacts import Artifact, ArtifactStatus
from models.audit import AuditEntry
from models.credentials import Credential
from models.logs import LogLine
from models.metrics import LatestMetric, Metric, MetricBucket
from models.notifications import (
                                  Delivery,
                                  DeliveryStatus,
                                  Event,
                                  Notification,
                                  NotificationPreference,
                                  NotificationTarget,
)
from models.projects import MemberRole, Membership, Project, ProjectStatus
from models.runs import Run, RunStatus, RunStep, RunTableView, StepStatus

__all__ = [
    'ApiKey', 'Artifact', 'ArtifactStatus', 'AuditEntry', 'Credential', 'Delivery', 'DeliveryStatus', 'Event',
    'LatestMetric', 'LogLine', 'Membership', 'MemberRole', 'Metric', 'MetricBucket', 'Notification',
    'NotificationPreference', 'NotificationTarget', 'Project', 'ProjectStatus', 'Role', 'Run', 'RunStatus',
    'RunStep', 'RunTableView', 'StepStatus', 'UsedSignature', 'User',
]
