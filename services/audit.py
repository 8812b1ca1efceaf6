"""The audit trail: who did what to which object."""

from __future__ import annotations

from typing import Any

from models import AuditEntry, User


async def record(actor: User | None, action: str, object_type: str, object_id: int | str, **details: Any) -> None:
    await AuditEntry.create(actor=actor, action=action, object_type=object_type, object_id=str(object_id),
                            details=details)
