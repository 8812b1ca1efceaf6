"""Accounts at the service layer: password rules, changing and resetting passwords, your own tokens and sessions,
and admins whose role or account changed after their tab or token was opened."""

import pytest

from models import ApiKey, AuditEntry, Role, User
from services import auth
from services.auth import TokenKind
from services.errors import Forbidden, Invalid, NotFound, Unauthorized
from services.login_throttle import LoginThrottle, TooManyAttempts
from tests.helpers import Clock

HOME = '192.0.2.1'
PASSWORD = 'a long password'


@pytest.fixture
async def admin(orm: str) -> User:
    return await auth.create_user('root@example.com', 'root password', role=Role.ADMIN)


@pytest.mark.parametrize('password, problem', [
    (' ' * 8, 'at least 8'),
    (' ' * 40, 'at least 8'),
    ('\t\n short \t\n', 'at least 8'),
    ('lovelace1815@example.com', 'email'),
    ('LOVELACE1815', 'email'),
    ('x' * 1025, 'at most 1024'),
])
async def test_weak_passwords_are_refused(orm: str, password: str, problem: str) -> None:
    with pytest.raises(Invalid, match=problem):
        await auth.create_user('lovelace1815@example.com', password)
    assert not await User.exists()


async def test_names_have_at_most_100_characters(admin: User) -> None:
    with pytest.raises(Invalid, match='at most 100 characters'):
        await auth.create_user('bob@example.com', PASSWORD, name='b' * 101, actor=admin)
    assert not await User.exists(email='bob@example.com')
    assert (await auth.create_user('bob@example.com', PASSWORD, name='b' * 100, actor=admin)).name == 'b' * 100


