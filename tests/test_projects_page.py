"""What a user does on /projects: create, edit, archive, delete, load samples, and see others' changes live."""

import pytest
from nicegui import ui
from nicegui.testing import User

from models import Metric, Project, Run, RunStatus
from services import lifecycle, projects, sample_data
from tests.helpers import eventually, without_local_jobs


async def test_empty_state_loads_sample_data_once(admin: User, monkeypatch: pytest.MonkeyPatch) -> None:
    without_local_jobs(monkeypatch)  # live sample runs are real jobs: tests/test_sample_data.py has them
    await admin.open('/projects')
    await admin.should_see('No projects yet')
    admin.find(kind=ui.button, content='Load sample data').click()  # the empty state's (admins have a menu's too)
    await admin.should_see('Loaded 3 sample projects', retries=100)
    await admin.should_see('LLM: Llama fine-tune')
    await admin.should_not_see('No projects yet')
    statuses = set(await Run.all().values_list('status', flat=True))
    assert statuses == set(lifecycle.FINISHED)  # runs in every finished state, none in one nothing moves on
    assert await Metric.filter(name='train/loss').count() > 3_000  # a few hundred points a run that trained

    assert await sample_data.load(await _admin()) == []  # loading again changes nothing
    assert await Project.all().count() == 3


async def test_create_project_shows_it_at_once(admin: User) -> None:
    await admin.open('/projects')
    admin.find('New project').click()
    await admin.should_see('Name', retries=50)
    admin.find('Name').type('Vision baseline')
    admin.find('Budget (USD)').clear().type('120')
    admin.find(kind=ui.button, content='Create').click()
    await admin.should_see('Vision baseline')
    await admin.should_see('$0.00 of $120.00 (0%)')
    await admin.should_not_see('No projects yet')
    assert await Project.filter(name='Vision baseline').count() == 1


async def test_bad_name_keeps_the_dialog_open_with_a_hint(admin: User) -> None:
    owner = await _admin()
    await projects.create_project(owner, name='Taken')
    await admin.open('/projects')
    admin.find('New project').click()
    await admin.should_see('Name')
    admin.find('Name').type('Taken')
    admin.find(kind=ui.button, content='Create').click()
    await admin.should_see('You already have a project named "Taken"', retries=50)
    assert await Project.all().count() == 1


async def test_edit_archive_and_delete(admin: User) -> None:
    project = await projects.create_project(await _admin(), name='Speech', budget_usd=10)
    await admin.open('/projects')
    await admin.should_see('Speech')

    admin.find(kind=ui.button, content='Archive').click()
    await admin.should_see('Restore')
    async def archived() -> bool:
        return (await Project.get(id=project['id'])).status == 'archived'
    await eventually(archived, tries=50, every_s=0.02)

    admin.find(kind=ui.button, content='Restore').click()
    await admin.should_see('Archive')

    admin.find(marker='edit-project').click()
    await admin.should_see('Edit "Speech"')
    admin.find('Name').clear().type('Speech v2')
    admin.find(kind=ui.button, content='Save').click()
    await admin.should_see('Saved')
    assert (await Project.get(id=project['id'])).name == 'Speech v2'

    admin.find(marker='delete-project').click()
    await admin.should_see('Delete "Speech v2"? This cannot be undone.')
    admin.find(marker='confirm').click()
    await admin.should_see('Deleted "Speech v2"')
    assert not await Project.exists(id=project['id'])


async def test_changes_from_elsewhere_show_without_reload(admin: User) -> None:
    await admin.open('/projects')
    await admin.should_see('No projects yet')
    owner = await _admin()
    project = await projects.create_project(owner, name='Made through the API')  # as another tab or the API would
    await admin.should_see('Made through the API')
    await projects.update_project(owner, project['id'], name='Renamed elsewhere', budget_usd=50)
    await admin.should_see('Renamed elsewhere')
    await admin.should_see('$0.00 of $50.00 (0%)')
    await projects.delete_project(owner, project['id'])
    await admin.should_not_see('Renamed elsewhere')
    await admin.should_see('No projects yet')


async def test_lowering_a_budget_below_what_runs_burn_asks_first(admin: User) -> None:
    from services import runs
    project = await projects.create_project(await _admin(), name='Costly', budget_usd=100)
    created, _ = await runs.create_run(await _admin(), project['id'], name='big job')
    await Run.filter(id=created['id']).update(status=RunStatus.RUNNING, price_per_hour=360)
    await admin.open('/projects')
    admin.find(marker='edit-project').click()
    await admin.should_see('Edit "Costly"')
    admin.find('Budget (USD)').clear().type('2')
    admin.find(kind=ui.button, content='Save').click()
    await admin.should_see('It stops 1 billing run: "big job"')
    admin.find(marker='dismiss').click()  # the question's Cancel: nothing is saved
    await admin.should_see('Not saved: the budget stays as it was.')
    assert float((await Project.get(id=project['id'])).budget_usd) == 100

    admin.find(kind=ui.button, content='Save').click()
    await admin.should_see('It stops 1 billing run: "big job"')
    admin.find(marker='confirm').click()
    await admin.should_see('Saved')
    assert float((await Project.get(id=project['id'])).budget_usd) == 2


async def _admin():
    from models import User as UserModel
    return await UserModel.get(role='admin')

