"""Runs: reading them for tables and pages. (Creating, reporting and control come with the run lifecycle.)"""

from __future__ import annotations

from typing import Any

from models import Run


async def project_runs(project_id: int) -> list[dict[str, Any]]:
    return [row(run) for run in await Run.filter(project_id=project_id).order_by('-created_at', '-id')]


def row(run: Run) -> dict[str, Any]:
    """A run as a table row / hub snapshot: plain JSON-able values."""
    return {
        'id': run.id,
        'project_id': run.project_id,
        'name': run.name,
        'status': str(run.status.value if hasattr(run.status, 'value') else run.status),
        'progress': run.progress,
        'cost_usd': float(run.cost_usd),
        'provider': run.provider,
        'eta_seconds': run.eta_seconds,
        'started_at': run.started_at.isoformat() if run.started_at else None,
        'ended_at': run.ended_at.isoformat() if run.ended_at else None,
    }