async def test_change_your_password(orm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(auth, 'throttle', LoginThrottle(clock=clock))
    ada = await auth.create_user('ada@example.com', PASSWORD)
    this_tab = await auth.session_for(await auth.open_session(ada, address=HOME))
    other_tab = await auth.open_session(ada, address=HOME)
    login_token = await auth.issue_login_token(ada)
    _, api_key = await auth.issue_token(ada, name='ci')

    with pytest.raises(Invalid, match='current password is not right'):
        await auth.change_password(ada, 'wrong', 'a new password', address=HOME, keep_token_id=this_tab.token_id)
    with pytest.raises(TooManyAttempts):  # a stolen session does not get to guess the password quickly
        await auth.change_password(ada, 'guess', 'a new password', address=HOME, keep_token_id=this_tab.token_id)
    clock.now += 1
    with pytest.raises(Invalid, match='at least 8'):
        await auth.change_password(ada, PASSWORD, '        ', address=HOME, keep_token_id=this_tab.token_id)
    assert await auth.user_for_token(login_token) is not None  # nothing changed yet

    await auth.change_password(ada, PASSWORD, 'a new password', address=HOME, keep_token_id=this_tab.token_id)
    assert (await auth.authenticate('ada@example.com', 'a new password', address=HOME)).id == ada.id
    with pytest.raises(Unauthorized):
        await auth.authenticate('ada@example.com', PASSWORD, address='192.0.2.2')
    assert await auth.session_for(other_tab) is None  # other sessions and login tokens end ...
    assert await auth.user_for_token(login_token) is None
    assert await ApiKey.exists(id=this_tab.token_id)  # ... not the one that changed it, nor named keys
    assert await auth.user_for_token(api_key) is not None


async def test_an_admin_resets_a_password(admin: User) -> None:
    bob = await auth.create_user('bob@example.com', PASSWORD, actor=admin)
    session = await auth.open_session(bob, address=HOME)
    login_token = await auth.issue_login_token(bob)
    with pytest.raises(Forbidden, match='Only admins reset passwords'):
        await auth.reset_password(admin.id, 'taken over', actor=bob)
    with pytest.raises(Invalid, match='your current one'):  # not one's own: that needs the current password
        await auth.reset_password(admin.id, 'taken over by a stolen session', actor=admin)
    with pytest.raises(Invalid, match='email'):
        await auth.reset_password(bob.id, 'bob@example.com', actor=admin)
    with pytest.raises(NotFound):
        await auth.reset_password(9999, 'a new password', actor=admin)

    await auth.reset_password(bob.id, 'a new password', actor=admin)
    assert (await auth.authenticate('bob@example.com', 'a new password', address=HOME)).id == bob.id
    assert await auth.session_for(session) is None
    assert await auth.user_for_token(login_token) is None
    assert await AuditEntry.exists(action='user.password_reset', actor_id=admin.id, object_id=str(bob.id))


async def test_list_and_revoke_your_own_tokens_and_sessions(admin: User) -> None:
    ada = await auth.create_user('ada@example.com', PASSWORD, actor=admin)
    session = await auth.open_session(ada, address=HOME)
    login_token = await auth.issue_login_token(ada)
    await auth.issue_token(ada, name='laptop')
    await auth.issue_login_token(admin)

    listed = await auth.list_tokens(ada)
    assert sorted(key.kind for key in listed) == [TokenKind.KEY, TokenKind.LOGIN, TokenKind.SESSION]
    by_kind = {key.kind: key for key in listed}
    with pytest.raises(NotFound):  # someone else's
        await auth.revoke_token(admin, by_kind[TokenKind.LOGIN].id)
    await auth.revoke_token(ada, by_kind[TokenKind.LOGIN].id)
    await auth.revoke_token(ada, by_kind[TokenKind.SESSION].id)
    assert await auth.user_for_token(login_token) is None
    assert await auth.session_for(session) is None
    assert [key.kind for key in await auth.list_tokens(ada)] == [TokenKind.KEY]


async def test_sessions_end_on_sign_out_and_deactivation_and_are_no_bearer_tokens(admin: User) -> None:
    ada = await auth.create_user('ada@example.com', PASSWORD, actor=admin)
    first = await auth.open_session(ada, address=HOME)
    second = await auth.open_session(ada, address=HOME)
    assert (await auth.session_for(first)).user.id == ada.id
    assert await auth.user_for_token(first) is None  # a browser session's secret is not an API token
    await auth.close_session(first)
    assert await auth.session_for(first) is None
    await auth.update_user(ada.id, actor=admin, is_active=False)
    assert await auth.session_for(second) is None


async def test_a_demoted_admin_acts_as_a_member(admin: User) -> None:
    other = await auth.create_user('other@example.com', PASSWORD, role=Role.ADMIN, actor=admin)
    stale = await User.get(id=other.id)  # what a tab loaded before the demotion
    await auth.update_user(other.id, actor=admin, role=Role.MEMBER)
    for action in (auth.create_user('eve@example.com', PASSWORD, role=Role.ADMIN, actor=stale),
                   auth.update_user(other.id, actor=stale, role=Role.ADMIN),
                   auth.reset_password(admin.id, 'taken over', actor=stale),
                   auth.list_users(stale)):
        with pytest.raises(Forbidden, match='Only admins'):
            await action
    assert not await User.exists(email='eve@example.com')
    assert (await User.get(id=other.id)).role == Role.MEMBER


async def test_a_deactivated_user_can_do_nothing(admin: User) -> None:
    other = await auth.create_user('other@example.com', PASSWORD, role=Role.ADMIN, actor=admin)
    key, _ = await auth.issue_token(other, name='laptop')
    await auth.update_user(other.id, actor=admin, is_active=False)
    for action in (auth.create_user('eve@example.com', PASSWORD, actor=other),
                   auth.update_user(admin.id, actor=other, is_active=False),
                   auth.issue_token(other, name='another'),
                   auth.open_session(other, address=HOME),
                   auth.revoke_key(other, key.id),
                   auth.change_password(other, PASSWORD, 'a new password', address=HOME, keep_token_id=None)):
        with pytest.raises(Unauthorized, match='deactivated'):
            await action
    assert not await User.exists(email='eve@example.com')
    assert (await User.get(id=admin.id)).is_active
