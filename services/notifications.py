"""Events people hear of: stored once, copied to the bell of the people concerned, and queued for email, Slack and
webhooks in the outbox, all in one transaction (the leader sends the outbox: services/background/outbox.py).

Who hears of an event, and where, is each person's choice per kind of event and channel; with no choice made, their
relation to it decides (`default_channels`, the one source of the defaults): a project's owners hear of everything
about money and failures by email too, the person who launched a run of its end, and the other members see it in the
app. Only what a person changed is stored, so a default shown for one relation is never saved as a choice for all.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

import settings
from models import (
    Delivery,
    Event,
    MemberRole,
    Membership,
    Notification,
    NotificationPreference,
    NotificationTarget,
    Project,
    Role,
    Run,
    User,
)
from services import hub
from services.errors import Invalid

log = logging.getLogger(__name__)

# every kind of event, with what a person reads for it in their settings; the keys are a contract (API, webhooks)
KINDS: dict[str, str] = {
    'run.succeeded': 'A run succeeded',
    'run.failed': 'A run failed',
    'run.stopped': 'A run was stopped (by someone, or by a limit or the budget)',
    'run.stalled': 'A run stopped reporting (stall timeout)',
    'run.spot_reclaim': 'A spot instance is about to be reclaimed',
    'budget.threshold': "A project's spend passed a budget threshold",
    'budget.forecast': "A project's active runs will use up its budget within the hour",
    'instance.orphan_terminated': 'An instance no run owns was terminated',
    'credential.failing': 'A cloud credential is failing',
}
MONEY = frozenset({'budget.threshold', 'budget.forecast', 'run.stopped', 'instance.orphan_terminated'})
FAILURES = frozenset({'run.failed', 'run.stalled', 'run.spot_reclaim', 'credential.failing'})
PAGE_MAX = 200


class Relation(StrEnum):
    """How a person is concerned by an event; the strongest decides their default."""
    OWNER = 'owner'  # owns the project (or is an admin, for events of no project)
    LAUNCHER = 'launcher'  # launched the run
    MEMBER = 'member'  # editor or viewer of the project


_STRENGTH = {Relation.OWNER: 2, Relation.LAUNCHER: 1, Relation.MEMBER: 0}


@dataclass(frozen=True, slots=True)
class Channels:
    in_app: bool | None  # a choice: None leaves the channel as it is (set_preferences); a default is always a bool
    email: bool | None


def default_channels(kind: str, relation: Relation) -> Channels:
    """What reaches a person who has not chosen, by how the event concerns them."""
    if relation == Relation.OWNER:
        return Channels(in_app=True, email=kind in MONEY | FAILURES)
    if relation == Relation.LAUNCHER:
        return Channels(in_app=True, email=kind.startswith('run.'))
    return Channels(in_app=True, email=False)


@dataclass(frozen=True, slots=True)
class NotificationView:
    id: int
    kind: str
    message: str
    project_id: int | None
    run_id: int | None
    read: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PreferenceView:
    kind: str
    label: str
    in_app: bool | None  # None: by default it depends on how an event concerns the person; `note` says how
    email: bool | None
    note: str = ''


RELATION_SAID = {Relation.OWNER: 'projects you own', Relation.LAUNCHER: 'runs you launch',
                 Relation.MEMBER: "other people's runs"}


# --- emitting ----------------------------------------------------------------------------------------------------

async def emit(kind: str, *, key: str, message: str, project_id: int | None = None, run_id: int | None = None,
               details: dict[str, Any] | None = None, also: frozenset[int] = frozenset(),
               using_db: BaseDBAsyncClient | None = None, announced: bool = True) -> Event | None:
    """Store the event `key` names, once, with a copy for each person concerned (and `also`, as owners) and the
    outbox rows of its email and project targets; None when it is stored already. Inside the caller's transaction
    (`using_db`), or with `announced=False`, the caller announces it after its commit (`announce`); else this does."""
    if kind not in KINDS:
        raise ValueError(f'unknown event kind {kind!r}')
    if await Event.filter(key=key).using_db(using_db).exists():
        return None
    try:
        event = await Event.create(kind=kind, key=key, message=message, project_id=project_id, run_id=run_id,
                                   details=details or {}, using_db=using_db)
    except IntegrityError:  # another process stored it first (outside a transaction only: the check above covers it)
        return None
    concerned = await _concerned(project_id, run_id, also, using_db)
    choices = await _choices(kind, concerned, using_db)
    await Notification.bulk_create([Notification(user_id=user_id, event_id=event.id, kind=kind, message=message,
                                                 project_id=project_id, run_id=run_id)
                                    for user_id, chosen in choices.items() if chosen.in_app], using_db=using_db)
    outbox = [Delivery(event_id=event.id, channel='email', target=f'user:{user_id}', user_id=user_id)
              for user_id, chosen in choices.items() if chosen.email and settings.current.smtp_host]
    if project_id is not None:
        for target in await NotificationTarget.filter(project_id=project_id, enabled=True).using_db(using_db):
            if not target.kinds or kind in target.kinds:
                outbox.append(Delivery(event_id=event.id, channel=target.kind, target=f'target:{target.id}',
                                       endpoint_id=target.id))
    for delivery in outbox:
        delivery.next_attempt_at = time.time()
    await Delivery.bulk_create(outbox, using_db=using_db)
    if using_db is None and announced:
        await announce(project_id)
    return event


RUN_ENDS = {'succeeded': 'run.succeeded', 'failed': 'run.failed', 'stopped': 'run.stopped'}


async def run_ended(run: Run, *, using_db: BaseDBAsyncClient | None = None) -> Event | None:
    """The event of a run's end (succeeded, failed or stopped: a cancel is its canceller's own doing), with why.
    Announced by the caller, with the run's own change (services/lifecycle.publish)."""
    kind = RUN_ENDS.get(str(run.status))
    if kind is None:
        return None
    project_name = await Project.filter(id=run.project_id).using_db(using_db).values_list('name', flat=True)
    by = await User.filter(id=run.status_by_id).using_db(using_db).values_list('email', flat=True) \
        if run.status_by_id else []
    where = f'"{run.name}" in {project_name[0] if project_name else "a deleted project"}'
    reason = run.status_message or ''
    message = {'run.succeeded': f'{where} succeeded.',
               'run.failed': f'{where} failed' + (f': {reason}' if reason else '.'),
               'run.stopped': f'{where} stopped' + (f': {reason}' if reason else '.')}[kind]
    details = {'status': str(run.status), 'cause': run.status_cause, 'reason': reason, 'by': by[0] if by else None,
               'run_name': run.name, 'cost_usd': float(run.cost_usd)}
    return await emit(kind, key=f'run:{run.id}:{kind}', message=message, project_id=run.project_id, run_id=run.id,
                      details=details, using_db=using_db, announced=False)


