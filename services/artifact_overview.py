"""The artifact store as admins see it on the settings page: which store this server uses (a directory, or an S3
bucket at an endpoint under a prefix, with whose keys), the projects an admin sent elsewhere, and how the store is
doing, tried on request (one sentence when it fails: a missing bucket, refused keys; never a stack trace)."""

from __future__ import annotations

from dataclasses import dataclass, field

import settings
from models import Project, User
from services import artifact_store, auth
from services.errors import Forbidden
from services.stores import StoreError

_SERVER = 0  # the id the server's own settings are tried under: no project has it, so only workspace keys apply


@dataclass(frozen=True)
class Override:
    project: str
    bucket: str
    prefix: str
    error: str | None  # how that project's store answered (None: it works, or was not tried)


@dataclass(frozen=True)
class Overview:
    kind: str  # 'local' or 's3'
    rows: list[tuple[str, str]]  # (what, value) to show, in order
    error: str | None  # how the store answered: None while it works
    overrides: list[Override] = field(default_factory=list)  # projects with a bucket or prefix of their own


async def overview(user: User, *, check: bool = True) -> Overview:
    """The server's store and its health, for admins; `check` tries it now (a HEAD of the bucket, or the directory
    made), else says how it answered last."""
    user = await auth.refreshed(user)
    if not user.is_admin:
        raise Forbidden('Only admins see the artifact store\'s settings.')
    config = settings.current
    server = Project(id=_SERVER, name='', settings={})
    if config.artifact_store == 'local':
        rows = [('Store', 'a directory on this server (TRAINBOARD_ARTIFACT_STORE=local)'),
                ('Directory', str(config.data_dir / 'artifacts'))]
    else:
        rows = [('Store', 'S3 (TRAINBOARD_ARTIFACT_STORE=s3)'), ('Bucket', config.s3_bucket or '(not set)'),
                ('Endpoint', config.s3_endpoint_url or 'AWS'), ('Region', config.s3_region or 'boto3\'s default'),
                ('Key prefix', config.s3_prefix or '(none)')]
    try:
        store = await artifact_store.for_project(server)
    except StoreError as error:
        return Overview(config.artifact_store, rows, error.message, await _overrides(check))
    if config.artifact_store == 's3':
        rows.append(('Keys', getattr(store, 'key_source', '')))
    health = await artifact_store.check(server) if check else artifact_store.health_of(store)
    return Overview(config.artifact_store, rows, health.error, await _overrides(check))


async def project_problem(user: User, project_id: int) -> str | None:
    """Try the store a project's artifacts go to now (after an admin gave it a bucket of its own): one sentence if
    it cannot be written to, else None."""
    user = await auth.refreshed(user)
    if not user.is_admin:
        raise Forbidden('Only admins choose where a project\'s artifacts go.')
    project = await Project.get_or_none(id=project_id)
    return (await artifact_store.check(project)).error if project else None


async def _overrides(check: bool) -> list[Override]:
    found = []
    for project in await Project.all().order_by('name', 'id'):
        kept = project.settings or {}
        if kept.get('artifact_bucket') or kept.get('artifact_prefix') is not None:
            error = (await artifact_store.check(project)).error if check and kept.get('artifact_bucket') else None
            found.append(Override(project.name, kept.get('artifact_bucket') or '(the server\'s)',
                                  artifact_store.prefix_of(project) or '(none)', error))
    return found
