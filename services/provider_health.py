"""Whether each provider account the poller talks to answered its last call, logged once when that changes.

An account is a provider reached through one stored credential (or, for this machine, through none). Like Home
Assistant's update coordinator, a failure is logged when it starts and once more when it ends, not on every cycle;
/status and the settings page show what fails and why. A failing account changes nothing of another's runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Account:
    provider: str
    credential_id: int | None = None  # None: a provider that needs no credential (this machine)

    def __str__(self) -> str:
        return self.provider if self.credential_id is None else f'{self.provider} credential {self.credential_id}'


@dataclass(kw_only=True, slots=True)
class Health:
    ok: bool = True
    since: datetime | None = None  # when it started to fail
    error: str = ''  # why, as the provider told it


_health: dict[Account, Health] = {}


def flip(account: Account, *, ok: bool, error: str = '') -> bool:
    """Record the outcome of a call to `account`; logs only a change, and says whether it was one."""
    current = _health.get(account, Health())
    if current.ok and ok:
        return False
    if not current.ok and not ok:  # still failing: the reason may have changed (an outage, then a refused key)
        current.error = error
        return False
    through = f' through credential {account.credential_id}' if account.credential_id is not None else ''
    if ok:
        log.info('%s reachable again%s (unreachable since %s)', account.provider, through, current.since)
        _health[account] = Health()
    else:
        log.warning('%s unreachable%s: %s', account.provider, through, error)
        _health[account] = Health(ok=False, since=datetime.now(UTC), error=error)
    return True


def of(account: Account) -> Health:
    return _health.get(account, Health())


def all_accounts() -> dict[Account, Health]:
    return dict(_health)


def forget(account: Account) -> None:
    """The credential is gone: so is what was known of it."""
    _health.pop(account, None)
