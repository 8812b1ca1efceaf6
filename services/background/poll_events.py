"""What the poll cycle hears of that people should too: a spot instance about to be reclaimed, an instance no run
owned terminated, a cloud credential that started to fail. Each is stored once (services/notifications.emit) with
its bell copies and outbox rows in one transaction, and announced after the commit.

An installation's events (an orphan, a credential) concern its admins and the credential's owner, and the
credential's project when it belongs to one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from models import Credential, Project, Role, Run, User
from providers import registry
from providers.base import JobState
from services import notifications
from services.provider_health import Account, Health


async def spot_reclaim(run: Run, state: JobState, now: float) -> bool:
    """The run's spot instance is to be reclaimed: its people hear once per run and job. Whether it was new."""
    if not state.reclaim_notice:
        return False
    project = await Project.get_or_none(id=run.project_id).only('id', 'name')
    where = f'"{run.name}" in {project.name if project else "a deleted project"}'
    cloud = _said(run.provider)
    if state.reclaim_at is not None:
        at = datetime.fromtimestamp(state.reclaim_at, UTC)
        minutes = max(0, round((state.reclaim_at - now) / 60))
        when = f'at {at:%H:%M} UTC (in about {minutes} min)'
    else:
        when = 'soon'
    message = f'{where}: {cloud} will reclaim its spot instance {when}; save a checkpoint, or the work since is lost.'
    details = {'job_ref': run.job_ref, 'reclaim_at': state.reclaim_at, 'provider_state': state.raw,
               'run_name': run.name}
    return await _emit('run.spot_reclaim', key=f'spot:{run.id}:{run.job_ref}', message=message,
                       project_id=run.project_id, run_id=run.id, details=details)


async def orphan_terminated(account: Account, ref: str, state: JobState) -> bool:
    """An instance named like ours that no run owned was terminated."""
    credential = await _credential(account)
    through = f' (credential "{credential.label}")' if credential else ''
    message = (f'Terminated {_said(account.provider)} instance {ref} ("{state.name}"){through}: no run owned it, '
               'and it was billing.')
    details = {'provider': account.provider, 'credential_id': account.credential_id, 'ref': ref, 'name': state.name,
               'state': state.raw}
    return await _emit('instance.orphan_terminated', key=f'orphan:{account}:{ref}', message=message,
                       project_id=credential.project_id if credential else None, details=details,
                       also=await _installation_people(credential))


async def credential_failing(account: Account, health: Health) -> bool:
    """A credential that answered has stopped answering: once per time it starts to fail. The error is the
    provider's message (services/background/poller._reason), which never quotes the key."""
    credential = await _credential(account)
    if credential is None or health.since is None:  # this machine needs none; or it was removed meanwhile
        return False
    message = f'The {_said(account.provider)} credential "{credential.label}" is failing: {health.error}'
    details = {'provider': account.provider, 'credential_id': credential.id, 'label': credential.label,
               'error': health.error, 'since': health.since.isoformat()}
    return await _emit('credential.failing', key=f'credential:{credential.id}:{int(health.since.timestamp())}',
                       message=message.rstrip('.') + '.', project_id=credential.project_id, details=details,
                       also=await _installation_people(credential))


async def _emit(kind: str, *, key: str, message: str, project_id: int | None, run_id: int | None = None,
                details: dict[str, Any], also: frozenset[int] = frozenset()) -> bool:
    async with in_transaction() as conn:  # the event with its bell copies and outbox rows, or none of them
        event = await notifications.emit(kind, key=key, message=message, project_id=project_id, run_id=run_id,
                                         details=details, also=also, using_db=conn, announced=False)
    if event is not None:
        await notifications.announce(project_id)
    return event is not None


async def _credential(account: Account) -> Credential | None:
    return await Credential.get_or_none(id=account.credential_id) if account.credential_id is not None else None


async def _installation_people(credential: Credential | None) -> frozenset[int]:
    """The admins (who keep the installation's accounts) and the credential's owner, as owners of the event."""
    admins = await User.filter(role=Role.ADMIN).values_list('id', flat=True)
    owner = [credential.owner_id] if credential is not None and credential.owner_id is not None else []
    return frozenset([*admins, *owner])


def _said(provider: str) -> str:
    caps = registry.capabilities(provider)
    return caps.said if caps else provider
