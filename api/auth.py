from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import CurrentUser
from api.schema import Input
from services import auth

router = APIRouter(tags=['auth'])


class Credentials(Input):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class Token(BaseModel):
    token: str


class Me(BaseModel):
    id: int
    email: str
    name: str
    role: str


@router.post('/auth/token')
async def login(credentials: Credentials) -> Token:
    """Public: trade email and password for a Bearer token that expires (TRAINBOARD_TOKEN_TTL_DAYS, default 7)."""
    user = await auth.authenticate(credentials.email, credentials.password)
    return Token(token=await auth.issue_login_token(user))


@router.get('/me')
async def me(user: CurrentUser) -> Me:
    return Me(id=user.id, email=user.email, name=user.name, role=user.role.value)
