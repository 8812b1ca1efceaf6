"""Who may launch on this machine: admins by default, project editors with TRAINBOARD_LOCAL_RUNS=members, nobody
with `off`. A local job runs a shell command on the server's machine, so it is not every member's to start."""

import time
from collections.abc import Callable

import pytest
from nicegui import ui
from nicegui.testing import User as Browser

import settings
from components.new_run_dialog import NOTHING_TO_LAUNCH_ON
from models import Role, Run, RunStatus, User
from services import auth, projects, run_control, runs
from services.errors import Forbidden
from tests import helpers
from tests.conftest import sign_in


def allow_local_runs(monkeypatch: pytest.MonkeyPatch, who: str) -> None:
    monkeypatch.setenv('TRAINBOARD_LOCAL_RUNS', who)
    settings.reload()


async def people() -> tuple[User, User]:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    member = await auth.create_user('ada@example.com', 'a long password')
    return admin, member


async def test_by_default_only_admins_launch_locally(orm: str) -> None:
    admin, member = await people()
    project = await projects.create_project(member, name='mine')  # the member owns it
    with pytest.raises(Forbidden, match='TRAINBOARD_LOCAL_RUNS=members'):
        await runs.create_run(member, project['id'], name='shell', provider='local', spec={'command': 'id'})
    assert not await Run.exists()
    assert (await runs.may_launch_local(admin), await runs.may_launch_local(member)) == (True, False)
    created, _ = await runs.create_run(admin, project['id'], name='admin', provider='local', spec={'command': 'id'})
    assert created['provider'] == 'local'
    external, _ = await runs.create_run(member, project['id'], name='elsewhere')  # other runs stay the member's
    assert external['provider'] == 'external'


async def test_members_setting_lets_project_editors_launch_locally(orm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    allow_local_runs(monkeypatch, 'members')
    admin, member = await people()
    viewer = await auth.create_user('bob@example.com', 'a long password')
    project = await projects.create_project(member, name='mine')
    await projects.add_member(member, project['id'], viewer.email, 'viewer')
    created, _ = await runs.create_run(member, project['id'], name='local', provider='local', spec={'command': 'id'})
    assert created['provider'] == 'local' and await runs.may_launch_local(member)
    with pytest.raises(Forbidden, match='editor'):  # the project's roles still count
        await runs.create_run(viewer, project['id'], name='local', provider='local', spec={'command': 'id'})


async def test_off_refuses_even_admins(orm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    allow_local_runs(monkeypatch, 'off')
    admin, _ = await people()
    project = await projects.create_project(admin, name='ops')
    with pytest.raises(Forbidden, match='TRAINBOARD_LOCAL_RUNS'):
        await runs.create_run(admin, project['id'], name='shell', provider='local', spec={'command': 'id'})
    assert not await runs.may_launch_local(admin)
    assert not await Run.exists()


async def test_a_demoted_admin_s_old_session_cannot_launch_or_retry_locally(orm: str) -> None:
    admin, member = await people()
    project = await projects.create_project(admin, name='ops')
    created, _ = await runs.create_run(admin, project['id'], name='local', provider='local', spec={'command': 'id'})
    await Run.filter(id=created['id']).update(status=RunStatus.FAILED)
    await projects.add_member(admin, project['id'], member.email, 'editor')
    await User.filter(id=admin.id).update(role=Role.MEMBER)  # `admin` is the copy a page or token still holds
    with pytest.raises(Forbidden):
        await runs.create_run(admin, project['id'], name='again', provider='local', spec={'command': 'id'})
    with pytest.raises(Forbidden):
        await run_control.act(member, created['id'], 'retry')
    assert await Run.filter(project_id=project['id']).count() == 1


def test_the_api_answers_403_to_a_member_s_local_launch(server: helpers.Server) -> None:
    admin = server.client()
    email = f'member-{time.time_ns()}@example.com'
    assert admin.post('/users', json={'email': email, 'password': 'a long password'}).status_code == 201
    member = server.client(server.token(email, 'a long password'))
    project = member.post('/projects', json={'name': f'mine-{time.time_ns()}'}).json()
    answer = member.post(f'/projects/{project["id"]}/runs',
                         json={'name': 'shell', 'provider': 'local', 'command': 'id; cat ../../secret.key; env'})
    assert answer.status_code == 403 and 'TRAINBOARD_LOCAL_RUNS=members' in answer.json()['detail']
    assert member.get(f'/projects/{project["id"]}/runs').json() == []
    assert 'local' not in {p['name'] for p in member.get('/providers').json()}  # nor is it offered
    assert 'local' in {p['name'] for p in admin.get('/providers').json()}


async def test_the_new_run_form_offers_this_machine_only_to_whom_may_launch_there(
        admin: Browser, create_user: Callable[[], Browser]) -> None:
    member = await auth.create_user('ada@example.com', 'a long password')
    project = await projects.create_project(member, name='mine')
    await admin.open(f'/projects/{project["id"]}')
    admin.find('New run').click()
    await admin.should_see('This machine (local)')

    ada = create_user()
    await sign_in(ada, 'ada@example.com', 'a long password')
    await ada.open(f'/projects/{project["id"]}')
    ada.find('New run').click()
    await ada.should_see(NOTHING_TO_LAUNCH_ON)
    assert all('local' not in element.options for element in ada.find(ui.select).elements)


def test_local_settings_refuse_what_would_undo_them(tmp_path) -> None:
    with pytest.raises(ValueError, match='TRAINBOARD_LOCAL_RUNS must be one of admins, members, off'):
        settings.Settings.from_env({'TRAINBOARD_LOCAL_RUNS': 'everyone'})
    with pytest.raises(ValueError, match='must be outside the data dir'):
        settings.Settings.from_env({'TRAINBOARD_DATA_DIR': str(tmp_path),
                                    'TRAINBOARD_LOCAL_JOBS_DIR': str(tmp_path / 'jobs')})
    defaults = settings.Settings.from_env({'TRAINBOARD_DATA_DIR': str(tmp_path)})
    assert (defaults.local_runs, defaults.local_run_as) == ('admins', 'nobody')
    assert not defaults.local_jobs_dir.is_relative_to(tmp_path)
