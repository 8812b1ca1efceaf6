"""Signing in and out, first-run setup, API keys and user management, as a person does it in the browser."""

import pytest
from nicegui import ui
from nicegui.testing import User

from models import ApiKey, Role
from models import User as UserModel
from services import auth
from services.login_throttle import LoginThrottle
from tests.conftest import sign_in
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, Clock


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
    await admin.should_see('User added', retries=50)  # hashing the password takes a moment, off the event loop
    await admin.should_see('bob@example.com')

    bob = create_user()
    await sign_in(bob, 'bob@example.com', 'bobs password')
    await bob.should_not_see('/admin/users')  # no admin menu for members
    await bob.open('/admin/users')
    await bob.should_see('Only admins manage users.')


@pytest.mark.parametrize('target', ['/%5Cevil.example/x', '/%09/evil.example/x', '/%0A/evil.example/x',
                                    '//evil.example/x', 'https://evil.example/x', 'javascript:alert(1)'])
async def test_sign_in_never_leaves_the_site(app_env: dict, user: User, target: str) -> None:
    await user.open(f'/login?redirect_to={target}')
    user.find('Email').type(ADMIN_EMAIL)
    user.find('Password').type(ADMIN_PASSWORD)
    user.find(kind=ui.button, content='Log in').click()
    await user.should_see('New project', retries=50)
    assert user.back_history[-1] == '/projects'


async def test_sign_in_returns_to_the_page_asked_for(app_env: dict, user: User) -> None:
    await user.open('/settings')  # sends us to /login?redirect_to=/settings
    user.find('Email').type(ADMIN_EMAIL)
    user.find('Password').type(ADMIN_PASSWORD)
    user.find(kind=ui.button, content='Log in').click()
    await user.should_see('API keys', retries=50)
    assert user.back_history[-1] == '/settings'


async def test_a_demoted_admins_open_tab_cannot_add_users(admin: User) -> None:
    other = await auth.create_user('other@example.com', 'other password', role=Role.ADMIN)
    await admin.open('/admin/users')
    root = await UserModel.get(email=ADMIN_EMAIL)
    await UserModel.filter(id=root.id).update(role=Role.MEMBER)  # e.g. by the other admin, from another tab

    admin.find('Email').type('eve@example.com')
    admin.find('Password').type('eves password')
    admin.find(kind=ui.button, content='Add user').click()
    await admin.should_see('Only admins add users.', retries=50)
    await admin.should_see('Only admins manage users.', retries=50)  # the page reloads as a member sees it
    assert not await UserModel.exists(email='eve@example.com')
    assert (await UserModel.get(id=other.id)).is_admin


async def test_a_deactivated_admins_open_tab_is_sent_to_sign_in(admin: User) -> None:
    other = await auth.create_user('other@example.com', 'other password', role=Role.ADMIN)
    await admin.open('/admin/users')
    await auth.update_user((await UserModel.get(email=ADMIN_EMAIL)).id, actor=other, is_active=False)

    admin.find('Email').type('eve@example.com')
    admin.find('Password').type('eves password')
    admin.find(kind=ui.button, content='Add user').click()
    await admin.should_see('Log in', retries=50)
    await admin.should_see('Your session has ended: sign in again.')
    assert not await UserModel.exists(email='eve@example.com')


async def test_a_name_too_long_shows_a_hint(admin: User) -> None:
    await admin.open('/admin/users')
    admin.find('Email').type('bob@example.com')
    admin.find('Name').type('b' * 101)
    admin.find('Password').type('bobs password')
    admin.find(kind=ui.button, content='Add user').click()
    await admin.should_see('A name can have at most 100 characters.', retries=50)
    assert not await UserModel.exists(email='bob@example.com')


async def test_an_admin_resets_a_password(admin: User, create_user) -> None:
    member = await auth.create_user('bob@example.com', 'bobs password')
    bob = create_user()
    await sign_in(bob, 'bob@example.com', 'bobs password')

    await admin.open('/admin/users')
    admin.find(marker=f'reset-password-{member.id}').click()
    await admin.should_see('New password for bob@example.com')
    admin.find(kind=ui.input, content='New password').type('        ')
    admin.find(marker='confirm-reset').click()
    await admin.should_see('The password needs at least 8 characters', retries=50)
    admin.find(marker=f'reset-password-{member.id}').click()
    await admin.should_see('New password for bob@example.com')
    admin.find(kind=ui.input, content='New password').type('a new password')
    admin.find(marker='confirm-reset').click()
    await admin.should_see('Password of bob@example.com reset', retries=50)

    await bob.open('/projects')  # Bob's browser was signed out
    await bob.should_see('Log in')
    await sign_in(bob, 'bob@example.com', 'a new password')


async def test_repeated_wrong_passwords_make_the_page_wait(app_env: dict, user: User,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(auth, 'throttle', LoginThrottle(clock=clock))
    await user.open('/login')
    user.find('Email').type(ADMIN_EMAIL)
    user.find('Password').type('wrong password')
    user.find(kind=ui.button, content='Log in').click()
    await user.should_see('Wrong email or password.', retries=50)
    user.find('Password').clear().type(ADMIN_PASSWORD)
    user.find(kind=ui.button, content='Log in').click()
    await user.should_see('Too many failed sign-ins: try again in 1 s.', retries=50)
    clock.now += 1
    user.find(kind=ui.button, content='Log in').click()
    await user.should_see('New project', retries=50)
