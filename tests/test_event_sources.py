"""Budget events: each threshold a project's spend passes is told once, a budget change arms them again, and its
people hear when its active runs will use up the rest within the hour. Owners choose the thresholds."""

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from models import Event, MemberRole, Notification, Project, Role, Run, RunStatus
from services import auth, lifecycle, projects, runs
from services.background import budget_alerts
from services.errors import Forbidden, Invalid
from services.lifecycle import Cause


async def _vision(budget_usd: float = 5.0) -> tuple:
    owner = await auth.create_user('olga@example.com', 'a long password')
    editor = await auth.create_user('ed@example.com', 'a long password')
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)  # no role in it
    project = await projects.create_project(owner, name='vision', budget_usd=budget_usd)
    await projects.add_member(owner, project['id'], editor.email, MemberRole.EDITOR)
    return owner, editor, admin, project['id']


async def _spent(project_id: int, used_usd: float) -> None:
    await Project.filter(id=project_id).update(used_usd=Decimal(str(used_usd)))


async def _thresholds() -> list[int]:
    return sorted(e.details['percent'] for e in await Event.filter(kind='budget.threshold'))


async def test_each_threshold_is_told_once_and_a_budget_change_arms_them_again(orm: str) -> None:
    owner, editor, admin, project_id = await _vision()
    await _spent(project_id, 2.40)
    assert await budget_alerts.check() == 0  # 48%: none yet
    await _spent(project_id, 4.10)
    assert await budget_alerts.check() == 2  # 82%: past 50 and 80 at once, each told
    assert await _thresholds() == [50, 80]
    event = await Event.get(kind='budget.threshold', key=f'budget:{project_id}:80:5.0000')
    assert event.message == 'vision has used $4.10 of its $5.00 budget (82%, past the 80% alert).'
    assert event.project_id == project_id and event.run_id is None
    told = set(await Notification.filter(event_id=event.id).values_list('user_id', flat=True))
    assert told == {owner.id, editor.id}  # the project's people; not an admin with no role in it
    assert await budget_alerts.check() == 0  # still past them: nothing new
    await _spent(project_id, 5.02)
    assert await budget_alerts.check() == 1 and await _thresholds() == [50, 80, 100]

    await projects.update_project(owner, project_id, budget_usd=10)  # 50.2% of the new budget
    assert await budget_alerts.check() == 1
    assert await Event.filter(key=f'budget:{project_id}:50:10.0000').exists()
    assert await budget_alerts.check() == 0


async def test_owners_choose_the_thresholds(orm: str) -> None:
    owner, editor, _admin, project_id = await _vision()
    shown = await projects.update_project(owner, project_id, budget_alerts=[90, 25, 25])
    assert shown['budget_alerts'] == [25, 90]
    await _spent(project_id, 4.60)  # 92%
    assert await budget_alerts.check() == 2 and await _thresholds() == [25, 90]
    await projects.update_project(owner, project_id, budget_alerts=[])  # none at all
    await projects.update_project(owner, project_id, budget_usd=6)
    assert await budget_alerts.check() == 0
    shown = await projects.update_project(owner, project_id, budget_alerts=None)  # the defaults again
    assert shown['budget_alerts'] == [50, 80, 100]
    assert await budget_alerts.check() == 1  # 76.7% of $6: 50 told again for this budget, 80 not reached


async def test_the_thresholds_and_grace_period_are_checked_and_an_owner_s(orm: str) -> None:
    owner, editor, _admin, project_id = await _vision()
    for bad in ([0], [1001], [50, 'x'], [True], 'all', list(range(1, 30))):
        with pytest.raises(Invalid, match='budget_alerts must be a list'):
            await projects.update_project(owner, project_id, budget_alerts=bad)
    for bad in (0, -5, 2**31, float('nan'), 'soon'):
        with pytest.raises(Invalid, match='stall_grace_s must be a number of seconds'):
            await projects.update_project(owner, project_id, stall_grace_s=bad)
    with pytest.raises(Forbidden, match='Only the owners'):
        await projects.update_project(editor, project_id, budget_alerts=[10])
    with pytest.raises(Forbidden, match='Only the owners'):
        await projects.update_project(editor, project_id, stall_grace_s=60)
    # an editor's edit form sends them as they are: that changes nothing of them, and the rest is saved
    same = await projects.update_project(editor, project_id, name='vision 2', budget_alerts=[50, 80, 100],
                                         stall_grace_s=None)
    assert same['name'] == 'vision 2' and (await Project.get(id=project_id)).settings == {}
    shown = await projects.update_project(owner, project_id, stall_grace_s=900)
    assert shown['stall_grace_s'] == 900 and (await Project.get(id=project_id)).settings == {'stall_grace_s': 900}
    assert (await projects.update_project(owner, project_id, stall_grace_s=None))['stall_grace_s'] is None


