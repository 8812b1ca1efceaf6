"""Sign-in rules: passwords, tokens that expire, the one-time setup token (throttling: test_login_throttle.py)."""

from datetime import timedelta

import pytest

import settings
from models import ApiKey, Role, User
from services import auth
from services.errors import Conflict, Invalid, Unauthorized

HOME = '192.0.2.1'


async def test_passwords_are_hashed_with_argon2(orm: str) -> None:
    user = await auth.create_user('Ada@Example.com ', 'a long password')
    assert user.email == 'ada@example.com'
    assert user.password_hash.startswith('$argon2') and 'a long password' not in user.password_hash
    assert (await auth.authenticate('ada@example.com', 'a long password', address=HOME)).id == user.id


async def test_bad_new_users_are_refused(orm: str) -> None:
    await auth.create_user('ada@example.com', 'a long password')
    with pytest.raises(Conflict):
        await auth.create_user('ADA@example.com', 'another password')
    with pytest.raises(Invalid, match='at least 8'):
        await auth.create_user('bob@example.com', 'short')
    with pytest.raises(Invalid, match='valid email'):
        await auth.create_user('not-an-email', 'a long password')
    assert await User.all().count() == 1


async def test_tokens_expire_and_keys_can_be_revoked(orm: str) -> None:
    user = await auth.create_user('ada@example.com', 'a long password')
    token = await auth.issue_login_token(user)
    key = await ApiKey.get(token_hash=auth.hash_token(token))
    assert key.expires_at is not None
    assert timedelta(days=6.9) < key.expires_at - key.created_at <= timedelta(days=7, seconds=1)
    assert (await auth.user_for_token(token)).id == user.id

    _, expired = await auth.issue_token(user, name='old', kind='login', ttl=timedelta(seconds=-1))
    assert await auth.user_for_token(expired) is None
    assert await auth.prune_expired_tokens() == 1

    stored, api_key = await auth.issue_token(user, name='laptop')
    assert api_key not in str(await ApiKey.all().values()) and api_key not in repr(stored)  # stored: its hash
    assert (await auth.user_for_token(api_key)).id == user.id
    await auth.revoke_key(user, stored.id)
    assert await auth.user_for_token(api_key) is None


async def test_deactivated_users_lose_their_tokens(orm: str) -> None:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    user = await auth.create_user('ada@example.com', 'a long password')
    token = await auth.issue_login_token(user)
    await auth.update_user(user.id, actor=admin, is_active=False)
    assert await auth.user_for_token(token) is None
    with pytest.raises(Unauthorized):
        await auth.authenticate('ada@example.com', 'a long password', address=HOME)
    with pytest.raises(Invalid):
        await auth.update_user(admin.id, actor=admin, role=Role.MEMBER)


async def test_setup_token_creates_the_first_admin_once(orm: str, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv('TRAINBOARD_ADMIN_EMAIL', raising=False)
    settings.reload()
    await auth.bootstrap()
    assert auth.needs_setup()
    token = capsys.readouterr().out.split('setup token:')[1].split()[0]
    with pytest.raises(Unauthorized, match='setup token is wrong'):
        await auth.complete_setup('guess', 'ada@example.com', 'a long password')
    admin = await auth.complete_setup(token, 'ada@example.com', 'a long password', 'Ada')
    assert admin.role == Role.ADMIN and not auth.needs_setup()
    with pytest.raises(Conflict):
        await auth.complete_setup(token, 'eve@example.com', 'a long password')
    assert await User.all().count() == 1


async def test_admin_from_the_environment(orm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('TRAINBOARD_ADMIN_EMAIL', 'ops@example.com')
    monkeypatch.setenv('TRAINBOARD_ADMIN_PASSWORD', 'from the environment')
    settings.reload()
    await auth.bootstrap()
    await auth.bootstrap()  # a restart creates no second admin
    assert await User.filter(role='admin').values_list('email', flat=True) == ['ops@example.com']
    assert not auth.needs_setup()
