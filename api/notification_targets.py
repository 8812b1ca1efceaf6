"""A project's notification targets (Slack, signed webhooks) and its deliveries: owners and admins only."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentUser
from api.schema import Id, Input
from services import notification_targets as targets
from services import notifications
from services.channels.addresses import URL_MAX

router = APIRouter(tags=['notifications'])


class TargetIn(Input):
    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True)
    kind: Literal['slack', 'webhook']
    url: str = Field(min_length=1, max_length=URL_MAX, description='https://... of a public host')
    label: str = Field('', max_length=targets.LABEL_MAX)
    kinds: list[str] = Field(default_factory=list, max_length=50,
                             description=f'event kinds sent, of {", ".join(notifications.KINDS)}; empty: all')


class TargetPatch(Input):
    model_config = ConfigDict(extra='forbid')
    enabled: bool


class TargetOut(BaseModel):
    id: int
    project_id: int
    kind: str
    label: str
    url_hint: str
    kinds: list[str]
    enabled: bool
    created_at: datetime


class TargetAdded(TargetOut):
    secret: str | None = Field(description='a webhook\'s signing secret: shown in this answer only, never again')


class DeliveryOut(BaseModel):
    id: int
    channel: str
    target: str
    event_kind: str
    message: str
    status: str
    attempts: int
    last_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


@router.get('/projects/{project_id}/notification-targets')
async def list_targets(project_id: Id, user: CurrentUser) -> list[TargetOut]:
    return [_out(target) for target in await targets.listed(user, project_id)]


@router.post('/projects/{project_id}/notification-targets', status_code=201)
async def add_target(project_id: Id, body: TargetIn, user: CurrentUser) -> TargetAdded:
    added = await targets.add(user, project_id, kind=body.kind, url=body.url, label=body.label, kinds=body.kinds)
    return TargetAdded(**_out(added.target).model_dump(), secret=added.secret)


@router.patch('/projects/{project_id}/notification-targets/{target_id}')
async def update_target(project_id: Id, target_id: Id, body: TargetPatch, user: CurrentUser) -> TargetOut:
    return _out(await targets.set_enabled(user, project_id, target_id, body.enabled))


@router.delete('/projects/{project_id}/notification-targets/{target_id}', status_code=204)
async def delete_target(project_id: Id, target_id: Id, user: CurrentUser) -> Response:
    await targets.delete(user, project_id, target_id)
    return Response(status_code=204)


@router.get('/projects/{project_id}/deliveries')
async def list_deliveries(project_id: Id, user: CurrentUser,
                          limit: int = Query(50, ge=1, le=targets.DELIVERIES_MAX)) -> list[DeliveryOut]:
    return [DeliveryOut(**asdict(d)) for d in await targets.deliveries(user, project_id, limit=limit)]


def _out(target: targets.TargetView) -> TargetOut:
    return TargetOut(**asdict(target))
