"""Projects and their members: validation, access rules, and a change on the live hub after every commit."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from models import MemberRole, Membership, Project, ProjectStatus, Run, RunStatus, User
from services import audit, auth, bounds, budget, hub, metric_store
from services.errors import Conflict, Forbidden, Invalid, NeedsConfirmation, NotFound

NAME_MAX = 100
DESCRIPTION_MAX = 5000
BUDGET_ALERTS_DEFAULT = (50, 80, 100)  # percents of the budget at which its people hear (budget.threshold)
BUDGET_ALERTS_MAX = 20
BUDGET_ALERT_RANGE = (1, 1000)  # a percent past 100: the overspend a stop's wind-down may still add, or more
# owners' settings kept in Project.settings, changed through update_project; a None value puts back the default
OWNER_SETTINGS = ('budget_alerts', 'stall_grace_s')
# admins' settings, the same way: where the project's artifacts go (an owner pointing the server's keys at another
# bucket is a risk); None puts back the server's TRAINBOARD_S3_BUCKET, TRAINBOARD_S3_PREFIX
ADMIN_SETTINGS = ('artifact_bucket', 'artifact_prefix')
ARTIFACT_PREFIX_MAX = 200
_BUCKET = re.compile(r'[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]')  # S3's rule for bucket names (3 to 63 characters)
_RANK = {MemberRole.VIEWER: 0, MemberRole.EDITOR: 1, MemberRole.OWNER: 2}


@dataclass(frozen=True, slots=True)
class MemberView:
    """Someone with a place in a project: its owner (who cannot be removed) or a member with a role."""
    user_id: int
    email: str
    name: str
    role: MemberRole
    is_project_owner: bool


async def visible_projects(user: User) -> list[Project]:
    """Projects the user owns or is a member of (every project for an admin), newest first."""
    user = await auth.refreshed(user)
    query = Project.all() if user.is_admin else Project.filter(id__in=await _member_project_ids(user))
    return await query.order_by('-created_at', '-id')


async def get_project(user: User, project_id: int, need: MemberRole = MemberRole.VIEWER) -> Project:
    """The project if the user has at least `need` on it. A project the user may not see is 'not found'."""
    user = await auth.refreshed(user)
    # a page's URL id may be any integer; PostgreSQL refuses one its column cannot hold
    project = await Project.get_or_none(id=project_id) if 1 <= project_id <= bounds.INT_MAX else None
    role = await role_of(user, project) if project else None
    if project is None or role is None:
        raise NotFound(f'Project {project_id} not found.')
    if _RANK[role] < _RANK[need]:
        article = 'an' if role.value[0] in 'aeiou' else 'a'
        raise Forbidden(f'You need the {need.value} role on "{project.name}" for that; you are {article} {role.value}.')
    return project


async def role_of(user: User, project: Project) -> MemberRole | None:
    if user.is_admin or project.owner_id == user.id:
        return MemberRole.OWNER
    membership = await Membership.get_or_none(user_id=user.id, project_id=project.id)
    return membership.role if membership else None


async def create_project(user: User, *, name: str, description: str = '', budget_usd: float = 0.0,
                         status: str = ProjectStatus.ACTIVE.value, budget_unlimited: bool = False) -> dict[str, Any]:
    """Create a project owned by `user`; returns its snapshot, as published to every tab."""
    user = await auth.refreshed(user)
    if budget_unlimited and not user.is_admin:
        raise Forbidden('Only an admin can mark a project unlimited (able to launch paid runs with no budget).')
    fields = _validated(name=name, description=description, budget_usd=budget_usd, status=status)
    fields['budget_unlimited'] = budget_unlimited
    await _check_unique_name(user.id, fields['name'])
    async with in_transaction():
        project = await Project.create(owner=user, **fields)
        await audit.record(user, 'project.created', 'project', project.id, project_id=project.id, name=project.name,
                           budget_usd=str(project.budget_usd))
    return await _publish(project, 'created')


async def update_project(user: User, project_id: int, *, confirm: bool = False, **changes: Any) -> dict[str, Any]:
    """Apply the changes a member may make: editors the name, description and status; owners the budget, the
    percents of it at which people hear (`budget_alerts`) and how long a stalled run may go on after its people hear
    (`stall_grace_s`; None for either puts back its default); admins
    whether a project with no budget may launch paid runs. Lowering the budget so far that runs must stop raises
    NeedsConfirmation naming them, unless `confirm`. Returns the project's snapshot, as published to every tab."""
    unlimited = changes.pop('budget_unlimited', None)
    owner_settings = {name: _setting(name, changes.pop(name)) for name in OWNER_SETTINGS if name in changes}
    admin_settings = {name: _artifact_setting(name, changes.pop(name)) for name in ADMIN_SETTINGS if name in changes}
    fields = _validated(**changes)
    project = await get_project(user, project_id, MemberRole.EDITOR)
    user = await auth.refreshed(user)
    kept, shown = project.settings or {}, _settings_view(project)
    owner_settings = {name: value for name, value in owner_settings.items()  # the edit form sends them as they were
                      if (name in kept if value is None else value != shown[name])}
    if owner_settings:
        if await role_of(user, project) != MemberRole.OWNER:
            raise Forbidden(f'Only the owners of "{project.name}" and admins can change its budget alerts and stall '
                            'grace period.')
        fields['settings'] = {name: value for name, value in {**kept, **owner_settings}.items() if value is not None}
    admin_settings = {name: value for name, value in admin_settings.items()  # likewise sent as they were
                      if (name in kept if value is None else value != kept.get(name))}
    if admin_settings:
        if not user.is_admin:
            raise Forbidden('Only admins choose where a project\'s artifacts go (its bucket and key prefix): the '
                            'server\'s keys would write there.')
        base = fields.get('settings', kept)
        fields['settings'] = {name: value for name, value in {**base, **admin_settings}.items() if value is not None}
    if fields.get('budget_usd', project.budget_usd) == project.budget_usd:
        fields.pop('budget_usd', None)  # the edit form sends the budget as it was
    elif await role_of(user, project) != MemberRole.OWNER:
        raise Forbidden(f'Only the owners of "{project.name}" and admins can change its budget.')
    if unlimited is not None:
        if not user.is_admin:
            raise Forbidden('Only an admin can mark a project unlimited (able to launch paid runs with no budget).')
        fields['budget_unlimited'] = bool(unlimited)
    if 'name' in fields and fields['name'] != project.name:
        await _check_unique_name(project.owner_id, fields['name'], exclude=project.id)
    if 'budget_usd' in fields:
        budget.check_budget_change(user, project, fields['budget_usd'])
        if not confirm:
            await _confirm_lowered_budget(project, fields['budget_usd'])
    if fields:
        budget_was = _budget_terms(project)
        project.update_from_dict(fields)
        async with in_transaction():
            # only what changed: the poller adds to used_usd meanwhile, and saving the whole row would undo that
            await project.save(update_fields=[*fields, 'updated_at'])
            await audit.record(user, 'project.updated', 'project', project.id, project_id=project.id,
                               **{k: str(v) for k, v in fields.items()})
            if admin_settings:  # where the artifacts go, findable on its own
                await audit.record(user, 'project.artifact_store_changed', 'project', project.id,
                                   project_id=project.id, **{f'old_{name}': kept.get(name) for name in admin_settings},
                                   **{f'new_{name}': value for name, value in admin_settings.items()})
            if (budget_now := _budget_terms(project)) != budget_was:  # the money decision, findable on its own
                await audit.record(user, 'project.budget_changed', 'project', project.id, project_id=project.id,
                                   old_budget_usd=budget_was[0], new_budget_usd=budget_now[0],
                                   old_unlimited=budget_was[1], new_unlimited=budget_now[1])
    return await _publish(project, 'updated')


