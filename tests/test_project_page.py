"""/projects/{id}: the header with the budget, the runs table, members, and live changes; /status."""

import pytest
from nicegui import ui
from nicegui.testing import User

from components.runs_table import RunsTable
from models import Project, Run, RunStatus
from models import User as UserModel
from services import projects, sample_data
from tests.helpers import ADMIN_EMAIL, without_local_jobs


async def test_header_runs_and_empty_state(admin: User, monkeypatch: pytest.MonkeyPatch) -> None:
    without_local_jobs(monkeypatch)
    owner = await UserModel.get(email=ADMIN_EMAIL)
    empty = await projects.create_project(owner, name='Empty', budget_usd=40)
    await admin.open(f'/projects/{empty["id"]}')
    await admin.should_see('$0.00 of $40.00 (0%)')
    await admin.should_see('No runs yet', retries=5)

    await sample_data.load(owner)
    project = await Project.get(name='LLM: Llama fine-tune')
    await admin.open(f'/projects/{project.id}')
    await admin.should_see('Instruction tuning of a 7B model with LoRA.')
    table = next(iter(admin.find(RunsTable).elements))
    llm = next(sample for sample in sample_data.SAMPLES if sample.name == 'LLM: Llama fine-tune')
    assert {row['name'] for row in table.rows} == {run.name for run in llm.runs} >= {'lora-r64', 'full-ft-8xH100'}
    stopped = next(row for row in table.rows if row['name'] == 'lora-r64')
    assert stopped['status'] == 'stopped' and 0 < stopped['progress'] < 1 and stopped['cost'].startswith('$')


async def test_edits_and_deletion_elsewhere_show_at_once(admin: User) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Live', budget_usd=10)
    await admin.open(f'/projects/{project["id"]}')
    await admin.should_see('$0.00 of $10.00 (0%)')
    await projects.update_project(owner, project['id'], name='Live, renamed', budget_usd=20)
    await admin.should_see('Live, renamed')
    await admin.should_see('$0.00 of $20.00 (0%)')
    await projects.delete_project(owner, project['id'])
    await admin.should_see('This project was deleted.')


async def test_unknown_project_says_so(admin: User) -> None:
    await admin.open('/projects/4242')
    await admin.should_see('Project 4242 not found.')


async def test_owner_adds_and_removes_members(admin: User) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Team')
    from services import auth
    await auth.create_user('bob@example.com', 'bobs password')
    await admin.open(f'/projects/{project["id"]}')
    admin.find('Members').click()
    admin.find('Email').type('nobody@example.com')
    admin.find(kind=ui.button, content='Add member').click()
    await admin.should_see('No user has the email nobody@example.com')
    admin.find('Email').clear().type('bob@example.com')
    admin.find(kind=ui.button, content='Add member').click()
    await admin.should_see('Added bob@example.com as viewer')
    assert [m.email for m in await projects.members(owner, project['id'])] == [ADMIN_EMAIL, 'bob@example.com']
    admin.find(marker='remove-member').click()
    await admin.should_not_see(marker='remove-member')
    assert [m.email for m in await projects.members(owner, project['id'])] == [ADMIN_EMAIL]


async def test_status_page_checks_the_connections(admin: User) -> None:
    await admin.open('/status')
    await admin.should_see('Database')
    await admin.should_see('answered in', retries=20)
    await admin.should_see('disabled by TRAINBOARD_SCHEDULER_ENABLED')


@pytest.fixture
def scheduler_on(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('TRAINBOARD_SCHEDULER_ENABLED', 'true')


async def test_status_page_says_which_process_leads(scheduler_on: None, admin: User, backend: str) -> None:
    await admin.open('/status')
    for job in ('poll-providers', 'copy-job-logs', 'fetch-gpu-metrics', 'keep-run-logs'):
        await admin.should_see(job)
    if backend == 'postgres':  # several processes may share it: one leads
        await admin.should_see('; this process leads')
    else:
        await admin.should_not_see('leads')


async def test_runs_in_every_state_have_consistent_steps(admin: User, monkeypatch: pytest.MonkeyPatch) -> None:
    without_local_jobs(monkeypatch)
    owner = await UserModel.get(email=ADMIN_EMAIL)
    await sample_data.load(owner)
    for run in await Run.all().prefetch_related('steps'):
        steps = sorted(run.steps, key=lambda s: s.index)
        assert [s.name for s in steps] == ['provisioning', 'setup', 'training', 'evaluation', 'upload']
        if run.status == RunStatus.SUCCEEDED:
            assert all(s.status == 'succeeded' for s in steps) and run.progress == 1.0
        if run.started_at is None:  # ended before it ran: nothing after provisioning ran
            assert all(s.status == 'skipped' for s in steps[1:])
        assert not [s for s in steps if s.status in {'running', 'pending'}]  # the run has ended: so have its steps
