"""Generic webhooks: the event as JSON, signed, so that a receiver can check it came from us and drop repeats.

Headers (a contract): `X-Trainboard-Event-Id` (the same on every attempt: receivers deduplicate by it),
`X-Trainboard-Timestamp` (unix seconds of this attempt) and `X-Trainboard-Signature: sha256=<hex>`, the HMAC-SHA256
of "<timestamp>.<body>" under the target's secret. README.md, "Notifications out of the app", shows a check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import asdict
from typing import Any

from services.channels import Outgoing, http


async def send(url: str, secret: str, outgoing: Outgoing, *, now: float | None = None) -> None:
    content = body(outgoing)
    timestamp = str(int(time.time() if now is None else now))
    await http.post(url, content, {
        'Content-Type': 'application/json',
        'X-Trainboard-Event-Id': str(outgoing.event_id),
        'X-Trainboard-Timestamp': timestamp,
        'X-Trainboard-Signature': signature(secret, timestamp, content),
    })


def body(outgoing: Outgoing) -> bytes:
    document: dict[str, Any] = {
        'id': outgoing.event_id,
        'kind': outgoing.kind,
        'created_at': outgoing.created_at.isoformat(),
        'message': outgoing.message,
        'details': outgoing.details,
        'project': asdict(outgoing.project) if outgoing.project else None,
        'run': asdict(outgoing.run) if outgoing.run else None,
        'link': outgoing.link,
    }
    return json.dumps(document, separators=(',', ':'), default=str).encode()


def signature(secret: str, timestamp: str, content: bytes) -> str:
    return 'sha256=' + hmac.new(secret.encode(), timestamp.encode() + b'.' + content, hashlib.sha256).hexdigest()
