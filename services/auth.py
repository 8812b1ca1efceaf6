"""Users, passwords, sessions and Bearer tokens.

Passwords are hashed with argon2, on a small pool of worker threads: a hash takes tens of milliseconds and 64 MiB,
which must neither stall the event loop nor, in a flood, take all the memory. Failed sign-ins are slowed down per
client address and per account (services/login_throttle.py).

Bearer tokens (named API keys, the expiring login tokens of POST /api/v1/auth/token) and browser sessions are
ApiKey rows of which only the SHA-256 of the secret is stored; a session's secret stays on the server, in the
tab's `app.storage.user`, so deleting its row signs that browser out.

Every entry point that acts for someone asks `refreshed(actor)` first: a tab or token opened before a demotion or a
deactivation must not keep the powers it had then.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import re
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.expressions import Q

import settings
from models import ApiKey, Role, User
from services import audit, hub
from services.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from services.login_throttle import LoginThrottle

log = logging.getLogger(__name__)

TOKEN_PREFIX = 'tb_'
MIN_PASSWORD_LENGTH = 8  # characters that are not whitespace at either end
MAX_PASSWORD_LENGTH = 1024  # argon2 hashes any length; this only stops megabyte "passwords"
MAX_NAME_LENGTH = 100  # User.name and ApiKey.name
MAX_EMAIL_LENGTH = 254
EMAIL_PATTERN = re.compile(r'^[^@\s]+@[^@\s]+\.[^@\s]+$')
SESSION_TTL = timedelta(days=30)  # a browser session unused this long ends; each use extends it

_hasher = PasswordHasher()
# at most this many hashes at once: each takes 64 MiB, and the CPU is better spent on the pages
_argon2_pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix='argon2')
throttle = LoginThrottle()
_setup_token: str | None = None


class TokenKind(StrEnum):
    KEY = 'key'  # named on the settings page, no expiry
    LOGIN = 'login'  # from POST /api/v1/auth/token, expires
    SESSION = 'session'  # a signed-in browser; never accepted as a Bearer token


@dataclass(frozen=True, slots=True)
class UserView:
    """A user as pages and the API show them: never the password hash."""
    id: int
    email: str
    name: str
    role: Role
    is_active: bool

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls(id=user.id, email=user.email, name=user.name, role=Role(user.role), is_active=user.is_active)


@dataclass(frozen=True, slots=True)
class TokenView:
    """An API key, login token or browser session: never its secret nor its hash, only the first characters."""
    id: int
    kind: TokenKind
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> TokenView:
        return cls(id=key.id, kind=TokenKind(key.kind), name=key.name, prefix=key.prefix, created_at=key.created_at,
                   last_used_at=key.last_used_at, expires_at=key.expires_at)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who a browser session or Bearer token acts for (the user as read just now, active), and which token it is:
    a password change keeps that one."""
    user: User
    token_id: int


# --- signing in ----------------------------------------------------------------------------------------------------

async def authenticate(email: str, password: str, *, address: str) -> User:
    """The active user with these credentials. Raises Unauthorized for a wrong pair, and TooManyAttempts (429) while
    the client `address` or the account is blocked after failures."""
    email = normalize_email(email)
    if '\x00' in email:  # no account has one, and PostgreSQL refuses it in a query
        raise Unauthorized('Wrong email or password.')
    async with throttle.attempt(address, email) as attempt:
        user = await User.get_or_none(email=email, is_active=True)
        # an unknown email costs a hash too, so the time taken does not tell which emails exist
        known_hash = user.password_hash if user else await _dummy_hash()
        if not await _verify(known_hash, password) or user is None:
            attempt.failed()
            log.info('failed sign-in for %s from %s', email, address)
            raise Unauthorized('Wrong email or password.')
        attempt.succeeded()
    return user


async def refreshed(user: User) -> User:
    """The caller as the database has them now; Unauthorized if they were deactivated or removed."""
    fresh = await User.get_or_none(id=user.id, is_active=True)
    if fresh is None:
        raise Unauthorized('Your account has been deactivated or removed: sign in again.')
    return fresh


async def refreshed_admin(user: User, doing: str) -> User:
    """The caller as `refreshed` gives them, who must still be an admin; Forbidden says what only admins may do."""
    fresh = await refreshed(user)
    if not fresh.is_admin:
        raise Forbidden(f'Only admins {doing}.')
    return fresh


# --- users ---------------------------------------------------------------------------------------------------------

async def create_user(email: str, password: str, *, name: str = '', role: Role = Role.MEMBER,
                      actor: User | None = None) -> User:
    """A new account. `actor` is the admin adding it; None only for the first admin (bootstrap, /setup)."""
    if actor is not None:
        actor = await refreshed_admin(actor, 'add users')
    email = normalize_email(email)
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.match(email):
        raise Invalid('Enter a valid email address.')
    name = _checked_name(name) or email.split('@')[0][:MAX_NAME_LENGTH]
    check_password(password, email)
    if await User.exists(email=email):
        raise Conflict(f'A user with the email {email} already exists.')
    user = await User.create(email=email, name=name, password_hash=await _hash(password), role=role)
    await audit.record(actor, 'user.created', 'user', user.id, email=email, role=role.value)
    return user


