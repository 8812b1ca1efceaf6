"""What tabs re-read when a live change concerns them, as the user they show it to: None when it is gone or no
longer theirs to see. Shared by the pages (and by their tabs, through live.Rereads)."""

from typing import Any

from models import User
from services import projects, runs
from services.errors import ServiceError


async def read_project(user: User, project_id: int) -> dict[str, Any] | None:
    try:
        return await projects.snapshot(await projects.get_project(user, project_id))
    except ServiceError:
        return None


async def read_run_row(user: User, run_id: int) -> dict[str, Any] | None:
    try:
        return runs.row(await runs.get_run(user, run_id))
    except ServiceError:
        return None


async def read_run(user: User, run_id: int) -> dict[str, Any] | None:
    try:
        return await runs.snapshot(await runs.get_run(user, run_id))
    except ServiceError:
        return None


async def may_see_project(user: User, project_id: int) -> bool:
    try:
        await projects.get_project(user, project_id)
    except ServiceError:
        return False
    return True
