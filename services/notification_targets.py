"""A project's notification targets (Slack incoming webhooks and signed generic webhooks) and its deliveries: its
owners (and admins) add, list, turn off and remove them, and read how each delivery went.

A target's URL is encrypted at rest (a Slack URL is its own secret) and shown as a hint; a webhook's signing secret
is made here, encrypted, and returned once, by `add`: it is never shown again. URLs must reach public addresses
(services/channels/addresses.py), checked here and again at every send.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from models import Delivery, DeliveryStatus, MemberRole, NotificationTarget, User
from services import audit, bounds, hub, keys, notifications, projects
from services.channels import PURPOSE, addresses
from services.errors import Invalid, NotFound

KINDS = ('slack', 'webhook')
LABEL_MAX = 100
DELIVERIES_MAX = 200


@dataclass(frozen=True, slots=True)
class TargetView:
    id: int
    project_id: int
    kind: str
    label: str
    url_hint: str
    kinds: list[str]  # event kinds sent; empty: every kind
    enabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AddedTarget:
    target: TargetView
    secret: str | None  # a webhook's signing secret: shown now, and never again


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: int
    channel: str  # 'email' | 'slack' | 'webhook'
    target: str  # whom or where: an email address, a target's label
    event_kind: str
    message: str
    status: str  # pending | delivered | failed
    attempts: int
    last_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    next_attempt_at: datetime | None = None  # when a pending one is tried next


async def listed(user: User, project_id: int) -> list[TargetView]:
    project = await projects.get_project(user, project_id, MemberRole.OWNER)
    return [_view(t) for t in await NotificationTarget.filter(project_id=project.id).order_by('id')]


async def add(user: User, project_id: int, *, kind: str, url: str, label: str = '',
              kinds: list[str] | None = None) -> AddedTarget:
    """Add a target; a webhook's secret comes back in the answer, once."""
    project = await projects.get_project(user, project_id, MemberRole.OWNER)
    if kind not in KINDS:
        raise Invalid(f'kind: a target is one of {", ".join(KINDS)}, not "{kind}".')
    label = ' '.join(label.split())
    if len(label) > LABEL_MAX:
        raise Invalid(f'label: at most {LABEL_MAX} characters.')
    chosen = _kinds(kinds or [])
    try:
        url = await addresses.check(url)
    except addresses.Refused as refused:
        raise Invalid(f'url: {refused}') from None
    if kind == 'slack' and not label:
        label = 'Slack'
    secret = secrets.token_urlsafe(32) if kind == 'webhook' else None
    async with in_transaction() as db:
        target = await NotificationTarget.create(
            project_id=project.id, kind=kind, label=label or addresses.hint(url).split('/')[2],
            url_encrypted=keys.encrypt(url, PURPOSE), url_hint=addresses.hint(url),
            secret_encrypted=keys.encrypt(secret, PURPOSE) if secret else None, kinds=chosen, created_by_id=user.id,
            using_db=db)
        await audit.record(user, 'notification_target.added', 'notification_target', target.id,
                           project_id=project.id, kind=kind, label=target.label, url=addresses.origin(url),
                           kinds=chosen, using_db=db)
    await _publish(target, 'created')
    return AddedTarget(target=_view(target), secret=secret)


async def set_enabled(user: User, project_id: int, target_id: int, enabled: bool) -> TargetView:
    """Turn a target off (its pending deliveries then fail, saying so) or on again."""
    target = await _target(user, project_id, target_id)
    if target.enabled != enabled:
        async with in_transaction() as db:
            await NotificationTarget.filter(id=target.id).using_db(db).update(enabled=enabled)
            await audit.record(user, f'notification_target.{"enabled" if enabled else "disabled"}',
                               'notification_target', target.id, project_id=project_id, label=target.label,
                               using_db=db)
        target.enabled = enabled
        await _publish(target, 'updated')
    return _view(target)


async def delete(user: User, project_id: int, target_id: int) -> None:
    """Remove a target, with its deliveries (sent or not)."""
    target = await _target(user, project_id, target_id)
    async with in_transaction() as db:
        await NotificationTarget.filter(id=target.id).using_db(db).delete()
        await audit.record(user, 'notification_target.removed', 'notification_target', target.id,
                           project_id=project_id, kind=target.kind, label=target.label,
                           url=addresses.origin(target.url_hint), using_db=db)
    await _publish(target, 'deleted')


async def deliveries(user: User, project_id: int, *, limit: int = 50) -> list[DeliveryView]:
    """The project's latest deliveries, newest first: to whom or where, of what, and how it went."""
    project = await projects.get_project(user, project_id, MemberRole.OWNER)
    if not 1 <= limit <= DELIVERIES_MAX:
        raise Invalid(f'limit must be between 1 and {DELIVERIES_MAX}.')
    found = await Delivery.filter(event__project_id=project.id).order_by('-id').limit(limit) \
        .select_related('event', 'user', 'endpoint')
    return [DeliveryView(id=d.id, channel=d.channel, target=_whom(d), event_kind=d.event.kind,
                         message=d.event.message, status=d.status, attempts=d.attempts,
                         last_attempt_at=d.last_attempt_at, last_error=d.last_error, delivered_at=d.delivered_at,
                         created_at=d.created_at,
                         next_attempt_at=datetime.fromtimestamp(d.next_attempt_at, UTC)
                         if d.status == DeliveryStatus.PENDING and d.next_attempt_at else None) for d in found]


def _kinds(kinds: list[str]) -> list[str]:
    unknown = sorted(set(kinds) - set(notifications.KINDS))
    if unknown:
        raise Invalid(f'kinds: unknown event kind {", ".join(unknown)}; known: {", ".join(notifications.KINDS)}.')
    return [kind for kind in notifications.KINDS if kind in kinds]  # in their usual order, once each


async def _target(user: User, project_id: int, target_id: int) -> NotificationTarget:
    project = await projects.get_project(user, project_id, MemberRole.OWNER)
    target = await NotificationTarget.get_or_none(id=target_id, project_id=project.id) \
        if 1 <= target_id <= bounds.INT_MAX else None
    if target is None:
        raise NotFound(f'No notification target {target_id} in "{project.name}".')
    return target


def _whom(delivery: Delivery) -> str:
    if delivery.channel == 'email':
        return delivery.user.email if delivery.user else 'a removed user'
    endpoint = delivery.endpoint
    return f'{endpoint.label} ({endpoint.url_hint})' if endpoint else 'a removed target'


def _view(target: NotificationTarget) -> TargetView:
    return TargetView(id=target.id, project_id=target.project_id, kind=target.kind, label=target.label,
                      url_hint=target.url_hint, kinds=list(target.kinds or []), enabled=target.enabled,
                      created_at=target.created_at)


async def _publish(target: NotificationTarget, action: str) -> None:
    await hub.publish(hub.Change(kind='notification_target', action=action, id=target.id,
                                 project_id=target.project_id))
