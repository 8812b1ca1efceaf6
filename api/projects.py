from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentUser
from api.schema import Id, Input
from services import bounds, projects
from services.errors import Invalid

router = APIRouter(tags=['projects'])
Percent = Annotated[int, Field(ge=projects.BUDGET_ALERT_RANGE[0], le=projects.BUDGET_ALERT_RANGE[1])]


class ProjectCreate(Input):
    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=projects.NAME_MAX)
    description: str = Field('', max_length=projects.DESCRIPTION_MAX)
    budget_usd: float = Field(0.0, ge=0, le=bounds.USD_MAX, allow_inf_nan=False)
    status: Literal['active', 'archived'] = 'active'


class ProjectPatch(Input):
    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True)
    name: str = Field(None, min_length=1, max_length=projects.NAME_MAX)
    description: str = Field(None, max_length=projects.DESCRIPTION_MAX)
    budget_usd: float = Field(None, ge=0, le=bounds.USD_MAX, allow_inf_nan=False,
                              description='owners and admins; only an admin removes a budget (sets 0)')
    status: Literal['active', 'archived'] = None
    budget_unlimited: bool = Field(None, description='admins: with no budget, paid runs may still launch')
    budget_alerts: list[Percent] | None = Field(None, max_length=projects.BUDGET_ALERTS_MAX,
                                            description='owners: percents of the budget (1 to 1000) at which its '
                                                        'people hear that it passed them; [] for none, null for the '
                                                        'default 50, 80, 100')
    stall_grace_s: int | None = Field(None, ge=1, le=bounds.INT_MAX,
                                      description='owners: how long a run that stalled goes on after its people '
                                                  'hear, for runs that do not say; null: its stall timeout again')
    artifact_bucket: str | None = Field(None, max_length=63,
                                        description='admins: the S3 bucket of its artifacts; null: '
                                                    'TRAINBOARD_S3_BUCKET')
    artifact_prefix: str | None = Field(None, max_length=projects.ARTIFACT_PREFIX_MAX,
                                        description='admins: the key prefix of its artifacts ("" for none); null: '
                                                    'TRAINBOARD_S3_PREFIX')
    confirm: bool = Field(False, description='go ahead with a budget lowered so far that runs stop (else 409 '
                                             'naming them)')


class ProjectOut(BaseModel):
    id: int
    name: str
    description: str
    budget_usd: float
    budget_unlimited: bool = False
    used_usd: float
    status: str
    budget_alerts: list[int] = Field(default_factory=list)
    stall_grace_s: int | None = None
    artifact_bucket: str | None = None  # None: the server's
    artifact_prefix: str | None = None
    owner_id: int
    run_counts: dict[str, int]
    created_at: datetime
    updated_at: datetime


class MemberIn(Input):
    email: str = Field(min_length=3, max_length=254)
    role: Literal['owner', 'editor', 'viewer'] = 'viewer'


class MemberOut(BaseModel):
    user_id: int
    email: str
    name: str
    role: str


@router.get('/projects')
async def list_projects(user: CurrentUser) -> list[ProjectOut]:
    return [ProjectOut(**data) for data in await projects.snapshots(await projects.visible_projects(user))]


@router.post('/projects', status_code=201)
async def create_project(body: ProjectCreate, user: CurrentUser) -> ProjectOut:
    return ProjectOut(**await projects.create_project(user, **body.model_dump()))


@router.get('/projects/{project_id}')
async def get_project(project_id: Id, user: CurrentUser) -> ProjectOut:
    return ProjectOut(**await projects.snapshot(await projects.get_project(user, project_id)))


@router.patch('/projects/{project_id}')
async def update_project(project_id: Id, body: ProjectPatch, user: CurrentUser) -> ProjectOut:
    changes = body.model_dump(exclude_unset=True)
    confirm = bool(changes.pop('confirm', False))
    nullable = (*projects.OWNER_SETTINGS, *projects.ADMIN_SETTINGS)
    if any(value is None for name, value in changes.items() if name not in nullable):
        raise Invalid('Fields cannot be set to null; leave out what should not change.')
    return ProjectOut(**await projects.update_project(user, project_id, confirm=confirm, **changes))


@router.delete('/projects/{project_id}', status_code=204)
async def delete_project(project_id: Id, user: CurrentUser) -> Response:
    await projects.delete_project(user, project_id)
    return Response(status_code=204)


@router.get('/projects/{project_id}/members')
async def list_members(project_id: Id, user: CurrentUser) -> list[MemberOut]:
    return [_member_out(member) for member in await projects.members(user, project_id)]


@router.post('/projects/{project_id}/members', status_code=201)
async def add_member(project_id: Id, body: MemberIn, user: CurrentUser) -> list[MemberOut]:
    await projects.add_member(user, project_id, body.email, body.role)
    return [_member_out(member) for member in await projects.members(user, project_id)]


@router.delete('/projects/{project_id}/members/{member_id}', status_code=204)
async def remove_member(project_id: Id, member_id: Id, user: CurrentUser) -> Response:
    await projects.remove_member(user, project_id, member_id)
    return Response(status_code=204)


def _member_out(member: projects.MemberView) -> MemberOut:
    return MemberOut(user_id=member.user_id, email=member.email, name=member.name, role=member.role.value)
