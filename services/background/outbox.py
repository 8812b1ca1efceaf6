"""The leader's delivery task: sends what the outbox (the `Delivery` rows that services/notifications.emit wrote with
each event) holds due, by email, to Slack and to signed webhooks, and records how it went.

Each row is claimed before it is sent, by a compare-and-set on its attempt count, so that two processes that both
believe they lead (a failover) cannot both send it. A claim moves the row's next attempt a lease ahead: if this
process dies while sending, another one takes the row up once the lease is over. After the send the row is marked
delivered, or its next attempt is set `BASE_DELAY_S` doubling per attempt (at most `MAX_DELAY_S`), or, after
`MAX_ATTEMPTS` or on an answer another try would not change (a 404, a refused recipient: see services/channels),
it is marked failed with the reason.

Nothing is lost across a restart: the rows are in the database, and whoever leads next sends what is due. A crash
between a send and its mark can send it again (at least once, not exactly once): receivers deduplicate by the
event's id (`X-Trainboard-Event-Id`, also in every email).
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from datetime import UTC, datetime
from urllib.parse import urlsplit

import settings
from models import Delivery, DeliveryStatus
from services import hub, keys
from services.channels import PURPOSE, Outgoing, ProjectRef, RunRef, SendFailed, hidden, mail, slack, webhook

log = logging.getLogger(__name__)

BATCH = 50  # rows per run of the task; the rest wait for the next
PARALLEL = 8  # sends at once: one slow receiver must not hold up the others
BASE_DELAY_S = 5.0
MAX_DELAY_S = 3600.0
MAX_ATTEMPTS = 12  # about 2.4 hours of trying
LEASE_S = 120.0  # longer than any send may take (services/channels time out within 30 s)
ERROR_MAX = 300


def retry_delay(attempts: int) -> float:
    """How long after its `attempts`-th failed attempt a delivery is tried again."""
    return min(BASE_DELAY_S * 2 ** (attempts - 1), MAX_DELAY_S)


async def deliver_due(now: float | None = None) -> int:
    """Send the deliveries due at `now` (epoch seconds; tests move it on), the longest waiting first, at most
    `BATCH`; returns how many were delivered."""
    now = time.time() if now is None else now
    due = await Delivery.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now) \
        .order_by('next_attempt_at', 'id').limit(BATCH)
    gate = asyncio.Semaphore(PARALLEL)

    async def one(delivery: Delivery) -> bool:
        async with gate:
            try:
                return await _deliver(delivery, now)
            except Exception:  # the database, say: the others go on; this one is due again after its lease
                log.exception('delivery %s could not be carried out', delivery.id)
                return False

    return sum(await asyncio.gather(*(one(delivery) for delivery in due)))


async def _deliver(delivery: Delivery, now: float) -> bool:
    attempt = delivery.attempts + 1
    at = datetime.fromtimestamp(now, UTC)
    claimed = await Delivery.filter(id=delivery.id, status=DeliveryStatus.PENDING, attempts=delivery.attempts) \
        .update(attempts=attempt, next_attempt_at=now + LEASE_S, last_attempt_at=at)
    if not claimed:  # another process has it (or it changed since it was read)
        return False
    secrets: list[str] = [settings.current.smtp_password]
    made = attempt  # attempts made: this one is none if nothing was sent (the target was turned off, say)
    try:
        await _send(delivery.id, secrets, now)
    except SendFailed as failed:
        reason, retry = failed.reason, failed.retry
        made = attempt if failed.tried else delivery.attempts
    except Exception as error:  # a bug: logged (without secrets) and tried again, as a network error would be
        log.error('delivery %s failed unexpectedly:\n%s', delivery.id,
                  _scrubbed(''.join(traceback.format_exception(error)), secrets, limit=None))
        reason, retry = f'unexpected error ({type(error).__name__}); see the server log', True
    else:
        await _mark(delivery.id, attempt, status=DeliveryStatus.DELIVERED, delivered_at=at, last_error=None)
        return True
    reason = _scrubbed(reason, secrets)
    if retry and attempt < MAX_ATTEMPTS:
        log.info('delivery %s (%s) attempt %d failed, trying again: %s', delivery.id, delivery.channel, attempt,
                 reason)
        await _mark(delivery.id, attempt, next_attempt_at=now + retry_delay(attempt), last_error=reason)
    else:
        log.warning('delivery %s (%s) failed after %d attempts: %s', delivery.id, delivery.channel, made, reason)
        await _mark(delivery.id, attempt, status=DeliveryStatus.FAILED, last_error=reason, attempts=made)
    return False


async def _send(delivery_id: int, secrets: list[str], now: float) -> None:
    """Read the delivery with what it needs (as it is now: a target disabled since, a person deactivated) and send
    it; `secrets` gets what must not appear in a reason."""
    delivery = await Delivery.get(id=delivery_id).select_related('event__project', 'event__run', 'user', 'endpoint')
    outgoing = _outgoing(delivery)
    if delivery.channel == 'email':
        user = delivery.user
        if user is None:
            raise SendFailed('the recipient no longer exists', retry=False, tried=False)
        if not user.is_active:
            raise SendFailed(f'the recipient {user.email} is deactivated', retry=False, tried=False)
        await mail.send(user.email, outgoing)
        return
    target = delivery.endpoint
    if target is None:
        raise SendFailed('the target was removed', retry=False, tried=False)
    if not target.enabled:
        raise SendFailed('the target was turned off before this was sent', retry=False, tried=False)
    try:
        url = keys.decrypt(target.url_encrypted, PURPOSE)
        secret = keys.decrypt(target.secret_encrypted, PURPOSE) if target.secret_encrypted else ''
    except Exception:  # InvalidToken: stored under another server secret
        raise SendFailed('the target\'s URL cannot be decrypted: was TRAINBOARD_SECRET_KEY changed? Add the target '
                         'again.', retry=False, tried=False) from None
    parts = urlsplit(url)
    secrets.extend([url, url.split('?')[0], parts.path.lstrip('/'), parts.query, secret])
    if target.kind == 'slack':
        await slack.send(url, outgoing)
    elif target.kind == 'webhook':
        await webhook.send(url, secret, outgoing, now=now)
    else:
        raise SendFailed(f'unknown target kind {target.kind!r}', retry=False, tried=False)


def _outgoing(delivery: Delivery) -> Outgoing:
    event = delivery.event
    project, run = event.project, event.run
    return Outgoing(event_id=event.id, kind=event.kind, created_at=event.created_at, message=event.message,
                    details=event.details or {},
                    project=ProjectRef(id=project.id, name=project.name) if project else None,
                    run=RunRef(id=run.id, name=run.name, status=str(run.status)) if run else None)


async def _mark(delivery_id: int, attempt: int, **changes: object) -> None:
    # only if still ours: a send that outlived its lease was taken up by another process, whose result counts
    if await Delivery.filter(id=delivery_id, attempts=attempt).update(**changes):
        project_id = await Delivery.filter(id=delivery_id).values_list('event__project_id', flat=True)
        await hub.publish(hub.Change(kind='delivery', action='updated', id=delivery_id,
                                     project_id=project_id[0] if project_id else None))


def _scrubbed(text: str, secrets: list[str], *, limit: int | None = ERROR_MAX) -> str:
    """`text` without any of `secrets` (a URL a library put in its message, say), nor any stretch of 8 characters or
    more of one (a receiver echoing a URL's path), one line, at most `limit`."""
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, '[hidden]')
    text = hidden(text, [s for s in secrets if '://' not in s])  # a URL's host is no secret: its path and query are
    if limit is None:
        return text
    text = ' '.join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + '…'