async def announce(project_id: int | None) -> None:
    """Tell the open tabs that notifications came: each re-reads its own user's (after the commit that made them)."""
    await hub.publish(hub.Change(kind='notification', action='created', id=0, project_id=project_id))


# --- the bell ----------------------------------------------------------------------------------------------------

async def listed(user: User, *, unread: bool = False, before: int | None = None,
                 limit: int = 50) -> list[NotificationView]:
    """The user's notifications, newest first; `before` (an id) pages on."""
    if not 1 <= limit <= PAGE_MAX:
        raise Invalid(f'limit must be between 1 and {PAGE_MAX}.')
    query = Notification.filter(user_id=user.id)
    if unread:
        query = query.filter(read=False)
    if before is not None:
        query = query.filter(id__lt=before)
    return [_view(n) for n in await query.order_by('-id').limit(limit)]


async def unread_count(user: User) -> int:
    return await Notification.filter(user_id=user.id, read=False).count()


async def mark_read(user: User, ids: list[int] | None = None) -> int:
    """Mark the user's notifications `ids` (all of them when None) read; how many changed. Others' ids change
    nothing."""
    query = Notification.filter(user_id=user.id, read=False)
    if ids is not None:
        query = query.filter(id__in=ids)
    changed = await query.update(read=True)
    if changed:
        await hub.publish(hub.Change(kind='notification', action='read', id=0, data={'user_id': user.id}))
    return changed


async def opened(user: User, notification_id: int) -> NotificationView | None:
    """The user's notification `notification_id`, marked read as they follow it; None when it is not theirs."""
    found = await Notification.get_or_none(id=notification_id, user_id=user.id) \
        if 1 <= notification_id <= 2**31 - 1 else None
    if found is None:
        return None
    await mark_read(user, [found.id])
    found.read = True
    return _view(found)


# --- choices -----------------------------------------------------------------------------------------------------

async def preferences(user: User) -> list[PreferenceView]:
    """Every kind with what reaches the user for it: their choice, else the default of every relation they can have
    to such an event when those agree; when they do not (an editor hears of the runs they launch by email, of the
    others' in the app only), None and a note that says which."""
    chosen = {p.kind: p for p in await NotificationPreference.filter(user_id=user.id)}
    relations = await _relations(user)
    views = []
    for kind, label in KINDS.items():
        possible = relations if kind.startswith('run.') else (relations - {Relation.LAUNCHER} or relations)
        defaults = {relation: default_channels(kind, relation) for relation in possible}
        pref = chosen.get(kind)
        in_app = pref.in_app if pref and pref.in_app is not None else _agreed(d.in_app for d in defaults.values())
        email = pref.email if pref and pref.email is not None else _agreed(d.email for d in defaults.values())
        notes = [f'{"In the app" if name == "in_app" else "Email"} by default for '
                 + ' and '.join(RELATION_SAID[r] for r in sorted(possible, key=_STRENGTH.get, reverse=True)
                                if getattr(defaults[r], name)) + ' only.'
                 for name, value in (('in_app', in_app), ('email', email)) if value is None]
        views.append(PreferenceView(kind=kind, label=label, in_app=in_app, email=email, note=' '.join(notes)))
    return views


