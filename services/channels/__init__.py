"""Senders of the outbox's deliveries, one module per channel: email (mail.py), Slack (slack.py), signed webhooks
(webhook.py); addresses.py keeps outgoing requests off this machine's own network, http.py sends them.

A sender raises `SendFailed` saying whether a later attempt may work; the outbox (services/background/outbox.py)
decides when to try again. Reasons are short and readable and never hold a secret: not a Slack URL, not a password.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import settings

PURPOSE = 'notification-target'  # what a target's URL and secret are encrypted under (services/keys)


@dataclass(frozen=True, slots=True)
class ProjectRef:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class RunRef:
    id: int
    name: str
    status: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event as it goes out of the app, whatever the channel."""
    event_id: int
    kind: str
    created_at: datetime
    message: str
    details: dict[str, Any]
    project: ProjectRef | None
    run: RunRef | None

    @property
    def link(self) -> str:
        """Where to read more: the run, else the project, else the app."""
        base = settings.current.public_url.rstrip('/')
        if self.run is not None:
            return f'{base}/runs/{self.run.id}'
        if self.project is not None:
            return f'{base}/projects/{self.project.id}'
        return f'{base}/'


class SendFailed(Exception):
    """A delivery did not get through; `retry`: whether trying again later may (a timeout, a 5xx), or is pointless
    (the receiver refused it: a 404, a rejected recipient); `tried`: whether it was sent at all (not when the target
    was turned off before, say: that is no attempt)."""

    def __init__(self, reason: str, *, retry: bool, tried: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.tried = tried


HIDDEN_RUN = 8  # a run of this many characters of a secret, or more, is hidden; shorter ones are ordinary words


def hidden(text: str, secrets: Iterable[str], *, run: int = HIDDEN_RUN) -> str:
    """`text` with every stretch of `run` or more characters that is part of one of `secrets` (in any case) replaced
    by [hidden]: a receiver that echoes a URL's path, or some of it, shows none of the secret in it."""
    found = [secret.lower() for secret in secrets if len(secret) >= run]
    if not found:
        return text
    lowered, out, i = text.lower(), [], 0
    while i < len(text):
        end = i
        if i + run <= len(text) and any(lowered[i:i + run] in secret for secret in found):
            end = i + run
            while end < len(text) and any(lowered[i:end + 1] in secret for secret in found):
                end += 1
        if end > i:
            out.append('[hidden]')
            i = end
        else:
            out.append(text[i])
            i += 1
    return ''.join(out)
