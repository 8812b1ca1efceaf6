"""Group commit: writes that arrive together are stored in one transaction, and each is answered after it commits.

A commit costs a flush to disk (SQLite's WAL sync, PostgreSQL's WAL flush) whatever it holds, so one point per
commit tops out at a few hundred per second. Here concurrent writes queue up while a transaction is being written;
the next transaction takes all of them (up to a size), and every caller hears back only once that transaction has
committed: an answer still means the write is stored. A write that fails in a group makes the group roll back, and
each of its writes is then tried alone, so its error is its own and the others are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

log = logging.getLogger(__name__)

T = TypeVar('T')
Work = Callable[[BaseDBAsyncClient], Awaitable[T]]
MAX_WAIT_S = 0.003  # how long a group waits for writes on their way (PostgreSQL's commit_delay is in this range)
WAIT_STEP_S = 0.0002
_arrival: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar('group_commit_arrival', default=None)


@dataclass(slots=True)
class _Pending(Generic[T]):
    work: Work[T]
    weight: int
    order: int
    future: asyncio.Future[T] = field(repr=False)


class GroupCommit:
    """A queue of writes and the tasks that store them, `writers` transactions at a time (SQLite has one connection,
    so one; PostgreSQL may write on several). A group holds at most `max_writes` writes and, unless it is one write
    alone, `max_weight` (points, rows) of them: a group of small writes is not held up behind a huge one."""

    def __init__(self, *, max_writes: int = 256, max_weight: int = 20_000) -> None:
        self.max_writes, self.max_weight = max_writes, max_weight
        self._queue: deque[_Pending[Any]] = deque()
        self._writers: set[asyncio.Task[None]] = set()  # held here: the loop keeps only weak references to tasks
        self._arriving = 0

    @contextlib.asynccontextmanager
    async def arriving(self) -> AsyncIterator[None]:
        """Around a request on its way to `write` (reading its body, checking its token): a group about to be written
        waits a little for it. Without this the reads those requests make on SQLite's one connection queue behind
        each transaction, and groups alternate between one write and all the others."""
        self._arriving += 1
        pending = [True]
        token = _arrival.set(pending)
        try:
            yield
        finally:
            _arrival.reset(token)
            if pending[0]:
                self._arriving -= 1

    async def write(self, work: Work[T], *, weight: int = 1, order: int = 0, writers: int = 1) -> T:
        """Run `work(conn)` in a transaction shared with other writes; its result once that transaction committed.
        A group runs its writes by `order` (then as they came): writes that lock rows (a run) lock them in one order
        in every group, so two groups written at once cannot wait for each other."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append(_Pending(work, weight, order, future))
        if (pending := _arrival.get()) and pending[0]:  # arrived
            pending[0] = False
            self._arriving -= 1
        self._writers = {task for task in self._writers if not task.done() and task.get_loop() is loop}
        if len(self._writers) < writers:
            self._writers.add(loop.create_task(self._drain()))
        return await future

    async def _drain(self) -> None:
        while self._queue:
            deadline = time.monotonic() + MAX_WAIT_S
            while self._arriving and time.monotonic() < deadline:
                await asyncio.sleep(WAIT_STEP_S)
            await self._write(self._take())

    def _take(self) -> list[_Pending[Any]]:
        group = [self._queue.popleft()]
        weight = group[0].weight
        while self._queue and len(group) < self.max_writes and weight + self._queue[0].weight <= self.max_weight:
            weight += self._queue[0].weight
            group.append(self._queue.popleft())
        return sorted(group, key=lambda pending: pending.order)  # stable: one run's writes stay in their order

    async def _write(self, group: list[_Pending[Any]]) -> None:
        try:
            async with in_transaction() as conn:
                results = [await pending.work(conn) for pending in group]
        except Exception as error:  # noqa: BLE001 - handed to the caller whose write it was
            if len(group) > 1:  # whose? each alone says, and the others are stored
                for pending in group:
                    await self._write([pending])
                return
            _settle(group[0].future, error=error)
            return
        except BaseException:  # cancelled (shutdown): nothing of the group is known to be stored
            for pending in group:
                pending.future.cancel()
            raise
        for pending, result in zip(group, results, strict=True):
            _settle(pending.future, result=result)


def _settle(future: asyncio.Future[Any], *, result: Any = None, error: BaseException | None = None) -> None:
    if future.done():  # its caller went away (cancelled): what was written stays written
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
