"""The caller's notifications (the bell's list, paged), marking them read, and their choice of what reaches them
where. Everything here is the caller's own: another person's ids change nothing and show nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.deps import CurrentUser
from api.schema import Input
from services import bounds, notifications
from services.notifications import Channels, NotificationView, PreferenceView

router = APIRouter(tags=['notifications'])

MARK_MAX = 1000  # ids in one mark-read request: a page of the list is at most notifications.PAGE_MAX

NotificationId = Annotated[int, Field(ge=1, le=bounds.INT_MAX)]


class NotificationOut(BaseModel):
    id: int
    kind: str
    message: str
    project_id: int | None
    run_id: int | None
    read: bool
    created_at: datetime


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_before: int | None = Field(description='pass as `before` for the next (older) page; null on the last')
    unread: int = Field(description='how many of the caller\'s notifications are unread, all pages together')


class MarkRead(Input):
    model_config = ConfigDict(extra='forbid')  # a misspelt or unsupported field is a 422, as a target's
    ids: list[NotificationId] | None = Field(None, max_length=MARK_MAX, description='the notifications to mark read')
    all: bool = Field(False, description='mark every notification of the caller read')

    @model_validator(mode='after')
    def _one_of(self) -> MarkRead:
        if (self.ids is None) == (not self.all):
            raise ValueError('give either "ids" (a list of notification ids) or "all": true')
        return self


class Marked(BaseModel):
    marked: int = Field(description='how many were unread and are now read')
    unread: int


class PreferenceIn(Input):
    model_config = ConfigDict(extra='forbid')  # a misspelt or unsupported field is a 422, as a target's
    kind: str = Field(min_length=1, max_length=40)
    in_app: bool
    email: bool


class PreferencesIn(Input):
    model_config = ConfigDict(extra='forbid')  # a misspelt or unsupported field is a 422, as a target's
    preferences: list[PreferenceIn] = Field(max_length=len(notifications.KINDS) * 2)


class PreferenceOut(BaseModel):
    kind: str
    label: str
    in_app: bool | None = Field(description='null: by default it depends on how an event concerns you (see note)')
    email: bool | None = Field(description='null: by default it depends on how an event concerns you (see note)')
    note: str = Field('', description="which events reach you this way by default, when it depends: 'Email by "
                                      "default for runs you launch only.'")


class Preferences(BaseModel):
    preferences: list[PreferenceOut]


@router.get('/notifications')
async def list_notifications(
        user: CurrentUser,
        unread: Annotated[bool, Query(description='only the unread ones')] = False,
        limit: Annotated[int, Query(ge=1, le=notifications.PAGE_MAX)] = 50,
        before: Annotated[int | None, Query(ge=1, le=bounds.INT_MAX, description='an id: older ones only')] = None,
) -> NotificationPage:
    """The caller's notifications, newest first."""
    items = await notifications.listed(user, unread=unread, before=before, limit=limit)
    return NotificationPage(items=[_out(item) for item in items],
                            next_before=items[-1].id if len(items) == limit else None,
                            unread=await notifications.unread_count(user))


@router.post('/notifications/read')
async def mark_read(body: MarkRead, user: CurrentUser) -> Marked:
    """Mark some (`ids`) or all (`all`) of the caller's notifications read."""
    marked = await notifications.mark_read(user, None if body.all else body.ids)
    return Marked(marked=marked, unread=await notifications.unread_count(user))


@router.get('/notifications/preferences')
async def get_preferences(user: CurrentUser) -> Preferences:
    """Every kind of event with where it reaches the caller: their choice, else the default (null with a note when
    the default depends on how an event concerns them: e.g. an editor's email for the runs they launch only)."""
    return Preferences(preferences=[_preference(p) for p in await notifications.preferences(user)])


@router.put('/notifications/preferences')
async def put_preferences(body: PreferencesIn, user: CurrentUser) -> Preferences:
    """Choose, per kind of event, whether it shows in the app and comes by email; kinds left out keep their
    setting. An unknown kind is refused (422, naming it) and nothing changes."""
    choices = {p.kind: Channels(in_app=p.in_app, email=p.email) for p in body.preferences}
    return Preferences(preferences=[_preference(p) for p in await notifications.set_preferences(user, choices)])


def _out(item: NotificationView) -> NotificationOut:
    return NotificationOut(id=item.id, kind=item.kind, message=item.message, project_id=item.project_id,
                           run_id=item.run_id, read=item.read, created_at=item.created_at)


def _preference(view: PreferenceView) -> PreferenceOut:
    return PreferenceOut(kind=view.kind, label=view.label, in_app=view.in_app, email=view.email, note=view.note)
