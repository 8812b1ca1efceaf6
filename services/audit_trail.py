"""Reading the audit trail (services/audit.py writes it): who may read which entries, the filters, and each entry as
people read it (a label for its action, its object and project by name, its details in a sentence), on screen or as
CSV.

Admins read every entry. A project owner (the project's owner, or a member with the owner role) reads the entries of
the projects they own, and nothing else: not workspace entries (users, workspace credentials, orphan instances), not
other projects'. Anyone else is refused.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from models import AuditEntry, MemberRole, Membership, Project, Run, User
from services import auth, bounds, projects
from services.audit import label, summary
from services.errors import Forbidden, Invalid, NotFound

LIMIT_MAX = 500
EXPORT_BATCH = 500
SYSTEM = 'system'  # the actor filter for what nobody did by hand: limits, the budget, the poller
CSV_HEADER = ('id', 'when_utc', 'actor', 'action', 'label', 'object_type', 'object_id', 'object', 'project_id',
              'project', 'details')
_ACTION = re.compile(r'[a-z_]+(\.[a-z_]*)*')
_FORMULA_STARTS = ('=', '+', '-', '@', '\t', '\r')  # what a spreadsheet would run as a formula


@dataclass(frozen=True, slots=True)
class AuditView:
    """One entry as people read it."""
    id: int
    at: datetime  # UTC
    actor_id: int | None
    actor: str | None  # the email of who did it; None: the system (a limit, the budget, the poller)
    action: str  # 'run.stopping'
    label: str  # 'Stop requested (budget)'
    object_type: str
    object_id: str
    object: str  # 'run #12 "bert"'
    project_id: int | None
    project: str | None  # its name; None when the entry concerns none, or the project is gone
    details: str  # 'Stopped by the project budget at $1.00. · was running'

    @property
    def who(self) -> str:
        return self.actor or SYSTEM


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[AuditView]
    next_before: int | None  # the `before` of the next (older) page; None: this is the last


@dataclass(frozen=True, slots=True)
class _Query:
    """Checked filters, and the entries the reader may see."""
    base: QuerySet[AuditEntry]
    before: int | None
    limit: int


async def may_read(user: User) -> bool:
    """Whether `user` may open the audit trail at all: admins, and the owners of at least one project."""
    user = await auth.refreshed(user)
    return user.is_admin or bool(await _owned_project_ids(user))


async def readable_projects(user: User) -> dict[int, str]:
    """The projects whose entries `user` may read, by id, with their names (for the page's filter)."""
    user = await auth.refreshed(user)
    query = Project.all() if user.is_admin else Project.filter(id__in=await _owned_project_ids(user))
    return dict(await query.order_by('name', 'id').values_list('id', 'name'))


async def page(user: User, *, actor: str | int | None = None, project_id: int | None = None,
               action: str | None = None, since: datetime | str | None = None, until: datetime | str | None = None,
               before: int | None = None, limit: int = 100) -> AuditPage:
    """The entries `user` may read that match the filters, newest first, `limit` of them from `before` (an entry's
    id) on; and where the next page starts. `actor` is an id, an email or 'system'; `action` an action or a prefix
    ending in a dot ('run.'); `since` (inclusive) and `until` (exclusive; a date alone: to the end of that day) ISO
    8601 or datetimes, UTC unless they say otherwise. Forbidden for who may not read the trail; Invalid naming the
    filter that is wrong; NotFound for a project the user does not know."""
    query = await _checked(user, actor=actor, project_id=project_id, action=action, since=since, until=until,
                           before=before, limit=limit)
    return await _read(query.base, query.before, query.limit)


async def entries(user: User, **filters: Any) -> list[AuditView]:
    """`page`'s entries alone."""
    return (await page(user, **filters)).items


async def csv_export(user: User, **filters: Any) -> AsyncIterator[str]:
    """Every entry matching the filters (no limit; `before` is where it starts) as CSV lines, the header first, in
    batches as they are sent. The caller's right and the filters are checked here, before the first line: a refusal
    is raised now, not halfway through a download. Spreadsheet formulas in any cell are neutralised."""
    filters.pop('limit', None)
    query = await _checked(user, **filters, limit=EXPORT_BATCH)

    async def lines() -> AsyncIterator[str]:
        yield _csv_line(CSV_HEADER)
        before = query.before
        while True:
            found = await _read(query.base, before, EXPORT_BATCH)
            for view in found.items:
                yield _csv_line(csv_row(view))
            if found.next_before is None:
                return
            before = found.next_before
    return lines()


def csv_row(view: AuditView) -> tuple[str, ...]:
    return (str(view.id), view.at.astimezone(UTC).isoformat(timespec='seconds'), view.who, view.action, view.label,
            view.object_type, view.object_id, view.object, '' if view.project_id is None else str(view.project_id),
            view.project or '', view.details)


def neutralised(cell: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula (=, +, -, @, a tab or a carriage return)
    gets a leading apostrophe (OWASP's advice on CSV injection)."""
    return f"'{cell}" if cell.startswith(_FORMULA_STARTS) else cell


async def latest_id(user: User) -> int | None:
    """The newest entry `user` may read, whatever the filters: a cheap check whether a page must read again."""
    user = await auth.refreshed(user)
    query = AuditEntry.all() if user.is_admin else AuditEntry.filter(project_id__in=await _owned_project_ids(user))
    return await query.order_by('-id').first().values_list('id', flat=True)


# --- helpers -------------------------------------------------------------------------------------------------------

async def _checked(user: User, *, actor: str | int | None = None, project_id: int | None = None,
                   action: str | None = None, since: datetime | str | None = None,
                   until: datetime | str | None = None, before: int | None = None, limit: int = 100) -> _Query:
    user = await auth.refreshed(user)
    query = AuditEntry.all()
    if not user.is_admin:
        owned = await _owned_project_ids(user)
        if not owned:
            raise Forbidden('Only admins and project owners can read the audit trail; you own no project.')
        query = query.filter(project_id__in=sorted(owned))
    if actor is not None and str(actor).strip():
        query = query.filter(_actor_filter(actor))
    if project_id is not None:
        await _check_project(user, _int('project_id', project_id, bounds.INT_MAX))
        query = query.filter(project_id=int(project_id))
    if action is not None and action.strip():
        query = query.filter(_action_filter(action.strip()))
    start, end = _when('since', since), _when('until', until, end_of_day=True)
    if start is not None and end is not None and end <= start:
        raise Invalid('until: must be later than since.')
    if start is not None:
        query = query.filter(created_at__gte=start)
    if end is not None:
        query = query.filter(created_at__lt=end)
    checked_before = _int('before', before, bounds.BIGINT_MAX) if before is not None else None
    return _Query(base=query, before=checked_before, limit=_int('limit', limit, LIMIT_MAX))


async def _read(base: QuerySet[AuditEntry], before: int | None, limit: int) -> AuditPage:
    query = base.filter(id__lt=before) if before is not None else base
    found = await query.order_by('-id').limit(limit + 1).select_related('actor')
    more = len(found) > limit
    found = found[:limit]
    names = await _names(found)
    items = [_view(entry, names) for entry in found]
    return AuditPage(items=items, next_before=items[-1].id if more and items else None)


@dataclass(frozen=True, slots=True)
class _Names:
    projects: dict[int, str]
    runs: dict[int, str]
    users: dict[int, str]


async def _names(found: list[AuditEntry]) -> _Names:
    """The names an entry is read with, for a whole page in three queries."""
    def ids(object_type: str) -> set[int]:
        return {int(e.object_id) for e in found
                if e.object_type == object_type and _number(e.object_id) and int(e.object_id) <= bounds.INT_MAX}
    project_ids = {e.project_id for e in found if e.project_id is not None} | ids('project')
    return _Names(
        projects=dict(await Project.filter(id__in=project_ids).values_list('id', 'name')) if project_ids else {},
        runs=dict(await Run.filter(id__in=ids('run')).values_list('id', 'name')) if ids('run') else {},
        users=dict(await User.filter(id__in=ids('user')).values_list('id', 'email')) if ids('user') else {})


def _view(entry: AuditEntry, names: _Names) -> AuditView:
    details = entry.details if isinstance(entry.details, dict) else {'details': entry.details}
    return AuditView(id=entry.id, at=entry.created_at.astimezone(UTC), actor_id=entry.actor_id,
                     actor=entry.actor.email if entry.actor else None, action=entry.action,
                     label=label(entry.action, details), object_type=entry.object_type, object_id=entry.object_id,
                     object=_object(entry, details, names), project_id=entry.project_id,
                     project=names.projects.get(entry.project_id) if entry.project_id is not None else None,
                     details=summary(entry.action, details))


def _object(entry: AuditEntry, details: dict[str, Any], names: _Names) -> str:
    """The object in words: 'run #12 "bert"', 'project #3 "vision"', 'credential #2 "team"'."""
    key = int(entry.object_id) if _number(entry.object_id) and len(entry.object_id) < 19 else None
    kind = entry.object_type.replace('_', ' ')
    name = {'run': names.runs, 'project': names.projects, 'user': names.users}.get(entry.object_type, {}).get(key)
    if name is None:  # gone since, or known only by what the entry kept
        name = details.get('name') or details.get('label') or details.get('email')
    said = f'{kind} #{entry.object_id}' if key is not None else f'{kind} {entry.object_id}'.strip()
    return f'{said} "{name}"' if name else said


def _actor_filter(actor: str | int) -> Q:
    text = str(actor).strip()
    if text.lower() == SYSTEM:
        return Q(actor_id__isnull=True)
    if _number(text):
        return Q(actor_id=_int('actor', text, bounds.INT_MAX))
    if problem := bounds.text_problem(text):
        raise Invalid(f'actor {problem}.')
    if len(text) > auth.MAX_EMAIL_LENGTH or '@' not in text:
        raise Invalid('actor: give a user\'s id, their email, or "system".')
    return Q(actor__email=auth.normalize_email(text))  # someone unknown did nothing: no entries, not an error


def _action_filter(action: str) -> Q:
    if len(action) > 64 or not _ACTION.fullmatch(action):
        raise Invalid('action: give an action such as "run.stopping", or a prefix ending in a dot such as "run.".')
    return Q(action__startswith=action) if action.endswith('.') else Q(action=action)


async def _check_project(user: User, project_id: int) -> None:
    """A project the reader may filter by: any an admin can name (a deleted one's trail too), one a member owns."""
    if user.is_admin:
        if not await Project.exists(id=project_id) and not await AuditEntry.exists(project_id=project_id):
            raise NotFound(f'project_id: project {project_id} not found.')
        return
    await projects.get_project(user, project_id, MemberRole.OWNER)  # NotFound, or Forbidden for an editor's


def _when(field: str, value: datetime | str | None, *, end_of_day: bool = False) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, datetime):
            moment = value
        else:
            text = value.strip()
            if len(text) > 64:
                raise ValueError(text)
            moment = datetime.fromisoformat(text)
            if end_of_day and len(text) == 10:  # a date alone: up to the end of that day
                moment += timedelta(days=1)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # not a date; or one at the end of the calendar, past it in UTC
        raise Invalid(f'{field}: not an ISO 8601 date or time from year 1 to 9999; write it like 2026-01-31 or '
                      '2026-01-31T09:30:00Z.') from None


def _int(field: str, value: Any, highest: int) -> int:
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise Invalid(f'{field}: must be a whole number.') from None
    if not 1 <= number <= highest:
        raise Invalid(f'{field}: must be from 1 to {highest}.')
    return number


async def _owned_project_ids(user: User) -> set[int]:
    owned = await Project.filter(owner_id=user.id).values_list('id', flat=True)
    joined = await Membership.filter(user_id=user.id, role=MemberRole.OWNER).values_list('project_id', flat=True)
    return {*owned, *joined}


def _number(text: str) -> bool:
    """ASCII digits only: str.isdigit() takes '²', which int() refuses."""
    return text.isascii() and text.isdigit()


def _csv_line(cells: tuple[str, ...]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([neutralised(cell) for cell in cells])
    return out.getvalue()

