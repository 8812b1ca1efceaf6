from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser
from api.schema import ApiKeyText, Id, Input
from services import bounds, credentials, providers

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
    project_id: int | None = Field(None, ge=1, le=bounds.INT_MAX,
                                   description='the project it is for (its owners manage it); none: the workspace '
                                               '(admins only)')


class CredentialOut(BaseModel):
    id: int
    provider: str
    label: str
    secret: str  # only the last four characters
    created_at: datetime
    scope: Literal['workspace', 'project'] = 'workspace'
    project_id: int | None = None
    project_name: str | None = None
    can_manage: bool = False  # whether the caller may remove it
    ok: bool = True  # whether its provider answered the poller's last call
    error: str = ''  # why not
    failing_since: datetime | None = None


class ProviderCredentialOut(BaseModel):
    id: int
    label: str
    scope: Literal['workspace', 'project']
    project_id: int | None = None


class ProviderOut(BaseModel):
    name: str
    label: str  # for people: 'Novita AI'
    needs_credential: bool
    launch_fields: list[str]  # what a run's body needs besides its command, e.g. product_id and image
    credentials: list[ProviderCredentialOut]  # those the caller may launch with (none where none is needed)


@router.get('/providers')
async def list_providers(user: CurrentUser) -> list[ProviderOut]:
    """The providers the caller can launch on; a cloud with the credentials the caller may use (no secrets). This
    machine (`local`) only for whom TRAINBOARD_LOCAL_RUNS lets launch there."""
    return [ProviderOut(name=found.name, label=found.capabilities.label,
                        needs_credential=found.capabilities.needs_credential,
                        launch_fields=list(found.capabilities.launch_fields),
                        credentials=[ProviderCredentialOut(id=c.id, label=c.label, scope=c.scope,
                                                           project_id=c.project_id) for c in found.credentials])
            for found in await providers.available(user)]


@router.get('/providers/{name}/products')
async def list_products(name: str, user: CurrentUser,
                        credential_id: int | None = Query(None, ge=1, le=2**31 - 1,
                                                          description='through which credential (needed when the '
                                                                      'caller may use several)')) -> list[ProductOut]:
    found = await providers.products(user, name, credential_id=credential_id)
    return [ProductOut(id=p.id, name=p.name, price_per_hour=p.price_per_hour, spot_price_per_hour=p.spot_price_per_hour,
                       available=p.available, regions=list(p.regions)) for p in found]


@router.post('/credentials', status_code=201)
async def add_credential(body: CredentialIn, user: CurrentUser) -> CredentialOut:
    return CredentialOut(**await credentials.add(user, provider=body.provider, label=body.label, secret=body.secret,
                                                 project_id=body.project_id))


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
