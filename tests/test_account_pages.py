"""The account part of /settings, as a person uses it: change the password, see where you are signed in and sign
other browsers out."""

import pytest
from nicegui import ui
from nicegui.testing import User

from services import auth
from services.login_throttle import LoginThrottle
from tests.conftest import sign_in
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, Clock


async def test_change_your_password_signs_other_browsers_out(admin: User, create_user,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    laptop = create_user()
    await sign_in(laptop, ADMIN_EMAIL, ADMIN_PASSWORD)
    owner = await auth.authenticate(ADMIN_EMAIL, ADMIN_PASSWORD, address='192.0.2.1')
    login_token = await auth.issue_login_token(owner)
    clock = Clock()
    monkeypatch.setattr(auth, 'throttle', LoginThrottle(clock=clock))

    await admin.open('/settings')
    admin.find('Current password').type('wrong password')
    admin.find('New password').type('a new password')
    admin.find('Repeat the new password').type('a new password')
    admin.find(kind=ui.button, content='Change password').click()
    await admin.should_see('Your current password is not right.', retries=50)
    admin.find('Current password').clear().type(ADMIN_PASSWORD)
    admin.find(kind=ui.button, content='Change password').click()
    await admin.should_see('Too many failed sign-ins: try again in 1 s.', retries=50)  # no quick guessing
    clock.now += 1

    admin.find('Repeat the new password').clear().type('another password')
    admin.find(kind=ui.button, content='Change password').click()
    await admin.should_see('The new passwords do not match.')
    admin.find('Repeat the new password').clear().type('a new password')
    admin.find(kind=ui.button, content='Change password').click()
    await admin.should_see('Password changed', retries=50)

    await admin.open('/projects')  # this browser stays signed in ...
    await admin.should_see('New project')
    await laptop.open('/projects')  # ... the other one does not, nor the login token
    await laptop.should_see('Log in')
    assert await auth.user_for_token(login_token) is None
    await sign_in(laptop, ADMIN_EMAIL, 'a new password')


async def test_see_and_revoke_your_other_sessions(admin: User, create_user) -> None:
    laptop = create_user()
    await sign_in(laptop, ADMIN_EMAIL, ADMIN_PASSWORD)
    await laptop.open('/settings')

    await admin.open('/settings')
    await admin.should_see('this browser')
    admin.find(kind=ui.button, content='Revoke').click()  # the only one: the laptop's session
    await admin.should_see('Sign out the browser session "browser at 127.0.0.1"?')
    admin.find(marker='confirm').click()
    await admin.should_not_see(kind=ui.button, content='Revoke', retries=50)

    laptop.find('Key name').type('ci')  # the laptop's open tab acts: it is sent to sign in
    laptop.find(kind=ui.button, content='Create key').click()
    await laptop.should_see('Log in', retries=150)  # a busy machine's four shards: 5 s was not always enough
    await laptop.should_see('Your session has ended: sign in again.')
    await admin.open('/settings')
    await admin.should_see('this browser')


async def test_log_out_ends_the_session(admin: User) -> None:
    await admin.open('/settings')
    owner = await auth.authenticate(ADMIN_EMAIL, ADMIN_PASSWORD, address='127.0.0.1')
    assert [key.kind for key in await auth.list_tokens(owner)] == ['session']
    admin.find('Log out').click()
    await admin.should_see('Log in')
    assert await auth.list_tokens(owner) == []
