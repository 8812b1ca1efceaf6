"""A run's secrets (the values of the environment it was launched with) kept out of its log: replaced by [hidden]
as lines are stored, so that no reader, search or download of the log ever has them (the environment itself is kept
encrypted and shown masked)."""

from __future__ import annotations

import json
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from models import Run
from services import runs
from services.errors import ServiceError

HIDDEN = '[hidden]'
SECRET_MIN_CHARS = 8  # shorter environment values ("1", "true") are not hidden: they would blank out words


def secrets_of(run: Run) -> list[str]:
    """Longest first, so that a secret that holds another is hidden whole."""
    return secrets_in(run.spec, run.id)


def secrets_in(spec: dict[str, Any] | None, run_id: int) -> list[str]:
    """`secrets_of` a run's stored spec."""
    try:
        envs = runs.spec_in_clear(spec, run_id).get('envs') or {}
    except ServiceError:  # encrypted under another server secret: nothing of it can be in the clear here either
        return []
    values = {str(value) for value in envs.values() if len(str(value)) >= SECRET_MIN_CHARS}
    return sorted(values, key=len, reverse=True)


def hidden(line: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in line:
            line = line.replace(secret, HIDDEN)
    return line


async def hide_in_stored_lines(conn: BaseDBAsyncClient) -> int:
    """Hide every run's secrets in the lines it stored before they were hidden as lines are stored (a one-off pass,
    migration 0016); how many runs had any. In the database: only the lines that hold a secret are read and written,
    as `hidden` would, longest secret first."""
    postgres = conn.capabilities.dialect == 'postgres'
    rows = await conn.execute_query_dict('SELECT id, spec FROM runs WHERE spec IS NOT NULL ORDER BY id')
    touched = 0
    for row in rows:
        spec = json.loads(row['spec']) if isinstance(row['spec'], str | bytes) else row['spec']
        secrets = secrets_in(spec if isinstance(spec, dict) else None, row['id'])
        for secret in secrets:
            found = 'strpos(line, $1) > 0' if postgres else 'instr(line, ?) > 0'
            query = f'UPDATE log_lines SET line = replace(line, $1, $2) WHERE run_id = $3 AND {found}' if postgres \
                else f'UPDATE log_lines SET line = replace(line, ?, ?) WHERE run_id = ? AND {found}'
            await conn.execute_query(query, [secret, HIDDEN, row['id']] + ([] if postgres else [secret]))
        touched += bool(secrets)
    return touched
