from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser
from api.schema import ApiKeyText, Id, Input
from services import credentials, providers

router = APIRouter(tags=['providers'])


class ProductOut(BaseModel):
    id: str
    name: str
    price_per_hour: float  # per GPU
    spot_price_per_hour: float | None = None  # per GPU on spot capacity, when offered
    available: bool
    regions: list[str]


class CredentialIn(Input):
    provider: str = 'novita'
    label: str = Field(min_length=1, max_length=100)
    secret: ApiKeyText = Field(min_length=1, max_length=4096)


class CredentialOut(BaseModel):
    id: int
    provider: str
    label: str
    secret: str  # only the last four characters
    created_at: datetime


@router.get('/providers')
async def list_providers(user: CurrentUser) -> list[dict[str, str]]:
    return [{'name': name} for name in await providers.available()]


@router.get('/providers/{name}/products')
async def list_products(name: str, user: CurrentUser) -> list[ProductOut]:
    found = await providers.products(name)
    return [ProductOut(id=p.id, name=p.name, price_per_hour=p.price_per_hour, spot_price_per_hour=p.spot_price_per_hour,
                       available=p.available, regions=list(p.regions)) for p in found]


@router.post('/credentials', status_code=201)
async def add_credential(body: CredentialIn, user: CurrentUser) -> CredentialOut:
    return CredentialOut(**await credentials.add(user, provider=body.provider, label=body.label, secret=body.secret))


@router.get('/credentials')
async def list_credentials(user: CurrentUser) -> list[CredentialOut]:
    return [CredentialOut(**c) for c in await credentials.listed(user)]


@router.post('/credentials/{credential_id}/check')
async def check_credential(credential_id: Id, user: CurrentUser) -> dict[str, object]:
    """Try the key against the provider: the number of products it can see, or the provider's reason."""
    ok, message = await credentials.check(user, credential_id)
    return {'ok': ok, 'message': message}


@router.delete('/credentials/{credential_id}', status_code=204)
async def delete_credential(credential_id: Id, user: CurrentUser) -> Response:
    await credentials.delete(user, credential_id)
    return Response(status_code=204)
