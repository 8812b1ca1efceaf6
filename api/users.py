from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser
from api.schema import Id, Input
from models import Role
from services import auth
from services.auth import TokenKind, TokenView, UserView

router = APIRouter(tags=['users'])


class UserCreate(Input):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=auth.MIN_PASSWORD_LENGTH, max_length=auth.MAX_PASSWORD_LENGTH)
    name: str = Field('', max_length=auth.MAX_NAME_LENGTH)
    role: Literal['admin', 'member'] = 'member'


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: str
    is_active: bool


class PasswordReset(Input):
    password: str = Field(min_length=1, max_length=auth.MAX_PASSWORD_LENGTH)


class KeyCreate(Input):
    name: str = Field(min_length=1, max_length=100)


class KeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    token: str | None = None  # only in the answer that creates the key


@router.get('/users')
async def list_users(user: CurrentUser) -> list[UserOut]:
    """Admins only."""
    return [_user_out(u) for u in await auth.list_users(user)]


@router.post('/users', status_code=201)
async def create_user(body: UserCreate, user: CurrentUser) -> UserOut:
    """Admins only."""
    created = await auth.create_user(body.email, body.password, name=body.name, role=Role(body.role), actor=user)
    return _user_out(UserView.of(created))


@router.post('/users/{user_id}/password', status_code=204)
async def reset_password(user_id: Id, body: PasswordReset, user: CurrentUser) -> Response:
    """Admins only: set a user's password; all their login tokens and browser sessions end."""
    await auth.reset_password(user_id, body.password, actor=user)
    return Response(status_code=204)


@router.get('/api-keys')
async def list_keys(user: CurrentUser) -> list[KeyOut]:
    return [_key_out(key) for key in await auth.list_tokens(user, kinds=(TokenKind.KEY,))]


@router.post('/api-keys', status_code=201)
async def create_key(body: KeyCreate, user: CurrentUser) -> KeyOut:
    key, token = await auth.issue_token(user, name=body.name)
    return _key_out(key, token)


@router.delete('/api-keys/{key_id}', status_code=204)
async def revoke_key(key_id: Id, user: CurrentUser) -> Response:
    await auth.revoke_key(user, key_id)
    return Response(status_code=204)


def _user_out(user: UserView) -> UserOut:
    return UserOut(id=user.id, email=user.email, name=user.name, role=user.role.value, is_active=user.is_active)


def _key_out(key: TokenView, token: str | None = None) -> KeyOut:
    return KeyOut(id=key.id, name=key.name, prefix=key.prefix, created_at=key.created_at,
                  last_used_at=key.last_used_at, token=token)
