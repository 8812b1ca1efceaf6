"""A run's secrets (the values of the environment it was launched with) kept out of its log: replaced by [hidden]
as lines are stored, so that no reader, search or download of the log ever has them (the environment itself is kept
encrypted and shown masked)."""

from __future__ import annotations

from tortoise import connections
from tortoise.transactions import in_transaction

from models import Run
from services import database, runs
from services.errors import ServiceError

HIDDEN = '[hidden]'
SECRET_MIN_CHARS = 8  # shorter environment values ("1", "true") are not hidden: they would blank out words


def secrets_of(run: Run) -> list[str]:
    """Longest first, so that a secret that holds another is hidden whole."""
    try:
        envs = runs.launch_spec(run).get('envs') or {}
    except ServiceError:  # encrypted under another server secret: nothing of it can be in the clear here either
        return []
    values = {str(value) for value in envs.values() if len(str(value)) >= SECRET_MIN_CHARS}
    return sorted(values, key=len, reverse=True)


def hidden(line: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in line:
            line = line.replace(secret, HIDDEN)
    return line


async def hide_in_stored_lines() -> int:
    """Hide each marked run's secrets in the lines it stored before lines were masked as they are stored (migration
    0016 marked them; once, at start-up), then clear its mark; how many runs it went through. In the database: only
    the lines that hold a secret are read and written, as `hidden` would, longest secret first."""
    conn = connections.get('default')
    find = 'strpos' if database.is_postgres(conn) else 'instr'
    query = database.in_dialect(
        conn, f'UPDATE log_lines SET line = replace(line, ?, ?) WHERE run_id = ? AND {find}(line, ?) > 0')
    marked = await Run.filter(log_may_hold_secrets=True).only('id', 'spec')
    for run in marked:
        async with in_transaction() as db:
            for secret in secrets_of(run):
                await db.execute_query(query, [secret, HIDDEN, run.id, secret])
            await Run.filter(id=run.id).using_db(db).update(log_may_hold_secrets=None)
    return len(marked)
