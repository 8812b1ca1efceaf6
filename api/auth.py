from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import ClientAddress, CurrentKey, CurrentUser
from api.schema import Id, Input
from services import auth

router = APIRouter(tags=['auth'])


class Credentials(Input):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=auth.MAX_PASSWORD_LENGTH)


class Token(BaseModel):
    token: str


class Me(BaseModel):
    id: int
    email: str
    name: str
    role: str


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=auth.MAX_PASSWORD_LENGTH)
    new_password: str = Field(min_length=1, max_length=auth.MAX_PASSWORD_LENGTH)


class TokenOut(BaseModel):
    """A key, login token or browser session of yours: never its secret, only the first characters to tell it by."""
    id: int
    kind: Literal['key', 'login', 'session']
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    current: bool  # the token this request was made with


@router.post('/auth/token')
async def login(credentials: Credentials, address: ClientAddress) -> Token:
    """Public: trade email and password for a Bearer token that expires (TRAINBOARD_TOKEN_TTL_DAYS, default 7).
    Failed attempts slow down the address and the account: 429 says how long to wait."""
    user = await auth.authenticate(credentials.email, credentials.password, address=address)
    return Token(token=await auth.issue_login_token(user))


@router.get('/me')
async def me(user: CurrentUser) -> Me:
    return Me(id=user.id, email=user.email, name=user.name, role=user.role.value)


@router.post('/me/password', status_code=204)
async def change_password(body: PasswordChange, key: CurrentKey, address: ClientAddress) -> Response:
    """Change your password; your other login tokens and browser sessions end (this token and API keys stay)."""
    await auth.change_password(key.user, body.current_password, body.new_password, address=address,
                               keep_token_id=key.token_id)
    return Response(status_code=204)


@router.get('/me/tokens')
async def list_tokens(key: CurrentKey) -> list[TokenOut]:
    """Your API keys, login tokens and browser sessions."""
    return [TokenOut(id=token.id, kind=token.kind, name=token.name, prefix=token.prefix, created_at=token.created_at,
                     last_used_at=token.last_used_at, expires_at=token.expires_at, current=token.id == key.token_id)
            for token in await auth.list_tokens(key.user)]


@router.delete('/me/tokens/{token_id}', status_code=204)
async def revoke_token(token_id: Id, user: CurrentUser) -> Response:
    """End one of your API keys, login tokens or browser sessions."""
    await auth.revoke_token(user, token_id)
    return Response(status_code=204)
