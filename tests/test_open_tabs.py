"""An open tab keeps no power its user lost: services re-read who asks, and the tab follows the change."""

from nicegui.testing import User

from models import Project, Role
from services import auth, projects
from tests.conftest import sign_in


async def test_a_tab_of_a_removed_member_no_longer_shows_the_project(app_env: dict, user: User) -> None:
    owner = await auth.create_user('olga@example.com', 'a long password')
    await auth.create_user('mia@example.com', 'a long password')
    project = await projects.create_project(owner, name='secret plans', description='the roadmap')
    await projects.add_member(owner, project['id'], 'mia@example.com', 'editor')
    await sign_in(user, 'mia@example.com', 'a long password')
    await user.open(f'/projects/{project["id"]}')
    await user.should_see('the roadmap')

    member = await auth.refreshed(await _user('mia@example.com'))
    await projects.remove_member(owner, project['id'], member.id)
    await user.should_see(f'Project {project["id"]} not found.', retries=50)
    await user.should_not_see('the roadmap')


async def test_a_demoted_admin_cannot_act_from_a_tab_opened_before(app_env: dict, user: User) -> None:
    admin = await auth.create_user('root2@example.com', 'a long password', role=Role.ADMIN)
    page_user = admin  # what a page built before the demotion holds
    first_admin = await _user('admin@example.com')
    await auth.update_user(admin.id, actor=first_admin, role=Role.MEMBER)
    other = await projects.create_project(first_admin, name='not yours')
    try:
        await projects.update_project(page_user, other['id'], name='taken over')
    except Exception as error:  # noqa: BLE001 - the kind is asserted below
        assert 'not found' in str(error)
    else:
        raise AssertionError('a demoted admin still renamed a project')
    assert (await Project.get(id=other['id'])).name == 'not yours'
    await auth.update_user(admin.id, actor=first_admin, is_active=False)
    try:
        await projects.visible_projects(page_user)
    except Exception as error:  # noqa: BLE001
        assert 'deactivated' in str(error)
    else:
        raise AssertionError('a deactivated user still listed projects')


async def _user(email: str):
    from models import User as UserModel
    return await UserModel.get(email=email)


async def test_reactivating_a_user_brings_back_none_of_their_old_tokens(app_env: dict, user: User) -> None:
    first_admin = await _user('admin@example.com')
    member = await auth.create_user('bob@example.com', 'a long password')
    _, key = await auth.issue_token(member, name='laptop')
    login = await auth.issue_login_token(member)
    await auth.update_user(member.id, actor=first_admin, is_active=False)
    await auth.update_user(member.id, actor=first_admin, is_active=True)  # perhaps deactivated after a compromise
    assert await auth.user_for_token(key) is None and await auth.user_for_token(login) is None
