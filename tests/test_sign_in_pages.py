"""Signing in and out, first-run setup, API keys and user management, as a person does it in the browser."""

import pytest
from nicegui import ui
from nicegui.testing import User

from models import ApiKey
from models import User as UserModel
from services import auth
from tests.conftest import sign_in
from tests.helpers import ADMIN_EMAIL


async def test_pages_send_strangers_to_login(app_env: dict, user: User) -> None:
    await user.open('/projects')
    await user.should_see('Log in')
    await user.should_not_see('New project')


async def test_wrong_password_shows_a_hint(app_env: dict, user: User) -> None:
    await user.open('/login')
    user.find('Email').type(ADMIN_EMAIL)
    user.find('Password').type('wrong password')
    user.find(kind=ui.button, content='Log in').click()
    await user.should_see('Wrong email or password.', retries=20)
    await user.should_not_see('New project')


async def test_log_in_and_out(admin: User) -> None:
    await admin.should_see(ADMIN_EMAIL)
    admin.find('Log out').click()
    await admin.should_see('Log in')
    await admin.open('/projects')
    await admin.should_see('Log in')


async def test_first_admin_through_setup(app_env: dict, monkeypatch: pytest.MonkeyPatch, user: User,
                                         capsys: pytest.CaptureFixture) -> None:
    # the user fixture already ran main.py with TRAINBOARD_ADMIN_*; start over without them
    await UserModel.all().delete()
    monkeypatch.delenv('TRAINBOARD_ADMIN_EMAIL')
    import settings
    settings.reload()
    await auth.bootstrap()
    token = capsys.readouterr().out.split('setup token:')[1].split()[0]

    await user.open('/login')  # sends us on to /setup
    await user.should_see('Create the first admin')
    user.find('Setup token').type('wrong')
    user.find('Email').type('ada@example.com')
    user.find('Password').type('a long password')
    user.find(kind=ui.button, content='Create admin').click()
    await user.should_see('That setup token is wrong')
    user.find('Setup token').clear().type(token)
    user.find(kind=ui.button, content='Create admin').click()
    await user.should_see('New project', retries=20)
    assert (await UserModel.get(email='ada@example.com')).is_admin


async def test_api_keys_are_shown_once_and_revocable(admin: User) -> None:
    await admin.open('/settings')
    await admin.should_see('No API keys yet.')
    admin.find('Key name').type('laptop')
    admin.find(kind=ui.button, content='Create key').click()
    await admin.should_see('Copy this key now')
    shown = next(iter(admin.find('New key').elements)).value
    assert shown.startswith('tb_')
    owner = await UserModel.get(email=ADMIN_EMAIL)
    assert (await auth.user_for_token(shown)).id == owner.id
    assert not await ApiKey.filter(token_hash=shown).exists()  # only the hash is stored

    admin.find(kind=ui.button, content='Revoke').click()
    await admin.should_see('Revoke the key "laptop"?')
    admin.find(marker='confirm').click()
    await admin.should_see('No API keys yet.')
    assert await auth.user_for_token(shown) is None


async def test_admins_add_users_who_then_sign_in(admin: User, create_user) -> None:
    await admin.should_see('/admin/users')  # the admin menu
    await admin.open('/admin/users')
    admin.find('Email').type('bob@example.com')
    admin.find('Name').type('Bob')
    admin.find('Password').type('bobs password')
    admin.find(kind=ui.button, content='Add user').click()
    await admin.should_see('User added')
    await admin.should_see('bob@example.com')

    bob = create_user()
    await sign_in(bob, 'bob@example.com', 'bobs password')
    await bob.should_not_see('/admin/users')  # no admin menu for members
    await bob.open('/admin/users')
    await bob.should_see('Only admins manage users.')