async def publish_updated(project_id: int) -> None:
    """Tell every tab that something a project's summary shows (its runs, its spend) has changed."""
    project = await Project.get_or_none(id=project_id)
    if project is not None:
        await _publish(project, 'updated')


async def delete_project(user: User, project_id: int) -> None:
    project = await get_project(user, project_id, MemberRole.OWNER)
    # its runs' rows (and a project credential) go with it: a job still running would bill on with no run to stop it
    # a queued run is being launched (or about to be): its job would appear with no run to stop it
    unreleased = Q(provider_state__isnull=True) | Q(provider_state__not='released')
    with_jobs = await Run.filter(Q(job_ref__isnull=False) & unreleased | Q(status=RunStatus.QUEUED),
                                 project_id=project.id).exclude(provider='external') \
        .order_by('id').values_list('id', 'name')
    if with_jobs:
        names = ', '.join(f'{run_id} "{name}"' for run_id, name in with_jobs[:10])
        raise Conflict(f'"{project.name}" still has jobs on their provider (run {names}): cancel them, and delete the '
                       'project once they are gone.')
    from services import artifacts  # artifacts read runs, which read projects
    stored = await artifacts.stored_of(project)  # before its rows go, and its own S3 keys with them
    async with in_transaction() as conn:
        await metric_store.delete_of_project(conn, project.id)
        await project.delete(using_db=conn)
        await audit.record(user, 'project.deleted', 'project', project_id, project_id=project_id, name=project.name)
    await hub.publish(hub.Change(kind='project', action='deleted', id=project_id, project_id=project_id))
    await artifacts.remove(stored)


