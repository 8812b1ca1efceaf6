"""The audit trail: who did what to which object. This module writes it; services/audit_trail.py reads it.

Kept to models and the hub: the services whose actions it records import it.
"""

from __future__ import annotations

from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient

from models import AuditEntry, User
from services import hub


async def record(actor: User | None, action: str, object_type: str, object_id: int | str, *,
                 project_id: int | None = None, using_db: BaseDBAsyncClient | None = None, **details: Any) -> None:
    """One entry; `using_db` writes it in the caller's transaction, so that it commits (or not) with the change.
    `project_id` is the project it concerns, for the owners' view of the trail. `details` must hold no secret.

    Written outside any transaction, the entry is committed here, so the open audit pages hear of it at once. Written
    inside one, it is not committed yet: announcing it would send the pages to read before it exists. Those callers
    publish their own change once committed (a run's, a project's, a user's), which the audit page listens to too."""
    entry = await AuditEntry.create(actor=actor, action=action, object_type=object_type, object_id=str(object_id),
                                    project_id=project_id, details=details, using_db=using_db)
    if using_db is None and not isinstance(connections.get('default'), TransactionalDBClient):
        await hub.publish(hub.Change(kind='audit', action='created', id=entry.id, project_id=project_id))


# --- how entries read ----------------------------------------------------------------------------------------------

LABELS = {
    'run.created': 'Run launched',
    'run.queued': 'Run queued',
    'run.provisioning': 'Job started on its provider',
    'run.running': 'Run started',  # or 'Run resumed', from a pause (label)
    'run.pausing': 'Pause requested',
    'run.paused': 'Run paused',
    'run.resuming': 'Resume requested',
    'run.stopping': 'Stop requested',
    'run.stopped': 'Run stopped',
    'run.cancelled': 'Run cancelled',
    'run.succeeded': 'Run succeeded',
    'run.failed': 'Run failed',
    'run.labelled': 'Run tags or note changed',
    'run.renamed': 'Run renamed',
    'runs.tag': 'Runs tagged',
    'runs.untag': 'Tag taken off runs',
    'runs.archive': 'Runs archived',
    'runs.unarchive': 'Runs unarchived',
    'project.created': 'Project created',
    'project.updated': 'Project edited',
    'project.budget_changed': 'Budget changed',
    'project.deleted': 'Project deleted',
    'project.sample_loaded': 'Sample project loaded',
    'project.artifact_store_changed': 'Artifact bucket changed',
    'member.added': 'Member added',
    'member.removed': 'Member removed',
    'member.role_changed': 'Member role changed',
    'credential.added': 'Credential added',
    'credential.deleted': 'Credential removed',
    'instance.orphan_terminated': 'Orphan instance terminated',
    'user.created': 'User added',
    'user.updated': 'User changed',
    'user.password_changed': 'Password changed',
    'user.password_reset': 'Password reset',
    'api_key.revoked': 'API key revoked',
    'notification_target.added': 'Notification target added',
    'notification_target.enabled': 'Notification target turned on',
    'notification_target.disabled': 'Notification target turned off',
    'notification_target.removed': 'Notification target removed',
    'artifact.uploaded': 'Artifact uploaded',
    'artifact.deleted': 'Artifact deleted',
}
GROUPS = {'run.': 'Runs: all', 'project.': 'Projects: all', 'member.': 'Members: all',
          'credential.': 'Credentials: all', 'user.': 'Users: all', 'notification_target.': 'Notification targets: all',
          'artifact.': 'Artifacts: all'}
# what the filter says where one action reads two ways in the table (label)
CHOICE_LABELS = {'run.running': 'Run started or resumed'}
# the causes of a move nobody asked for by hand (services/lifecycle.SYSTEM_STOPS), as a label's last word
LIMIT_CAUSES = {'budget': 'budget', 'cost_limit': 'cost limit', 'duration': 'duration limit', 'stall': 'stall timeout'}
_RESUMED_FROM = {'pausing', 'paused', 'resuming'}
_SUMMARY_MAX = 1000


