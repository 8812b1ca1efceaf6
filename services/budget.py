"""Budget arithmetic shared by launching (refuse a run that would overspend) and enforcement (stop one that would).

Both look ahead by the time a stop takes to end the billing: the checkpoint grace plus four poll intervals (one to see
the breach coming, one for the stop call and the provider's wind-down — Novita bills while an instance is
`stopping` — one to see the job has stopped, and one spare).
"""

from __future__ import annotations

import settings
from models import Project
from services.errors import Conflict

LOOKAHEAD_POLLS = 4


def lookahead_h() -> float:
    return (settings.current.stop_grace_s + LOOKAHEAD_POLLS * settings.current.poll_interval_s) / 3600


def would_overspend(project: Project, price_per_hour: float) -> bool:
    """Whether jobs billing `price_per_hour` in all would take the project past its budget before they could stop."""
    if project.budget_usd <= 0:
        return False
    return float(project.used_usd) + price_per_hour * lookahead_h() >= float(project.budget_usd)


def check_launch(project: Project, price_per_hour: float) -> None:
    """Refuse a launch into a spent budget, or one the budget could not pay the first minutes of."""
    if project.budget_usd > 0 and (project.used_usd >= project.budget_usd or would_overspend(project, price_per_hour)):
        raise Conflict(f'Project "{project.name}" has used ${float(project.used_usd):,.4f} of its '
                       f'${float(project.budget_usd):,.2f} budget, too little is left for a run at '
                       f'${price_per_hour:,.2f}/h: raise the budget to launch more runs.')


def reason(project: Project) -> str:
    return (f'Stopped by the budget: project "{project.name}" has used ${float(project.used_usd):,.2f} of '
            f'${float(project.budget_usd):,.2f}.')
