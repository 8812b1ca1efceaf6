"""Users, passwords, sessions and Bearer tokens.

Passwords are hashed with argon2. Bearer tokens (named API keys and the expiring login tokens of
POST /api/v1/auth/token) are random strings of which only the SHA-256 is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

import settings
from models import ApiKey, Role, User
from services import audit, hub
from services.errors import Conflict, Invalid, NotFound, Unauthorized

log = logging.getLogger(__name__)

TOKEN_PREFIX = 'tb_'
MIN_PASSWORD_LENGTH = 8
EMAIL_PATTERN = re.compile(r'^[^@\s]+@[^@\s]+\.[^@\s]+$')
THROTTLE_BASE_S = 0.5  # a failed login costs 0.5 s, doubling with each further failure, up to THROTTLE_MAX_S
THROTTLE_MAX_S = 8.0
THROTTLE_FORGET_S = 900.0

_hasher = PasswordHasher()
_failures: dict[str, tuple[int, float]] = {}  # email -> (failures in a row, time of the last one)
_setup_token: str | None = None


async def authenticate(email: str, password: str) -> User:
    """Return the active user with these credentials, or raise Unauthorized after a growing delay."""
    email = normalize_email(email)
    await asyncio.sleep(_throttle_delay(email))
    user = await User.get_or_none(email=email, is_active=True)
    if user is None or not _verify(user.password_hash, password):
        _record_failure(email)
        log.info('failed login for %s', email)
        raise Unauthorized('Wrong email or password.')
    _failures.pop(email, None)
    return user


async def refreshed(user: User) -> User:
    """The caller as the database has them now. A tab or token opened before a demotion or a deactivation must not
    keep the powers it had then, so every service call that acts for someone asks this first."""
    fresh = await User.get_or_none(id=user.id, is_active=True)
    if fresh is None:
        raise Unauthorized('Your account has been deactivated or removed: sign in again.')
    return fresh


async def create_user(email: str, password: str, *, name: str = '', role: Role = Role.MEMBER,
                      actor: User | None = None) -> User:
    email = normalize_email(email)
    if not EMAIL_PATTERN.match(email):
        raise Invalid('Enter a valid email address.')
    check_password(password)
    if await User.exists(email=email):
        raise Conflict(f'A user with the email {email} already exists.')
    user = await User.create(email=email, name=name.strip() or email.split('@')[0],
                             password_hash=_hasher.hash(password), role=role)
    await audit.record(actor, 'user.created', 'user', user.id, email=email, role=role.value)
    return user


async def set_password(user: User, password: str) -> None:
    check_password(password)
    user.password_hash = _hasher.hash(password)
    await user.save(update_fields=['password_hash'])


async def update_user(user_id: int, *, actor: User, role: Role | None = None, is_active: bool | None = None) -> User:
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound('No such user.')
    if user.id == actor.id and (role == Role.MEMBER or is_active is False):
        raise Invalid('You cannot demote or deactivate yourself.')
    if role is not None:
        user.role = role
    if is_active is not None:
        user.is_active = is_active
    await user.save()
    await audit.record(actor, 'user.updated', 'user', user.id, role=user.role.value, is_active=user.is_active)
    await hub.publish(hub.Change(kind='user', action='updated', id=user.id))  # their open tabs follow the change
    return user


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f'The password needs at least {MIN_PASSWORD_LENGTH} characters.')


def normalize_email(email: str) -> str:
    return email.strip().lower()


# --- first admin ---------------------------------------------------------------------------------------------------

async def bootstrap() -> None:
    """Create the first admin from TRAINBOARD_ADMIN_EMAIL/PASSWORD, or print a one-time setup token for /setup."""
    global _setup_token
    if await User.exists():
        _setup_token = None
        return
    config = settings.current
    if config.admin_email and config.admin_password:
        await create_user(config.admin_email, config.admin_password, name=config.admin_name, role=Role.ADMIN)
        log.info('created the admin %s from TRAINBOARD_ADMIN_EMAIL', config.admin_email)
        return
    _setup_token = secrets.token_urlsafe(16)
    print(f'\n  No users yet. Create the first admin at {config.public_url}/setup with the setup token:\n\n'
          f'      {_setup_token}\n', flush=True)


def needs_setup() -> bool:
    return _setup_token is not None


async def complete_setup(token: str, email: str, password: str, name: str = '') -> User:
    global _setup_token
    if _setup_token is None or await User.exists():
        raise Conflict('Trainboard is already set up: sign in instead.')
    if not secrets.compare_digest(token.strip(), _setup_token):
        raise Unauthorized('That setup token is wrong: copy it from the console where Trainboard started.')
    user = await create_user(email, password, name=name, role=Role.ADMIN)
    _setup_token = None
    return user


# --- Bearer tokens -------------------------------------------------------------------------------------------------

async def issue_token(user: User, *, name: str, kind: str = 'key', ttl: timedelta | None = None) -> tuple[ApiKey, str]:
    """Make a Bearer token; returns the stored key and the token, which is shown once and never stored."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise Invalid('Give the key a name of 1 to 100 characters.')
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = await ApiKey.create(user=user, name=name, kind=kind, token_hash=hash_token(token), prefix=token[:10],
                              expires_at=datetime.now(UTC) + ttl if ttl else None)
    return key, token


async def issue_login_token(user: User) -> str:
    _, token = await issue_token(user, name='login', kind='login',
                                 ttl=timedelta(days=settings.current.token_ttl_days))
    return token


async def user_for_token(token: str) -> User | None:
    key = await ApiKey.get_or_none(token_hash=hash_token(token)).select_related('user')
    if key is None or not key.user.is_active:
        return None
    now = datetime.now(UTC)
    if key.expires_at is not None and key.expires_at <= now:
        return None
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):  # one write a minute at most
        await ApiKey.filter(id=key.id).update(last_used_at=now)
    return key.user


async def revoke_key(user: User, key_id: int) -> None:
    deleted = await ApiKey.filter(id=key_id, user=user, kind="key").delete()
    if not deleted:
        raise NotFound('No such API key.')
    await audit.record(user, 'api_key.revoked', 'api_key', key_id)


async def prune_expired_tokens() -> int:
    return await ApiKey.filter(expires_at__lt=datetime.now(UTC)).delete()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- helpers -------------------------------------------------------------------------------------------------------

def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _throttle_delay(email: str) -> float:
    failures, last = _failures.get(email, (0, 0.0))
    if failures == 0 or time.monotonic() - last > THROTTLE_FORGET_S:
        return 0.0
    return min(THROTTLE_BASE_S * 2 ** (failures - 1), THROTTLE_MAX_S)


def _record_failure(email: str) -> None:
    failures, last = _failures.get(email, (0, 0.0))
    if time.monotonic() - last > THROTTLE_FORGET_S:
        failures = 0
    _failures[email] = (failures + 1, time.monotonic())