def label(action: str, details: dict[str, Any]) -> str:
    """The action in words: 'Stop requested (budget)', 'Run resumed'."""
    said = LABELS.get(action) or action.replace('.', ' ').replace('_', ' ').capitalize()
    if action == 'run.running' and details.get('previous') in _RESUMED_FROM:
        said = 'Run resumed'
    elif action == 'run.running' and details.get('previous') in {'queued', 'provisioning'}:
        said = 'Run started'
    if action.startswith('run.') and (cause := LIMIT_CAUSES.get(str(details.get('cause')))):
        said = f'{said} ({cause})'
    return said


def summary(action: str, details: dict[str, Any]) -> str:
    """The details in a sentence, never a secret (none is recorded): 'vision: $10.00 → $1.00'."""
    said = _summarised(action, details)
    return said if len(said) <= _SUMMARY_MAX else f'{said[:_SUMMARY_MAX - 1]}…'


def _summarised(action: str, d: dict[str, Any]) -> str:
    if action.startswith('run.') and 'cause' in d:  # a lifecycle move
        return _joined(d.get('reason'), d.get('previous') and f'was {d["previous"]}',
                       d.get('cause') not in (None, '', 'user') and f'cause: {str(d["cause"]).replace("_", " ")}')
    if action == 'run.created':
        price = d.get('price_per_hour')
        return _joined(d.get('name') and f'"{d["name"]}"', d.get('provider') and f'on {d["provider"]}',
                       price and f'${float(price):,.2f}/h')
    if action in {'project.created', 'project.updated'}:
        return _joined(d.get('name') and f'name "{d["name"]}"', 'budget_usd' in d and f'budget {_usd(d["budget_usd"])}',
                       d.get('status') and f'status {d["status"]}', 'description' in d and 'description changed',
                       'budget_unlimited' in d and f'unlimited {_yes(d["budget_unlimited"] in (True, "True"))}')
    if action == 'project.budget_changed':
        money = _joined(f'{_usd(d.get("old_budget_usd"))} → {_usd(d.get("new_budget_usd"))}'
                        if d.get('old_budget_usd') != d.get('new_budget_usd') else None,
                        f'unlimited: {_yes(d.get("old_unlimited"))} → {_yes(d.get("new_unlimited"))}'
                        if d.get('old_unlimited') != d.get('new_unlimited') else None)
        return money or 'no change'
    if action == 'member.role_changed':
        return f'{d.get("email", "?")}: {d.get("old_role", "?")} → {d.get("new_role", "?")}'
    if action in {'member.added', 'user.created'}:
        return _joined(d.get('email'), d.get('role') and f'as {d["role"]}')
    if action == 'member.removed':
        return _joined(d.get('email') or (d.get('user_id') and f'user #{d["user_id"]}'),
                       d.get('role') and f'was {d["role"]}')
    if action.startswith('credential.'):
        return _joined(d.get('provider'), d.get('label') and f'"{d["label"]}"', d.get('scope') and f'{d["scope"]} key')
    if action == 'user.updated':
        return _joined(d.get('email'), _change('role', d.get('old_role'), d.get('role')),
                       None if 'was_active' not in d or d['was_active'] == d.get('is_active') else
                       ('reactivated' if d.get('is_active') else 'deactivated')) or 'no change'
    if action == 'instance.orphan_terminated':
        return _joined(d.get('name') and f'"{d["name"]}"', d.get('state') and f'was {d["state"]}',
                       d.get('credential_id') and f'credential #{d["credential_id"]}')
    return '; '.join(f'{key.replace("_", " ")}: {value}' for key, value in sorted(d.items())
                     if value not in (None, '', [], {}))


def _change(what: str, old: Any, new: Any) -> str | None:
    if new is None:
        return None
    return f'{what} {old} → {new}' if old is not None and old != new else f'{what} {new}'


def _joined(*parts: Any) -> str:
    return ' · '.join(str(part) for part in parts if part)


def _usd(value: Any) -> str:
    try:
        return f'${float(value):,.2f}'
    except (TypeError, ValueError):
        return str(value)


def _yes(value: Any) -> str:
    return 'yes' if value else 'no'


def action_choices() -> dict[str, str]:
    """What the action filter offers: each group (a prefix), then each action, with the labels the table shows."""
    return {**GROUPS, **LABELS, **CHOICE_LABELS}
