"""The audit trail: who did what to which object."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from models import AuditEntry, User


async def record(actor: User | None, action: str, object_type: str, object_id: int | str, *,
                 project_id: int | None = None, using_db: BaseDBAsyncClient | None = None, **details: Any) -> None:
    """One entry; `using_db` writes it in the caller's transaction, so that it commits (or not) with the change.
    `project_id` is the project it concerns, for the owners' view of the trail."""
    await AuditEntry.create(actor=actor, action=action, object_type=object_type, object_id=str(object_id),
                            project_id=project_id, details=details, using_db=using_db)
