"""Budget arithmetic shared by launching (refuse a run that would overspend) and enforcement (stop one that would).

Both look ahead by the time a stop takes to end the billing: the checkpoint grace plus four poll intervals (one to see
the breach coming, one for the stop call and the provider's wind-down — Novita bills while an instance is
`stopping` — one to see the job has stopped, and one spare).

Launches into one project are serialised (`launch_guard`) and count what the project's active runs already burn, so
that concurrent launches cannot pass the budget together: each sees the runs the others stored before it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from tortoise.functions import Sum
from tortoise.transactions import in_transaction

import settings
from models import Project, Run, User
from services import lifecycle
from services.errors import Conflict, Forbidden, Invalid

LOOKAHEAD_POLLS = 4
BURNING = lifecycle.BILLING

# per event loop: a lock belongs to the loop it was first used in (tests run one loop each)
_launch_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, defaultdict[int, asyncio.Lock]] = \
    weakref.WeakKeyDictionary()


class Cadence:
    """How far apart this process's poll cycles have lately been (0 until it has polled): a launch here is checked
    with the look-ahead that enforcement uses, so a run stopped by the budget is not followed by a launch it lets by.
    A process that does not poll (not the leader) has none and checks with the interval asked for."""
    seconds: float = 0.0


cadence = Cadence()


def lookahead_h(poll_s: float | None = None) -> float:
    """How long a stop takes to end the billing, in hours, with cycles `poll_s` apart (by default: as this process's
    poller measured them) when that is more than the poll interval asked for: a busy machine stretches it."""
    gap = cadence.seconds if poll_s is None else poll_s
    return (settings.current.stop_grace_s + LOOKAHEAD_POLLS * max(settings.current.poll_interval_s, gap)) / 3600


@asynccontextmanager
async def launch_guard(project_id: int) -> AsyncIterator[Project]:
    """The project, locked against other launches into it until the block ends (its run stored or refused).

    A lock per project serialises launches in this process; the row lock (FOR UPDATE, on PostgreSQL) those of other
    processes. Both are needed: SQLite has no row locks and one process; PostgreSQL serves several.
    """
    locks = _launch_locks.setdefault(asyncio.get_running_loop(), defaultdict(asyncio.Lock))
    async with locks[project_id], in_transaction() as conn:
        yield await Project.select_for_update().using_db(conn).get(id=project_id)


async def burn_per_hour(project_id: int) -> float:
    """What the project's active runs bill per hour, all together."""
    rows = await Run.filter(project_id=project_id, status__in=BURNING).annotate(total=Sum('price_per_hour')) \
        .values('total')
    return float(rows[0]['total'] or 0) if rows else 0.0


def would_overspend(project: Project, price_per_hour: float, poll_s: float | None = None) -> bool:
    """Whether jobs billing `price_per_hour` in all would take the project past its budget before they could stop."""
    if project.budget_usd <= 0:
        return False
    return float(project.used_usd) + price_per_hour * lookahead_h(poll_s) >= float(project.budget_usd)


def check_launch(user: User, project: Project, price_per_hour: float, burning_per_hour: float = 0.0) -> None:
    """Refuse a paid launch that the budget cannot pay, counting what the project's active runs already burn; with no
    budget at all, a paid run launches only for an admin or in a project an admin has marked unlimited."""
    if price_per_hour <= 0:
        return  # costs nothing
    if project.budget_usd <= 0:
        if user.is_admin or project.budget_unlimited:
            return
        raise Forbidden(f'Project "{project.name}" has no budget, and a run at ${price_per_hour:,.2f}/h costs '
                        f'money: an owner can set a budget, or an admin can mark the project unlimited.')
    if project.used_usd >= project.budget_usd or would_overspend(project, burning_per_hour + price_per_hour):
        burning = f' and its active runs bill ${burning_per_hour:,.2f}/h' if burning_per_hour > 0 else ''
        raise Conflict(f'Project "{project.name}" has used {usd(project.used_usd)} of its '
                       f'{usd(project.budget_usd)} budget{burning}: too little is left for a run at '
                       f'{usd(price_per_hour)}/h: raise the budget to launch more runs.')


def check_cost_limit(max_cost_usd: float | None, price_per_hour: float) -> None:
    """Refuse a cost limit the run would pass before a stop could end its billing: it would be stopped at once,
    having done nothing."""
    if max_cost_usd is None or price_per_hour <= 0:
        return
    needed = price_per_hour * lookahead_h()
    if max_cost_usd <= needed:
        raise Invalid(f'A cost limit of {usd(max_cost_usd)} is too low for a run at {usd(price_per_hour)}/h: '
                      f'stopping it takes about {lookahead_h() * 3600:.0f} s, which costs {usd(needed)}: set a limit '
                      f'above that.')


def check_budget_change(user: User, project: Project, budget_usd: Decimal) -> None:
    """Who may change a budget (its owners and admins; only an admin removes one once set: a project with no budget
    would bill on unchecked)."""
    if budget_usd <= 0 < project.budget_usd and not user.is_admin:
        raise Forbidden(f'Only an admin can remove the budget of "{project.name}"; set a lower one instead.')


def reason(project: Project) -> str:
    return f'Stopped by the project budget at {usd(project.budget_usd)} ({usd(project.used_usd)} used).'


def usd(amount: float | Decimal) -> str:
    """Dollars as people read them: cents, and for amounts under a dime the digits that matter."""
    amount = float(amount)
    return f'${amount:,.2f}' if amount >= 0.1 or amount == 0 else f'${amount:.2g}'
