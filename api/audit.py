"""GET /api/v1/audit: the audit trail the caller may read (admins: all; project owners: their projects'), as JSON
pages or, with ?format=csv, as a CSV download of every matching entry."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from api.deps import CurrentUser
from services import audit_trail, bounds
from services.audit_trail import AuditView

router = APIRouter(tags=['audit'])


class AuditItem(BaseModel):
    id: int
    at: datetime
    actor_id: int | None
    actor: str | None  # null: the system (a limit, the budget, the poller)
    action: str
    label: str
    object_type: str
    object_id: str
    object: str
    project_id: int | None
    project: str | None
    details: str


class AuditList(BaseModel):
    items: list[AuditItem]
    next_before: int | None  # pass as `before` for the next (older) page; null on the last


@router.get('/audit', response_model=AuditList)
async def list_audit(
        user: CurrentUser,
        actor: Annotated[str | None, Query(description='a user id, an email, or "system"')] = None,
        project_id: Annotated[int | None, Query(ge=1, le=bounds.INT_MAX)] = None,
        action: Annotated[str | None, Query(description='an action ("run.stopping") or a prefix ("run.")')] = None,
        since: Annotated[str | None, Query(description='ISO 8601, inclusive; UTC unless it says otherwise')] = None,
        until: Annotated[str | None, Query(description='ISO 8601, exclusive; a date alone: to its end')] = None,
        before: Annotated[int | None, Query(ge=1, le=bounds.BIGINT_MAX, description='an entry id: older ones')] = None,
        limit: Annotated[int, Query(ge=1, le=audit_trail.LIMIT_MAX)] = 100,
        format: Annotated[Literal['json', 'csv'], Query()] = 'json') -> AuditList | Response:  # noqa: A002
    """Newest first. 403 for who owns no project (and is no admin), 404 for a project the caller does not know, 422
    naming a filter that is wrong. `format=csv` answers every matching entry (no limit) as a CSV attachment."""
    filters = {'actor': actor, 'project_id': project_id, 'action': action, 'since': since, 'until': until,
               'before': before}
    if format == 'csv':
        lines = await audit_trail.csv_export(user, **filters)  # checked before the answer starts
        name = f'trainboard-audit-{datetime.now(UTC):%Y%m%d-%H%M%S}.csv'
        return StreamingResponse(lines, media_type='text/csv; charset=utf-8',
                                 headers={'Content-Disposition': f'attachment; filename="{name}"'})
    found = await audit_trail.page(user, **filters, limit=limit)
    return AuditList(items=[_item(view) for view in found.items], next_before=found.next_before)


def _item(view: AuditView) -> AuditItem:
    return AuditItem(id=view.id, at=view.at, actor_id=view.actor_id, actor=view.actor, action=view.action,
                     label=view.label, object_type=view.object_type, object_id=view.object_id, object=view.object,
                     project_id=view.project_id, project=view.project, details=view.details)