async def list_users(actor: User) -> list[UserView]:
    await refreshed_admin(actor, 'manage users')
    return [UserView.of(user) for user in await User.all().order_by('email')]


async def update_user(user_id: int, *, actor: User, role: Role | None = None,
                      is_active: bool | None = None) -> UserView:
    actor = await refreshed_admin(actor, 'change roles and deactivate users')
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound('No such user.')
    if user.id == actor.id and (role == Role.MEMBER or is_active is False):
        raise Invalid('You cannot demote or deactivate yourself.')
    was = Role(user.role), bool(user.is_active)
    if role is not None:
        user.role = role
    if is_active is not None:
        user.is_active = is_active
    await user.save()
    if user.is_active is False:  # nothing of a deactivated account may work again if it is reactivated
        await ApiKey.filter(user=user).delete()
    await audit.record(actor, 'user.updated', 'user', user.id, email=user.email, old_role=was[0].value,
                       role=Role(user.role).value, was_active=was[1], is_active=user.is_active)
    await hub.publish(hub.Change(kind='user', action='updated', id=user.id))  # their open tabs follow the change
    return UserView.of(user)


async def change_password(user: User, current: str, new: str, *, address: str, keep_token_id: int | None) -> None:
    """Change your own password, knowing the current one. Your other sessions and login tokens end (named API keys
    stay); `keep_token_id` is the session or token this request came with."""
    user = await refreshed(user)
    async with throttle.attempt(address, user.email) as attempt:  # a stolen session must not guess it quickly
        if not await _verify(user.password_hash, current):
            attempt.failed()
            raise Invalid('Your current password is not right.')
        attempt.succeeded()
    await _replace_password(user, new, keep_token_id=keep_token_id)
    await audit.record(user, 'user.password_changed', 'user', user.id)
    await _sessions_ended(user.id)


async def reset_password(user_id: int, new: str, *, actor: User) -> None:
    """An admin sets someone's password; all their sessions and login tokens end."""
    actor = await refreshed_admin(actor, 'reset passwords')
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound('No such user.')
    if user.id == actor.id:  # your own needs your current one: a stolen session must not take the account over
        raise Invalid('Change your own password on the settings page, with your current one.')
    await _replace_password(user, new, keep_token_id=None)
    await audit.record(actor, 'user.password_reset', 'user', user.id)
    await hub.publish(hub.Change(kind='user', action='updated', id=user.id))  # their open tabs go to sign-in


def check_password(password: str, email: str = '') -> None:
    """At least MIN_PASSWORD_LENGTH characters once outer whitespace is gone, and not the email or its name part."""
    real = password.strip()
    if len(password) > MAX_PASSWORD_LENGTH:
        raise Invalid(f'The password can have at most {MAX_PASSWORD_LENGTH} characters.')
    if len(real) < MIN_PASSWORD_LENGTH:
        raise Invalid(f'The password needs at least {MIN_PASSWORD_LENGTH} characters, not counting spaces at '
                      'either end.')
    if email and real.lower() in {email.lower(), email.split('@')[0].lower()}:
        raise Invalid('The password must not be your email address or its name part.')


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
          f'      {_setup_token}\n\n  or open this one-time link: {config.public_url}{setup_path()}\n', flush=True)


def needs_setup() -> bool:
    return _setup_token is not None


def setup_path() -> str | None:
    """The setup page with the token filled in, while there is no user yet (the binary opens it in the browser)."""
    return f'/setup?token={_setup_token}' if _setup_token is not None else None


async def complete_setup(token: str, email: str, password: str, name: str = '') -> User:
    global _setup_token
    if _setup_token is None or await User.exists():
        raise Conflict('Trainboard is already set up: sign in instead.')
    if not secrets.compare_digest(token.strip(), _setup_token):
        raise Unauthorized('That setup token is wrong: copy it from the console where Trainboard started.')
    user = await create_user(email, password, name=name, role=Role.ADMIN)
    _setup_token = None
    return user


# --- Bearer tokens and browser sessions ----------------------------------------------------------------------------

async def issue_token(user: User, *, name: str, kind: TokenKind = TokenKind.KEY,
                      ttl: timedelta | None = None) -> tuple[TokenView, str]:
    """Make a Bearer token; returns what is stored of it and the token, which is shown once and never stored."""
    user = await refreshed(user)
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise Invalid(f'Give the key a name of 1 to {MAX_NAME_LENGTH} characters.')
    key, token = await _new_secret(user, name, kind, ttl)
    return TokenView.of(key), token


