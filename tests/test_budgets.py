"""Budgets hold: concurrent launches cannot pass one together, only owners and admins set them, a project with no
budget launches paid runs only with an admin's say, and lowering one below what runs burn is a knowing decision."""

from __future__ import annotations

import asyncio

import pytest

import settings
from models import Role, Run, RunStatus
from services import auth, projects, run_control, runs
from services.errors import Forbidden, NeedsConfirmation, ServiceError

LOCAL_JOB = {'command': 'true'}


@pytest.fixture
def paid_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """An hour on this machine costs $100, and members may launch on it: every local launch is a paid one."""
    monkeypatch.setenv('TRAINBOARD_LOCAL_PRICE_PER_HOUR', '100')
    monkeypatch.setenv('TRAINBOARD_LOCAL_RUNS', 'members')
    settings.reload()


async def test_concurrent_launches_cannot_pass_the_budget_together(orm: str, paid_local: None) -> None:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    project = await projects.create_project(admin, name='tight', budget_usd=1.0)

    async def launch(i: int) -> bool:
        try:
            await runs.create_run(admin, project['id'], name=f'burst {i}', provider='local', spec=LOCAL_JOB)
        except ServiceError as error:
            assert error.status_code == 409 and 'too little is left' in error.message
            return False
        return True

    accepted = await asyncio.gather(*(launch(i) for i in range(30)))
    # a stop takes 10 s of grace + 4 polls of 5 s = 30 s, $0.83 at $100/h: one run fits in $1, two do not
    assert sum(accepted) == 1
    assert await Run.filter(project_id=project['id']).count() == 1


async def test_only_owners_and_admins_change_a_budget(orm: str) -> None:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    owner = await auth.create_user('olga@example.com', 'a long password')
    editor = await auth.create_user('ed@example.com', 'a long password')
    project = await projects.create_project(owner, name='vision', budget_usd=10)
    await projects.add_member(owner, project['id'], editor.email, 'editor')

    with pytest.raises(Forbidden, match='budget'):
        await projects.update_project(editor, project['id'], budget_usd=1000)
    # the edit form sends the budget unchanged with the rest: an editor may still rename
    renamed = await projects.update_project(editor, project['id'], name='vision 2', budget_usd=10)
    assert (renamed['name'], renamed['budget_usd']) == ('vision 2', 10)
    assert (await projects.update_project(owner, project['id'], budget_usd=20))['budget_usd'] == 20
    with pytest.raises(Forbidden, match='Only an admin can remove'):
        await projects.update_project(owner, project['id'], budget_usd=0)
    with pytest.raises(Forbidden, match='unlimited'):
        await projects.update_project(owner, project['id'], budget_unlimited=True)
    assert (await projects.update_project(admin, project['id'], budget_usd=0))['budget_usd'] == 0


async def test_a_project_with_no_budget_launches_paid_runs_only_with_an_admins_say(orm: str, paid_local: None) -> None:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    member = await auth.create_user('mia@example.com', 'a long password')
    project = await projects.create_project(member, name='mine')  # owner, but no budget

    with pytest.raises(Forbidden, match='no budget'):
        await runs.create_run(member, project['id'], name='8 GPUs', provider='local', spec=LOCAL_JOB)
    assert await Run.filter(project_id=project['id']).count() == 0
    await runs.create_run(member, project['id'], name='reports only')  # an external run costs nothing

    await projects.update_project(admin, project['id'], budget_unlimited=True)
    created, _ = await runs.create_run(member, project['id'], name='allowed', provider='local', spec=LOCAL_JOB)
    assert created['status'] == 'queued'
    await runs.create_run(admin, (await projects.create_project(admin, name='admin'))['id'], name='admin run',
                          provider='local', spec=LOCAL_JOB)  # an admin needs nobody's say


