"""Who may try a password now.

A failed sign-in blocks, for a delay that doubles with each failure in a row, both the client address it came
from and the account it tried. Attempts on one address or account are serialised (one lock each), and the block
is checked once the lock is held, so a hundred parallel guesses get one password check, not a hundred.

An address from which someone signed in to an account before is trusted for that account: its attempts on that
account are counted on the pair alone, so a stranger who floods the account cannot lock its owner out (only
newcomers to the account wait). Everything is in memory, in one process, and bounded in size.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from services.errors import ServiceError

BASE_DELAY_S = 1.0  # the first failure blocks for 1 s, each further failure in a row doubles it ...
MAX_DELAY_S = 30.0  # ... up to 30 s: two guesses a minute per account and per address
FORGET_S = 900.0  # failures older than this no longer count
MAX_RECORDS = 20_000  # addresses, accounts and pairs tracked at once; the least recently used go first
MAX_TRUSTED = 20_000  # (account, address) pairs that signed in before


class TooManyAttempts(ServiceError):
    status_code = 429

    def __init__(self, wait_s: float) -> None:
        super().__init__(f'Too many failed sign-ins: try again in {max(1, round(wait_s))} s.')
        self.wait_s = wait_s


@dataclass(slots=True)
class _Record:
    failures: int = 0
    last_failure: float = 0.0
    blocked_until: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(slots=True)
class Attempt:
    """What the caller found: it calls `failed()` after a wrong password, `succeeded()` after a right one."""
    outcome: bool | None = None

    def failed(self) -> None:
        self.outcome = False

    def succeeded(self) -> None:
        self.outcome = True


class LoginThrottle:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._records: OrderedDict[tuple[str, ...], _Record] = OrderedDict()
        self._trusted: OrderedDict[tuple[str, str], None] = OrderedDict()

    @asynccontextmanager
    async def attempt(self, address: str, account: str) -> AsyncIterator[Attempt]:
        """Hold the turn of this address and account; raise TooManyAttempts if either is blocked now.

        The address is checked before the account record is even made, so a blocked address cannot make up
        accounts to push other records out.
        """
        address = _network(address)
        pair = (account, address)
        trusted = pair in self._trusted
        keys = [('pair', *pair)] if trusted else [('address', address), ('account', account)]
        attempt = Attempt()
        async with AsyncExitStack() as turns:
            records = []
            for key in keys:  # always address before account: two attempts never wait for each other in a cycle
                record = self._record(key)
                await turns.enter_async_context(record.lock)
                self._check(record)
                records.append(record)
            try:
                yield attempt
            finally:  # the caller records its outcome and then, after a wrong password, raises
                self._settle(attempt, records, pair, trusted)

    def __len__(self) -> int:
        """Addresses, accounts and pairs tracked now."""
        return len(self._records)

    def forget(self) -> None:
        """Start over (a test's fresh app)."""
        self._records.clear()
        self._trusted.clear()

    def _settle(self, attempt: Attempt, records: list[_Record], pair: tuple[str, str], trusted: bool) -> None:
        if attempt.outcome is False:
            for record in records:
                self._fail(record)
            if trusted:  # a failure from a trusted address still counts against newcomers to the account
                self._fail(self._record(('account', pair[0])))
        elif attempt.outcome is True:
            # the account's own count decays with time only: resetting it on every success of the owner would
            # let a stranger's guesses from many addresses run at the first-failure rate
            self._trust(pair)
            if trusted:  # reset in place: other attempts may be waiting for this record's lock
                records[0].failures, records[0].blocked_until = 0, 0.0

    def _check(self, record: _Record) -> None:
        now = self.clock()
        if now - record.last_failure > FORGET_S:
            record.failures = 0
        if record.blocked_until > now:
            raise TooManyAttempts(record.blocked_until - now)

    def _fail(self, record: _Record) -> None:
        now = self.clock()
        if now - record.last_failure > FORGET_S:
            record.failures = 0
        record.failures += 1
        record.last_failure = now
        record.blocked_until = now + min(BASE_DELAY_S * 2 ** (record.failures - 1), MAX_DELAY_S)

    def _record(self, key: tuple[str, ...]) -> _Record:
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = _Record()
            self._evict()
        self._records.move_to_end(key)
        return record

    def _evict(self) -> None:
        # the least recently used first; a record someone holds or waits for stays
        excess = len(self._records) - MAX_RECORDS
        if excess <= 0:
            return
        for key in list(itertools.islice(self._records, excess)):
            if not self._records[key].lock.locked():
                del self._records[key]

    def _trust(self, pair: tuple[str, str]) -> None:
        self._trusted[pair] = None
        self._trusted.move_to_end(pair)
        while len(self._trusted) > MAX_TRUSTED:
            self._trusted.popitem(last=False)


def _network(address: str) -> str:
    """IPv6 clients get a whole /64 each, so one of them counts as one address."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f'{parsed}/64', strict=False))
    return str(parsed)