async def members(user: User, project_id: int) -> list[MemberView]:
    """The project's owner, then its members in the order they joined; for anyone who may see the project."""
    project = await get_project(user, project_id)
    owner = await project.owner
    found = [MemberView(user_id=owner.id, email=owner.email, name=owner.name, role=MemberRole.OWNER,
                        is_project_owner=True)]
    for membership in await Membership.filter(project_id=project.id).select_related('user').order_by('id'):
        found.append(MemberView(user_id=membership.user.id, email=membership.user.email, name=membership.user.name,
                                role=MemberRole(membership.role), is_project_owner=False))
    return found


async def add_member(user: User, project_id: int, email: str, role: str) -> MemberView:
    """Give someone a role on the project (or change theirs); owners and admins only."""
    project = await get_project(user, project_id, MemberRole.OWNER)
    member = await User.get_or_none(email=email.strip().lower())
    if member is None:
        raise Invalid(f'No user has the email {email.strip()}; an admin can add them first.')
    if member.id == project.owner_id:
        raise Invalid(f'{member.email} owns this project already.')
    role_ = _role(role)
    async with in_transaction():
        existing = await Membership.select_for_update().get_or_none(user_id=member.id, project_id=project.id)
        if existing is None:
            await Membership.create(user=member, project=project, role=role_)
            await audit.record(user, 'member.added', 'project', project.id, project_id=project.id, user_id=member.id,
                               email=member.email, role=role_.value)
        elif existing.role != role_:
            old_role = MemberRole(existing.role)
            existing.role = role_
            await existing.save(update_fields=['role'])
            await audit.record(user, 'member.role_changed', 'project', project.id, project_id=project.id,
                               user_id=member.id, email=member.email, old_role=old_role.value, new_role=role_.value)
    await _publish(project, 'updated')
    return MemberView(user_id=member.id, email=member.email, name=member.name, role=role_,
                      is_project_owner=False)


async def remove_member(user: User, project_id: int, member_id: int) -> None:
    project = await get_project(user, project_id, MemberRole.OWNER)
    membership = await Membership.get_or_none(project_id=project.id, user_id=member_id).select_related('user') \
        if 1 <= member_id <= bounds.INT_MAX else None
    if membership is None or not await Membership.filter(id=membership.id).delete():
        raise NotFound('That user is not a member of this project.')
    await audit.record(user, 'member.removed', 'project', project.id, project_id=project.id, user_id=member_id,
                       email=membership.user.email, role=MemberRole(membership.role).value)
    await _publish(project, 'updated')