async def _running_at(owner, project_id: int, price_per_hour: float) -> Run:
    data, _ = await runs.create_run(owner, project_id, name=f'r{price_per_hour}')
    run = await Run.get(id=data['id'])
    await lifecycle.move(run, RunStatus.RUNNING, cause=Cause.JOB)
    await Run.filter(id=run.id).update(price_per_hour=Decimal(str(price_per_hour)))
    return run


async def test_the_forecast_tells_when_active_runs_will_use_up_the_budget_within_the_hour(orm: str) -> None:
    owner, _editor, _admin, project_id = await _vision(budget_usd=5)
    await _spent(project_id, 3.50)  # $1.50 left
    await _running_at(owner, project_id, 0.60)
    slow = await _running_at(owner, project_id, 0.80)  # $1.40/h: a little more than an hour
    await projects.update_project(owner, project_id, budget_alerts=[])  # only the forecast in this test
    now = time.time()
    assert await budget_alerts.check(now) == 0
    await Run.filter(id=slow.id).update(price_per_hour=Decimal('1.20'))  # $1.80/h: 50 minutes
    assert await budget_alerts.check(now) == 1
    event = await Event.get(kind='budget.forecast')
    assert event.message == ("vision's active runs ($1.80/h) will use up the $1.50 left of its $5.00 budget in "
                             'about 50 minutes.')
    assert event.key == f'forecast:{project_id}:5.0000:{datetime.fromtimestamp(now, UTC).date().isoformat()}'
    assert await budget_alerts.check(now + 60) == 0  # once a day
    assert await budget_alerts.check(now + 86_400) == 1  # the next day, if it still holds
    await lifecycle.move(slow, RunStatus.STOPPING, cause=Cause.USER)  # stopping: no longer counted
    assert await budget_alerts.check(now + 2 * 86_400) == 0


async def test_a_finished_or_free_project_has_no_forecast(orm: str) -> None:
    owner, _editor, _admin, project_id = await _vision(budget_usd=5)
    await projects.update_project(owner, project_id, budget_alerts=[])
    await _spent(project_id, 5.50)  # already past it: the 100% threshold (and the stop) say so, not a forecast
    await _running_at(owner, project_id, 2.0)
    assert await budget_alerts.check() == 0
    free = await projects.create_project(owner, name='free')  # no budget: nothing to pass
    await _running_at(owner, free['id'], 2.0)
    assert await budget_alerts.check() == 0


def test_the_project_api_takes_the_thresholds_and_grace_period(api) -> None:
    project = api.post('/projects', json={'name': f'alerts-{time.monotonic_ns()}', 'budget_usd': 5}).json()
    assert project['budget_alerts'] == [50, 80, 100] and project['stall_grace_s'] is None
    url = f'/projects/{project["id"]}'
    refused = api.patch(url, json={'budget_alerts': [50, 0]})
    assert refused.status_code == 422 and 'budget_alerts' in str(refused.json()['detail'])
    refused = api.patch(url, json={'stall_grace_s': 0})
    assert refused.status_code == 422 and 'stall_grace_s' in str(refused.json()['detail'])
    changed = api.patch(url, json={'budget_alerts': [75], 'stall_grace_s': 1800})
    assert changed.status_code == 200, changed.text
    assert (changed.json()['budget_alerts'], changed.json()['stall_grace_s']) == ([75], 1800)
    reset = api.patch(url, json={'budget_alerts': None, 'stall_grace_s': None}).json()
    assert (reset['budget_alerts'], reset['stall_grace_s']) == ([50, 80, 100], None)
    assert api.patch(url, json={'name': None}).status_code == 422  # the others still cannot be null

