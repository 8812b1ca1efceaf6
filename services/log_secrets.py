"""A run's secrets (the values of the environment it was launched with) kept out of its log: replaced by [hidden]
as lines are stored, so that no reader, search or download of the log ever has them (the environment itself is kept
encrypted and shown masked)."""

from __future__ import annotations

from models import Run
from services import runs
from services.errors import ServiceError

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
            line = line.replace(secret, '[hidden]')
    return line