async def run_counts(project_ids: list[int]) -> dict[int, dict[str, int]]:
    """{project id: {run status: count}} in one grouped query."""
    counts: dict[int, dict[str, int]] = {pid: {} for pid in project_ids}
    if not project_ids:
        return counts
    rows = await Run.filter(project_id__in=project_ids).annotate(n=Count('id')) \
        .group_by('project_id', 'status').values('project_id', 'status', 'n')
    for row in rows:
        counts[row['project_id']][str(row['status'])] = row['n']
    return counts


async def snapshot(project: Project) -> dict[str, Any]:
    """What a tab or the API needs to show a project, as plain JSON-able values."""
    return (await snapshots([project]))[0]


async def snapshots(found: list[Project]) -> list[dict[str, Any]]:
    """Snapshots of many projects in three queries, whatever their number."""
    ids = [project.id for project in found]
    counts = await run_counts(ids)
    members: dict[int, list[int]] = {pid: [] for pid in ids}
    for project_id, user_id in await Membership.filter(project_id__in=ids).values_list('project_id', 'user_id'):
        members[project_id].append(user_id)
    return [{
        'id': project.id,
        'name': project.name,
        'description': project.description,
        'status': ProjectStatus(project.status).value,
        'budget_usd': float(project.budget_usd),
        'budget_unlimited': bool(project.budget_unlimited),
        'used_usd': float(project.used_usd),
        **_settings_view(project),
        'owner_id': project.owner_id,
        'member_ids': [project.owner_id, *members[project.id]],
        'run_counts': counts[project.id],
        'created_at': project.created_at.isoformat(),
        'updated_at': project.updated_at.isoformat(),
    } for project in found]


# --- helpers -------------------------------------------------------------------------------------------------------

def _budget_terms(project: Project) -> tuple[str, bool]:
    """What a budget change changes: the dollars (as stored, 4 places) and whether paid runs may launch without."""
    return f'{Decimal(project.budget_usd):.4f}', bool(project.budget_unlimited)


async def _publish(project: Project, action: str) -> dict[str, Any]:
    data = await snapshot(project)
    await hub.publish(hub.Change(kind='project', action=action, id=project.id, project_id=project.id, data=data))
    return data


async def _confirm_lowered_budget(project: Project, new_budget: Decimal) -> None:
    """A budget lowered below what the project has spent, or so far that its billing runs must stop, is a decision
    to make knowingly: say which runs it stops."""
    if new_budget <= 0 or new_budget >= project.budget_usd:
        return
    billing = await Run.filter(project_id=project.id, status__in=budget.BURNING, price_per_hour__gt=0) \
        .order_by('id').values_list('id', 'name', 'price_per_hour')
    lowered = Project(name=project.name, budget_usd=new_budget, used_usd=project.used_usd)
    if not budget.would_overspend(lowered, sum(float(price) for _, _, price in billing)):
        return
    spent = f'${float(project.used_usd):,.2f} used'
    if not billing:
        raise NeedsConfirmation(f'Lower the budget of "{project.name}" to ${float(new_budget):,.2f}, with {spent}? '
                                'It launches no more paid runs until the budget is raised.')
    names = ', '.join(f'"{name}" (#{run_id})' for run_id, name, _ in billing[:10])
    more = f' and {len(billing) - 10} more' if len(billing) > 10 else ''
    raise NeedsConfirmation(f'Lower the budget of "{project.name}" to ${float(new_budget):,.2f}, with {spent}? '
                            f'It stops {len(billing)} billing run{"s" if len(billing) != 1 else ""}: {names}{more}.')


async def _member_project_ids(user: User) -> list[int]:
    owned = await Project.filter(owner_id=user.id).values_list('id', flat=True)
    joined = await Membership.filter(user_id=user.id).values_list('project_id', flat=True)
    return [*owned, *joined]


async def _check_unique_name(owner_id: int, name: str, exclude: int | None = None) -> None:
    query = Project.filter(owner_id=owner_id, name=name)
    if exclude is not None:
        query = query.exclude(id=exclude)
    if await query.exists():
        raise Invalid(f'You already have a project named "{name}"; pick another name.')


