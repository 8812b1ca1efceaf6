"""Budget alerts, checked after every poll cycle has added what its runs cost.

A project's people hear once of each threshold its spend passes (50, 80 and 100 percent of the budget unless its
owners chose others), and once a day that its active runs, at the prices they bill, will use up what is left of the
budget within the hour. Each event's key holds the budget, so that a budget raised (or lowered) arms them again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from models import Event, Project, Run
from services import lifecycle, notifications, projects
from services.budget import usd

FORECAST_HORIZON_S = 3600


@dataclass(frozen=True, slots=True)
class _Alert:
    kind: str
    key: str
    project_id: int
    message: str
    details: dict[str, Any]


async def check(now: float | None = None) -> int:
    """Emit the budget events due now; how many were new."""
    now = time.time() if now is None else now
    found = await Project.filter(budget_usd__gt=0)
    if not found:
        return 0
    burning = await _burn_per_hour([project.id for project in found])
    alerts = [alert for project in found for alert in _due(project, burning.get(project.id, 0.0), now)]
    if not alerts:
        return 0
    # most are stored already (a threshold stays passed): one query rather than one per alert
    stored = set(await Event.filter(key__in=[alert.key for alert in alerts]).values_list('key', flat=True))
    emitted = 0
    for alert in alerts:
        if alert.key not in stored and await _emit(alert):
            emitted += 1
    return emitted


def _due(project: Project, burn_per_hour: float, now: float) -> list[_Alert]:
    """The project's budget events that hold now, stored already or not."""
    budget_usd, used_usd = float(project.budget_usd), float(project.used_usd)
    budget_key = f'{budget_usd:.4f}'
    share = used_usd / budget_usd * 100
    details = {'budget_usd': budget_usd, 'used_usd': round(used_usd, 6), 'used_percent': round(share, 2)}
    alerts = [_Alert(kind='budget.threshold', key=f'budget:{project.id}:{percent}:{budget_key}', project_id=project.id,
                     message=f'{project.name} has used {usd(used_usd)} of its {usd(budget_usd)} budget '
                             f'({share:.0f}%, past the {percent}% alert).',
                     details={**details, 'percent': percent})
              for percent in projects.budget_alerts(project) if share >= percent]
    left = budget_usd - used_usd
    if left > 0 and burn_per_hour > 0 and left / burn_per_hour * 3600 <= FORECAST_HORIZON_S:
        minutes = left / burn_per_hour * 60
        day = datetime.fromtimestamp(now, UTC).date().isoformat()
        alerts.append(_Alert(
            kind='budget.forecast', key=f'forecast:{project.id}:{budget_key}:{day}', project_id=project.id,
            message=f'{project.name}\'s active runs ({usd(burn_per_hour)}/h) will use up the {usd(left)} left of its '
                    f'{usd(budget_usd)} budget in {_minutes(minutes)}.',
            details={**details, 'burn_per_hour': burn_per_hour, 'minutes_left': round(minutes, 1)}))
    return alerts


async def _burn_per_hour(project_ids: list[int]) -> dict[int, float]:
    """What each project's active runs bill per hour, all together, in one grouped query."""
    rows = await Run.filter(project_id__in=project_ids, status__in=lifecycle.LIMITED, price_per_hour__gt=0) \
        .annotate(total=Sum('price_per_hour')).group_by('project_id').values('project_id', 'total')
    return {row['project_id']: float(row['total'] or 0) for row in rows}


async def _emit(alert: _Alert) -> bool:
    async with in_transaction() as conn:  # the event with its bell copies and outbox rows, or none of them
        event = await notifications.emit(alert.kind, key=alert.key, message=alert.message,
                                         project_id=alert.project_id, details=alert.details, using_db=conn,
                                         announced=False)
    if event is not None:
        await notifications.announce(alert.project_id)
    return event is not None


def _minutes(minutes: float) -> str:
    if minutes < 1:
        return 'less than a minute'
    return f'about {round(minutes)} minute{"s" if round(minutes) != 1 else ""}'
