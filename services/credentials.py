"""Provider credentials: who adds, sees, uses and removes them; encrypted at rest with Fernet under the server
secret; never shown beyond the last four characters.

A credential is the workspace's (no project: only admins add and remove it, every launcher may use it) or one
project's (its owners and admins add and remove it; its editors and owners launch with it). Everyone sees, masked, the
workspace's and those of the projects they have a role in; admins see all. A run records the credential it launched
with, and is polled, controlled and billed through it alone.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from tortoise.expressions import Q

import settings
from models import Credential, MemberRole, Membership, Project, Run, User
from models.runs import FINISHED
from providers import registry
from providers.base import Capabilities, ProviderError
from services import audit, auth, bounds, keys, projects, provider_health
from services.errors import Conflict, Forbidden, Invalid, NotFound

PROVIDERS = registry.names(needs_credential=True)  # the providers reached through a credential, read when used
WORKSPACE, PROJECT = 'workspace', 'project'
S3 = 's3'  # an S3 key pair for the artifact store, stored as "<access key id>:<secret access key>"
S3_KEY_ID_CHARS = (3, 128)
S3_SECRET_CHARS = (8, 256)


def providers() -> dict[str, Capabilities]:
    """The providers a credential can be added for, by name, with what they can do (labels for the form)."""
    return {name: caps for name in PROVIDERS if (caps := registry.capabilities(name)) is not None}


async def add(user: User, *, provider: str, label: str, secret: str, project_id: int | None = None) -> dict[str, Any]:
    """Store a credential for the workspace (admins) or for one project (its owners and admins)."""
    user = await auth.refreshed(user)
    project = await _scope_managed_by(user, project_id)
    if provider not in PROVIDERS and provider != S3:
        raise Invalid(f'Credentials are for: {", ".join([*PROVIDERS, S3])}.')
    label, secret = label.strip(), secret.strip()
    if not 1 <= len(label) <= 100:
        raise Invalid('Give the credential a label of 1 to 100 characters.')
    if provider == S3:
        secret = s3_pair(secret)
    elif len(secret) < 8:
        raise Invalid('That secret is too short to be an API key.')
    if not bounds.header_safe(secret):  # a character "improved" by a document it was pasted from, say
        raise Invalid('That API key has a character an API key cannot have (only printable ASCII, no spaces): '
                      f'copy it again from {_said(provider)}\'s console.')
    encrypted = _fernet().encrypt(secret.encode()).decode()
    credential = await Credential.create(provider=provider, label=label, owner=user, project=project,
                                         last4=secret[-4:], secret_encrypted=encrypted)  # an S3 pair's: its secret's
    # never the secret, nor its last four: the trail is exported and read by more people than the settings page
    await audit.record(user, 'credential.added', 'credential', credential.id, provider=provider, label=label,
                       scope=PROJECT if project else WORKSPACE, project_id=project.id if project else None)
    return shown(credential, project, can_manage=True)


async def listed(user: User) -> list[dict[str, Any]]:
    """The credentials `user` may see, masked, each with whether its last use worked."""
    user = await auth.refreshed(user)
    query = Credential.all()
    if not user.is_admin:
        visible = [p.id for p in await projects.visible_projects(user)]
        query = query.filter(Q(project_id__isnull=True) | Q(project_id__in=visible))
    found = await query.select_related('project').order_by('-created_at', '-id')
    managed = await _managed_project_ids(user)
    return [shown(c, c.project, can_manage=user.is_admin or c.project_id in managed) for c in found]


async def delete(user: User, credential_id: int) -> None:
    """Remove a credential, unless a run still needs it: its instance is polled, stopped and billed through it."""
    user = await auth.refreshed(user)
    credential = await _managed(user, credential_id)
    using = await Run.filter(_in_use(), credential_id=credential.id).order_by('id')
    if using:
        names = ', '.join(f'run {run.id} "{run.name}" ({run.status})' for run in using[:10])
        more = f' and {len(using) - 10} more' if len(using) > 10 else ''
        raise Conflict(f'The credential "{credential.label}" is in use by {names}{more}: stop them (and wait until '
                       'their instances are freed) before removing it.')
    await credential.delete()
    provider_health.forget(provider_health.Account(credential.provider, credential.id))
    await audit.record(user, 'credential.deleted', 'credential', credential_id, provider=credential.provider,
                       label=credential.label, scope=PROJECT if credential.project_id else WORKSPACE,
                       project_id=credential.project_id)


async def for_launch(project: Project, provider: str, credential_id: int | None = None) -> Credential:
    """The credential a launch into `project` uses (the launcher's right to launch there is checked by the caller):
    the one named, which must be the project's or the workspace's; else the project's own, else the workspace's.
    Several at that level: the launcher must name one."""
    usable = await Credential.filter(Q(project_id=project.id) | Q(project_id__isnull=True), provider=provider) \
        .order_by('id')
    if credential_id is not None:
        chosen = next((c for c in usable if c.id == credential_id), None)
        if chosen is None:
            raise Invalid(f'Credential {credential_id} cannot be used in "{project.name}": name one of the project\'s '
                          f'own {_said(provider)} credentials or a workspace one.')
        return chosen
    return _the_one([c for c in usable if c.project_id == project.id] or usable, provider, f'"{project.name}"')


async def usable(user: User, provider: str) -> list[Credential]:
    """The credentials `user` could launch with somewhere: the workspace's, and those of the projects they may launch
    in (every one for an admin)."""
    user = await auth.refreshed(user)
    query = Credential.filter(provider=provider)
    if not user.is_admin:
        query = query.filter(Q(project_id__isnull=True) | Q(project_id__in=await _launchable_project_ids(user)))
    return await query.select_related('project').order_by('id')


async def usable_named(user: User, provider: str, credential_id: int | None = None) -> Credential:
    """One of `usable` credentials: the one named, or the only one."""
    found = await usable(user, provider)
    if credential_id is None:
        return _the_one(found, provider, 'You')
    chosen = next((c for c in found if c.id == credential_id), None)
    if chosen is None:
        raise NotFound(f'No {_said(provider)} credential {credential_id} that you may use.')
    return chosen


async def scopes(user: User) -> dict[int | None, str]:
    """Where `user` may add credentials: the workspace (None; admins) and the projects they own, with names."""
    user = await auth.refreshed(user)
    managed = await _managed_project_ids(user)
    found: dict[int | None, str] = {None: 'the workspace'} if user.is_admin else {}
    for project in await projects.visible_projects(user):
        if user.is_admin or project.id in managed:
            found[project.id] = f'project {project.name}'
    return found


async def usable_in(user: User, project_id: int) -> list[dict[str, Any]]:
    """The credentials a launch into the project may name (masked): the project's own first, then the workspace's."""
    project = await projects.get_project(await auth.refreshed(user), project_id, MemberRole.EDITOR)
    found = await Credential.filter(Q(project_id=project.id) | Q(project_id__isnull=True)).order_by('id')
    found.sort(key=lambda c: c.project_id is None)
    return [shown(c, project if c.project_id else None, can_manage=False) for c in found]


async def key_for(credential_id: int) -> str | None:
    """The credential's secret, decrypted: for the server's own calls to its provider only."""
    credential = await Credential.get_or_none(id=credential_id)
    return decrypted(credential) if credential else None


async def check(user: User, credential_id: int) -> tuple[bool, str]:
    """Try a stored key against its provider: whether it works, and a sentence saying so."""
    user = await auth.refreshed(user)
    credential = await _managed(user, credential_id)
    if credential.provider == S3:  # the artifact store's keys: can they reach the bucket their scope uses?
        from services import artifact_store  # noqa: PLC0415  (it reads credentials through this module)
        return await artifact_store.check_keys(credential)
    kind = registry.kind(credential.provider)
    if kind is None:
        return False, f'This server no longer knows the provider "{credential.provider}".'
    try:  # a provider of its own, not the one runs share: this asks whether the key works now
        found = await kind.connect(settings.current, decrypted(credential)).products()
    except (ProviderError, Invalid) as error:
        return False, error.message
    return True, f'The key works: {len(found)} products visible.'


def s3_pair(text: str) -> str:
    """An S3 key pair as stored, "<access key id>:<secret access key>", checked (the message never repeats it)."""
    key_id, colon, secret = text.strip().partition(':')
    key_id, secret = key_id.strip(), secret.strip()
    if not colon or not key_id or not secret:
        raise Invalid('An S3 credential needs both its access key ID and its secret access key.')
    low, high = S3_KEY_ID_CHARS
    if not low <= len(key_id) <= high or ':' in key_id or not bounds.header_safe(key_id):
        raise Invalid(f'An S3 access key ID is {low} to {high} printable characters without spaces or ":" (like '
                      'AKIAIOSFODNN7EXAMPLE): copy it again from the bucket\'s console.')
    low, high = S3_SECRET_CHARS
    if not low <= len(secret) <= high or not bounds.header_safe(secret):
        raise Invalid(f'An S3 secret access key is {low} to {high} printable characters without spaces: copy it '
                      'again from the bucket\'s console.')
    return f'{key_id}:{secret}'


def shown(credential: Credential, project: Project | None, *, can_manage: bool) -> dict[str, Any]:
    """What anyone who may see the credential is shown: never more of the secret than its last four characters."""
    health = provider_health.of(provider_health.Account(credential.provider, credential.id))
    return {'id': credential.id, 'provider': credential.provider, 'label': credential.label,
            'secret': f'••••{credential.last4}', 'created_at': credential.created_at,
            'scope': PROJECT if project else WORKSPACE, 'project_id': project.id if project else None,
            'project_name': project.name if project else None,
            'scope_label': f'project {project.name}' if project else 'workspace', 'can_manage': can_manage,
            'ok': health.ok, 'error': health.error, 'failing_since': health.since}


# --- helpers -------------------------------------------------------------------------------------------------------

async def _scope_managed_by(user: User, project_id: int | None) -> Project | None:
    """The project whose credentials `user` may add and remove (None: the workspace's, for admins only)."""
    if project_id is None:
        if not user.is_admin:
            raise Forbidden('Only admins manage workspace credentials: add the key to a project you own instead.')
        return None
    return await projects.get_project(user, project_id, MemberRole.OWNER)


async def _managed(user: User, credential_id: int) -> Credential:
    """The credential, if `user` may manage it; one they may not even see is 'not found'."""
    credential = await Credential.get_or_none(id=credential_id)
    if credential is None:
        raise NotFound('No such credential.')
    try:
        await _scope_managed_by(user, credential.project_id)
    except Forbidden:
        if credential.project_id is None:  # the workspace's: everyone sees it
            raise
        raise Forbidden('Only the project\'s owners and admins manage its credentials.') from None
    except NotFound:
        raise NotFound('No such credential.') from None
    return credential


def _the_one(found: list[Credential], provider: str, who: str) -> Credential:
    label = _said(provider)
    if not found:
        raise Invalid(f'Add a {label} API key on the settings page first.')
    if len(found) > 1:
        names = ', '.join(f'{c.id} "{c.label}"' for c in found)
        raise Invalid(f'{who} may use several {label} credentials: name one with credential_id ({names}).')
    return found[0]


def _said(provider: str) -> str:
    """The provider's name in a sentence ('Novita')."""
    if provider == S3:
        return 'S3'
    found = registry.capabilities(provider)
    return found.said if found else provider


def _in_use() -> Q:
    """Runs that still need their credential: active ones, and ended ones whose instance is not freed yet."""
    unfinished = ~Q(status__in=list(FINISHED))
    unreleased = Q(job_ref__isnull=False) & (Q(provider_state__isnull=True) | ~Q(provider_state='released'))
    return unfinished | unreleased


async def _managed_project_ids(user: User) -> set[int]:
    owned = await Project.filter(owner_id=user.id).values_list('id', flat=True)
    joined = await Membership.filter(user_id=user.id, role=MemberRole.OWNER).values_list('project_id', flat=True)
    return {*owned, *joined}


async def _launchable_project_ids(user: User) -> list[int]:
    owned = await Project.filter(owner_id=user.id).values_list('id', flat=True)
    joined = await Membership.filter(user_id=user.id, role__in=[MemberRole.OWNER, MemberRole.EDITOR]) \
        .values_list('project_id', flat=True)
    return [*owned, *joined]


def decrypted(credential: Credential) -> str:
    try:
        return _fernet().decrypt(credential.secret_encrypted.encode()).decode()
    except InvalidToken:
        raise Invalid(f'The credential "{credential.label}" cannot be decrypted with this server\'s key (has '
                      'TRAINBOARD_SECRET_KEY changed?): add it again.') from None


def _fernet() -> Fernet:
    return keys.fernet('credentials')
