"""The audit trail: who did what to which object."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from models import AuditEntry, User


async def record(actor: User | None, action: str, object_type: str, object_id: int | str, *,
                 using_db: BaseDBAsyncClient | None = None, **details: Any) -> None:
    """One entry; `using_db` writes it in the caller's transaction, so that it commits (or not) with the change."""
    await AuditEntry.create(actor=actor, action=action, object_type=object_type, object_id=str(object_id),
                            details=details, using_db=using_db)
