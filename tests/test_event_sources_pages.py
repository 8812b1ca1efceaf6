"""Where people set what the event sources go by: a project's budget alerts and stall grace period in its edit
dialog, and a run's grace period in the New run dialog."""

from nicegui import ui
from nicegui.testing import User

from models import Project, Run
from models import User as UserModel
from services import projects
from tests.helpers import ADMIN_EMAIL


async def test_the_edit_dialog_sets_budget_alerts_and_the_stall_grace(admin: User) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Speech', budget_usd=10)
    await admin.open('/projects')
    admin.find(marker='edit-project').click()
    await admin.should_see('Edit "Speech"')
    alerts = admin.find('Budget alerts (% of the budget)')
    assert next(iter(alerts.elements)).value == '50, 80, 100'  # the defaults, shown
    alerts.clear().type('50, lots')
    admin.find(kind=ui.button, content='Save').click()
    await admin.should_see('Budget alerts: "lots" is not a whole percent')
    alerts.clear().type('50, 2000')
    admin.find(kind=ui.button, content='Save').click()
    await admin.should_see('budget_alerts must be a list of at most 20 whole percents from 1 to 1000')
    assert (await Project.get(id=project['id'])).settings == {}  # nothing saved

    alerts.clear().type('75 90%')
    admin.find('Stop a stalled run after a further … minutes').type('15')
    admin.find(kind=ui.button, content='Save').click()
    await admin.should_see('Saved')
    assert (await Project.get(id=project['id'])).settings == {'budget_alerts': [75, 90], 'stall_grace_s': 900}


async def test_the_new_run_dialog_sets_the_stall_grace(admin: User) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Launch')
    await admin.open(f'/projects/{project["id"]}')
    admin.find('New run').click()
    await admin.should_see('This run will cost $0.00 per hour while it runs.')
    admin.find('Command').clear().type('sleep 30')
    admin.find('Stop after a further … minutes').type('5')
    admin.find(kind=ui.button, content='Launch').click()
    await admin.should_see('"Stop after a further … minutes" counts from a stall: set a stall timeout too.')
    admin.find('Stall timeout (minutes)').type('10')
    admin.find(kind=ui.button, content='Launch').click()
    await admin.should_see(marker='run-cancel', retries=20)  # on the new run's page
    await admin.should_see('stall after 10m 00s, fail 5m 00s later')
    run = await Run.get(project_id=project['id'])
    assert (run.stall_timeout_s, run.stall_grace_s) == (600, 300)
    admin.find(marker='run-cancel').click()
    await admin.should_see('Cancel this run?')
    admin.find(marker='confirm').click()
    await admin.should_see('Cancel requested')