async def set_preferences(user: User, choices: dict[str, Channels]) -> list[PreferenceView]:
    """Record the user's choice for each kind given (a channel given as None keeps what it was: a choice, or the
    default); unknown kinds are refused, changing nothing."""
    unknown = sorted(set(choices) - set(KINDS))
    if unknown:
        raise Invalid(f'Unknown event kind: {", ".join(unknown)}. Known: {", ".join(KINDS)}.')
    stored = {p.kind: p for p in await NotificationPreference.filter(user_id=user.id, kind__in=list(choices))}
    for kind, channels in choices.items():
        before = stored.get(kind)
        in_app = channels.in_app if channels.in_app is not None else before.in_app if before else None
        email = channels.email if channels.email is not None else before.email if before else None
        await NotificationPreference.update_or_create(defaults={'in_app': in_app, 'email': email},
                                                      user_id=user.id, kind=kind)
    return await preferences(user)


async def reset_preferences(user: User) -> list[PreferenceView]:
    """Forget the user's choices: the defaults apply again."""
    await NotificationPreference.filter(user_id=user.id).delete()
    return await preferences(user)


# --- helpers -----------------------------------------------------------------------------------------------------

async def _concerned(project_id: int | None, run_id: int | None, also: frozenset[int],
                     using_db: BaseDBAsyncClient | None) -> dict[int, Relation]:
    """Everyone an event concerns, each with their strongest relation to it. Deactivated people hear nothing."""
    concerned: dict[int, Relation] = {}

    def add(user_id: int | None, relation: Relation) -> None:
        if user_id is not None and _STRENGTH[relation] >= _STRENGTH.get(concerned.get(user_id), -1):
            concerned[user_id] = relation

    if project_id is not None:
        project = await Project.get_or_none(id=project_id).using_db(using_db)
        if project is not None:
            add(project.owner_id, Relation.OWNER)
            for user_id, role in await Membership.filter(project_id=project_id).using_db(using_db) \
                    .values_list('user_id', 'role'):
                add(user_id, Relation.OWNER if role == MemberRole.OWNER else Relation.MEMBER)
    if run_id is not None:
        run = await Run.get_or_none(id=run_id).using_db(using_db)
        if run is not None:
            add(run.created_by_id, Relation.LAUNCHER)
    if project_id is None and run_id is None:  # an installation's event (an orphan, a credential): its admins'
        for user_id in await User.filter(role=Role.ADMIN).using_db(using_db).values_list('id', flat=True):
            add(user_id, Relation.OWNER)
    for user_id in also:
        add(user_id, Relation.OWNER)
    active = set(await User.filter(id__in=list(concerned), is_active=True).using_db(using_db)
                 .values_list('id', flat=True))
    return {user_id: relation for user_id, relation in concerned.items() if user_id in active}


async def _choices(kind: str, concerned: dict[int, Relation],
                   using_db: BaseDBAsyncClient | None) -> dict[int, Channels]:
    chosen = {p.user_id: p for p in await NotificationPreference.filter(kind=kind, user_id__in=list(concerned))
              .using_db(using_db)}
    return {user_id: applied(kind, relation, chosen.get(user_id)) for user_id, relation in concerned.items()}


def applied(kind: str, relation: Relation, chosen: NotificationPreference | None) -> Channels:
    """What reaches a person: their choice per channel, else the default of their relation to the event."""
    default = default_channels(kind, relation)
    if chosen is None:
        return default
    return Channels(in_app=default.in_app if chosen.in_app is None else chosen.in_app,
                    email=default.email if chosen.email is None else chosen.email)


async def _relations(user: User) -> frozenset[Relation]:
    """The relations the user can have to events now: owner (an admin, or of a project), launcher (anyone who may
    launch a run), member (an editor or viewer somewhere). Someone in no project yet: as an editor would be."""
    roles = set(await Membership.filter(user_id=user.id).values_list('role', flat=True))
    owner = user.role == Role.ADMIN or MemberRole.OWNER in roles or await Project.filter(owner_id=user.id).exists()
    relations = set()
    if owner:
        relations.add(Relation.OWNER)
    if owner or MemberRole.EDITOR in roles or not roles:
        relations.add(Relation.LAUNCHER)
    if roles & {MemberRole.EDITOR, MemberRole.VIEWER} or not (roles or owner):
        relations.add(Relation.MEMBER)
    return frozenset(relations)


def _agreed(values) -> bool | None:
    """The one value all give, else None."""
    found = set(values)
    return found.pop() if len(found) == 1 else None


def _view(notification: Notification) -> NotificationView:
    return NotificationView(id=notification.id, kind=notification.kind, message=notification.message,
                            project_id=notification.project_id, run_id=notification.run_id,
                            read=notification.read, created_at=notification.created_at)