async def test_lowering_a_budget_below_what_runs_burn_asks_first_and_names_them(orm: str) -> None:
    owner = await auth.create_user('olga@example.com', 'a long password')
    project = await projects.create_project(owner, name='vision', budget_usd=100)
    created, _ = await runs.create_run(owner, project['id'], name='big job')
    await Run.filter(id=created['id']).update(status=RunStatus.RUNNING, price_per_hour=360)  # $3 per 30 s lookahead

    with pytest.raises(NeedsConfirmation, match=r'stops 1 billing run: "big job"'):
        await projects.update_project(owner, project['id'], budget_usd=2)
    assert (await projects.get_project(owner, project['id'])).budget_usd == 100  # nothing changed
    assert (await projects.update_project(owner, project['id'], budget_usd=50))['budget_usd'] == 50  # room left
    lowered = await projects.update_project(owner, project['id'], budget_usd=2, confirm=True)
    assert lowered['budget_usd'] == 2


async def test_resuming_a_paused_run_spends_like_a_launch(orm: str) -> None:
    owner = await auth.create_user('olga@example.com', 'a long password')
    project = await projects.create_project(owner, name='vision', budget_usd=1)
    paused, _ = await runs.create_run(owner, project['id'], name='paused job')
    busy, _ = await runs.create_run(owner, project['id'], name='running job')
    # external runs have no job to wake: what is checked is the budget, before anything is asked of a cloud
    await Run.filter(id=paused['id']).update(status=RunStatus.PAUSED, price_per_hour=100)
    await Run.filter(id=busy['id']).update(status=RunStatus.RUNNING, price_per_hour=100)  # $0.83 per lookahead

    with pytest.raises(ServiceError, match='too little is left'):
        await run_control.act(owner, paused['id'], 'resume')
    assert (await Run.get(id=paused['id'])).status == RunStatus.PAUSED
    await Run.filter(id=busy['id']).update(status=RunStatus.STOPPED)
    assert (await run_control.act(owner, paused['id'], 'resume'))['status'] == 'running'


async def test_a_project_whose_jobs_still_run_cannot_be_deleted(orm: str) -> None:
    owner = await auth.create_user('olga@example.com', 'a long password')
    project = await projects.create_project(owner, name='vision', budget_usd=10)
    created, _ = await runs.create_run(owner, project['id'], name='on a gpu')
    await Run.filter(id=created['id']).update(status=RunStatus.CANCELLED, provider='novita', job_ref='inst-1',
                                              provider_state='running')  # cancelled, its instance not freed yet
    with pytest.raises(ServiceError, match=rf'run {created["id"]} "on a gpu"'):
        await projects.delete_project(owner, project['id'])
    assert await Run.exists(id=created['id'])
    await Run.filter(id=created['id']).update(provider_state='released')
    await projects.delete_project(owner, project['id'])


async def test_a_cost_limit_smaller_than_a_stop_costs_is_refused_like_the_budget(orm: str, paid_local: None) -> None:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    project = await projects.create_project(admin, name='roomy', budget_usd=1000.0)
    # at $100/h a stop (10 s of grace + 4 polls of 5 s) costs $0.83: a $0.50 limit would stop the run at once
    with pytest.raises(ServiceError) as refused:
        await runs.create_run(admin, project['id'], name='tiny limit', provider='local', spec=LOCAL_JOB,
                              limits={'max_cost_usd': 0.5})
    assert refused.value.status_code == 422
    assert refused.value.message == ('A cost limit of $0.50 is too low for a run at $100.00/h: stopping it takes '
                                     'about 30 s, which costs $0.83: set a limit above that.')
    assert await Run.filter(project_id=project['id']).count() == 0  # nothing stored
    ok, _ = await runs.create_run(admin, project['id'], name='room to stop', provider='local', spec=LOCAL_JOB,
                                  limits={'max_cost_usd': 2.0})
    assert ok['limits']['max_cost_usd'] == 2.0


async def test_a_project_with_a_run_waiting_to_launch_cannot_be_deleted(orm: str, paid_local: None) -> None:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    project = await projects.create_project(admin, name='launching', budget_usd=100.0)
    await runs.create_run(admin, project['id'], name='next', provider='local', spec=LOCAL_JOB)  # queued
    with pytest.raises(ServiceError) as refused:  # its job would appear with no run to stop it
        await projects.delete_project(admin, project['id'])
    assert refused.value.status_code == 409 and 'next' in refused.value.message