async def issue_login_token(user: User) -> str:
    _, token = await issue_token(user, name='login', kind=TokenKind.LOGIN,
                                 ttl=timedelta(days=settings.current.token_ttl_days))
    return token


async def key_for_token(token: str) -> SignedIn | None:
    """Whom the API key or login token with this secret acts for, if it is live and its user active."""
    return await _live_key(token, (TokenKind.KEY, TokenKind.LOGIN))


async def user_for_token(token: str) -> User | None:
    signed_in = await key_for_token(token)
    return signed_in.user if signed_in else None


async def open_session(user: User, *, address: str) -> str:
    """Sign a browser in; the returned secret belongs in the server-side storage of that browser, never in it."""
    _, secret = await _new_secret(await refreshed(user), f'browser at {address}'[:MAX_NAME_LENGTH],
                                  TokenKind.SESSION, SESSION_TTL)
    return secret


async def session_for(secret: str | None) -> SignedIn | None:
    """Whom the live session with this secret acts for; None if it was revoked or ran out, or its user is inactive."""
    return await _live_key(secret, (TokenKind.SESSION,)) if secret else None


async def close_session(secret: str | None) -> None:
    if secret:
        await ApiKey.filter(token_hash=hash_token(secret), kind=TokenKind.SESSION).delete()


async def list_tokens(user: User, kinds: Iterable[TokenKind] = tuple(TokenKind)) -> list[TokenView]:
    """Your API keys, login tokens and browser sessions (or those of `kinds`) that have not run out, newest first."""
    user = await refreshed(user)
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=datetime.now(UTC))
    found = await ApiKey.filter(live, user=user, kind__in=[TokenKind(kind).value for kind in kinds]) \
        .order_by('-created_at', '-id')
    return [TokenView.of(key) for key in found]


async def revoke_token(user: User, token_id: int) -> None:
    """End one of your own API keys, login tokens or sessions."""
    await _revoke(user, token_id, kinds=tuple(TokenKind), what='token or session')


async def revoke_key(user: User, key_id: int) -> None:
    await _revoke(user, key_id, kinds=(TokenKind.KEY,), what='API key')


async def prune_expired_tokens() -> int:
    return await ApiKey.filter(expires_at__lt=datetime.now(UTC)).delete()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- helpers -------------------------------------------------------------------------------------------------------

def _checked_name(name: str) -> str:
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise Invalid(f'A name can have at most {MAX_NAME_LENGTH} characters.')
    return name


async def _replace_password(user: User, new: str, *, keep_token_id: int | None) -> None:
    check_password(new, user.email)
    user.password_hash = await _hash(new)
    await user.save(update_fields=['password_hash'])
    # whoever knew the old password may hold a session or a login token: those end
    ended = ApiKey.filter(user=user, kind__in=[TokenKind.LOGIN, TokenKind.SESSION])
    await (ended.exclude(id=keep_token_id) if keep_token_id is not None else ended).delete()


async def _new_secret(user: User, name: str, kind: TokenKind, ttl: timedelta | None) -> tuple[ApiKey, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = await ApiKey.create(user=user, name=name, kind=kind, token_hash=hash_token(token), prefix=token[:10],
                              expires_at=datetime.now(UTC) + ttl if ttl else None)
    return key, token


async def _live_key(token: str, kinds: tuple[TokenKind, ...]) -> SignedIn | None:
    key = await ApiKey.get_or_none(token_hash=hash_token(token), kind__in=kinds).select_related('user')
    if key is None or not key.user.is_active:
        return None
    now = datetime.now(UTC)
    if key.expires_at is not None and key.expires_at <= now:
        return None
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):  # one write a minute at most
        changes: dict = {'last_used_at': now}
        if key.kind == TokenKind.SESSION:
            changes['expires_at'] = now + SESSION_TTL
        await ApiKey.filter(id=key.id).update(**changes)
    return SignedIn(user=key.user, token_id=key.id)


async def _revoke(user: User, token_id: int, *, kinds: tuple[TokenKind, ...], what: str) -> None:
    user = await refreshed(user)
    if not await ApiKey.filter(id=token_id, user=user, kind__in=kinds).delete():
        raise NotFound(f'No such {what}.')
    await audit.record(user, 'api_key.revoked', 'api_key', token_id)
    await _sessions_ended(user.id)


async def _sessions_ended(user_id: int) -> None:
    """Tell the user's open tabs that some of their sessions ended: each checks its own and signs out if it is gone."""
    await hub.publish(hub.Change(kind='user', action='sessions_ended', id=user_id))


async def _hash(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_argon2_pool, _hasher.hash, password)


async def _verify(password_hash: str, password: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_argon2_pool, _check, password_hash, password)


def _check(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def _dummy_hash() -> str:
    return await asyncio.get_running_loop().run_in_executor(_argon2_pool, _dummy_hash_once)


@functools.cache
def _dummy_hash_once() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))