def _validated(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if changes.get('name') is not None:
        name = str(changes['name']).strip()
        if not 1 <= len(name) <= NAME_MAX:
            raise Invalid(f'The name needs 1 to {NAME_MAX} characters.')
        if problem := bounds.text_problem(name):
            raise Invalid(f'The name {problem}.')
        fields['name'] = name
    if changes.get('description') is not None:
        description = str(changes['description'])
        if len(description) > DESCRIPTION_MAX:
            raise Invalid(f'The description may have at most {DESCRIPTION_MAX} characters.')
        if problem := bounds.text_problem(description):
            raise Invalid(f'The description {problem}.')
        fields['description'] = description
    if changes.get('budget_usd') is not None:
        try:
            budget = float(changes['budget_usd'])
        except (TypeError, ValueError):
            raise Invalid('The budget must be a number of dollars.') from None
        if not math.isfinite(budget) or not 0 <= budget <= bounds.USD_MAX:
            raise Invalid(f'The budget must be a number of dollars from 0 to {bounds.USD_MAX:,}.')
        fields['budget_usd'] = Decimal(str(round(budget, 4)))
    if changes.get('status') is not None:
        try:
            fields['status'] = ProjectStatus(changes['status'])
        except ValueError:
            raise Invalid('The status must be "active" or "archived".') from None
    return fields


def budget_alerts(project: Project) -> list[int]:
    """The percents of its budget at which a project's people hear that it passed them."""
    chosen = (project.settings or {}).get('budget_alerts')
    return list(BUDGET_ALERTS_DEFAULT) if chosen is None else list(chosen)


def stall_grace_s(project: Project) -> int | None:
    """How long after a stall is notified its run is stopped, for runs that do not say (None: their stall timeout
    again)."""
    return (project.settings or {}).get('stall_grace_s')


def _settings_view(project: Project) -> dict[str, Any]:
    kept = project.settings or {}
    return {'budget_alerts': budget_alerts(project), 'stall_grace_s': stall_grace_s(project),
            'artifact_bucket': kept.get('artifact_bucket'), 'artifact_prefix': kept.get('artifact_prefix')}


def _artifact_setting(name: str, value: Any) -> str | None:
    """An admin's artifact setting checked (None: back to the server's)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f'{name} must be text, or null for the server\'s.')
    value = value.strip()
    if name == 'artifact_bucket':
        if not _BUCKET.fullmatch(value) or '..' in value:
            raise Invalid(f'"{value[:70]}" is not an S3 bucket name: 3 to 63 lowercase letters, digits, dots and '
                          'hyphens, beginning and ending with a letter or digit.')
        return value
    value = value.strip('/')
    if len(value) > ARTIFACT_PREFIX_MAX:
        raise Invalid(f'An artifact key prefix is at most {ARTIFACT_PREFIX_MAX} characters.')
    parts = value.split('/') if value else []
    if '\\' in value or any(part in {'', '.', '..'} for part in parts) \
            or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise Invalid('An artifact key prefix is words joined by "/", without "..", "//", "\\" or control '
                      'characters (empty: no prefix).')
    return value


def _setting(name: str, value: Any) -> Any:
    """An owner's setting checked (None: back to the default)."""
    if value is None:
        return None
    if name == 'stall_grace_s':
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or not 1 <= value <= bounds.INT_MAX:
            raise Invalid(f'stall_grace_s must be a number of seconds from 1 to {bounds.INT_MAX:,}, or null for the '
                          'stall timeout of each run again.')
        return round(value)
    low, high = BUDGET_ALERT_RANGE
    if not isinstance(value, list | tuple) or len(value) > BUDGET_ALERTS_MAX \
            or not all(isinstance(p, int) and not isinstance(p, bool) and low <= p <= high for p in value):
        raise Invalid(f'budget_alerts must be a list of at most {BUDGET_ALERTS_MAX} whole percents from {low} to '
                      f'{high} (empty: no budget alerts).')
    return sorted(set(value))


def _role(role: str) -> MemberRole:
    try:
        return MemberRole(role)
    except ValueError:
        raise Invalid('The role must be owner, editor or viewer.') from None

