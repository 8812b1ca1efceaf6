"""Group commit: writes that arrive together are stored in one transaction, and each is answered after it commits.

A commit costs a flush to disk (SQLite's WAL, PostgreSQL's WAL) and a round of statements whatever it holds, so one
point per transaction tops out at a few hundred per second. Here concurrent writes queue up while a transaction is
being written; the next transaction takes all of them (up to a size) and stores them with `write_group`, which may
write them all in a few statements; every caller hears back only once that transaction has committed, so an answer
still means the write is stored. `write_group` answers an error of one write (a run that has finished) in its place;
an error it raises instead rolls the group back, and each of its writes is then tried alone, so that error is its
writer's own and the others are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

Item = TypeVar('Item')
Result = TypeVar('Result')
WriteGroup = Callable[[BaseDBAsyncClient, list[Item]], Awaitable[list[Result | Exception]]]
MAX_WAIT_S = 0.003  # how long a group waits for writes on their way (PostgreSQL's commit_delay is in this range)
_arrival: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar('group_commit_arrival', default=None)


@dataclass(slots=True)
class _Pending(Generic[Item]):
    item: Item
    weight: int
    order: int
    future: asyncio.Future[Any] = field(repr=False)


class GroupCommit(Generic[Item, Result]):
    """A queue of writes and the tasks that store them, `writers` transactions at a time (SQLite has one connection,
    so one; PostgreSQL may write on several). A group holds at most `max_writes` writes and, unless it is one write
    alone, `max_weight` (points, rows) of them: a group of small writes is not held up behind a huge one."""

    def __init__(self, write_group: WriteGroup[Item, Result], *, max_writes: int = 256,
                 max_weight: int = 20_000) -> None:
        self.write_group, self.max_writes, self.max_weight = write_group, max_writes, max_weight
        self._queue: deque[_Pending[Item]] = deque()
        self._writers: set[asyncio.Task[None]] = set()  # held here: the loop keeps only weak references to tasks
        self._arriving = 0
        self._all_arrived: set[asyncio.Event] = set()  # groups waiting for the writes on their way

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
                self._arrived()

    async def write(self, item: Item, *, weight: int = 1, order: int = 0, writers: int = 1) -> Result:
        """Store `item` in a transaction shared with other writes; its result once that transaction committed.
        A group hands its writes to `write_group` by `order` (then as they came): writes that lock rows (a run) lock
        them in one order in every group, so two groups written at once cannot wait for each other."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._queue.append(_Pending(item, weight, order, future))
        if (pending := _arrival.get()) and pending[0]:
            pending[0] = False
            self._arrived()
        self._writers = {task for task in self._writers if not task.done() and task.get_loop() is loop}
        if len(self._writers) < writers:
            self._writers.add(loop.create_task(self._drain()))
        return await future

    def _arrived(self) -> None:
        self._arriving -= 1
        if not self._arriving:
            for event in self._all_arrived:
                event.set()

    async def _drain(self) -> None:
        while self._queue:
            if self._arriving:
                event = asyncio.Event()
                self._all_arrived.add(event)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), MAX_WAIT_S)
                self._all_arrived.discard(event)
            await self._write(self._take())

    def _take(self) -> list[_Pending[Item]]:
        group = [self._queue.popleft()]
        weight = group[0].weight
        while self._queue and len(group) < self.max_writes and weight + self._queue[0].weight <= self.max_weight:
            weight += self._queue[0].weight
            group.append(self._queue.popleft())
        return sorted(group, key=lambda pending: pending.order)  # stable: one run's writes stay in their order

    async def _write(self, group: list[_Pending[Item]]) -> None:
        try:
            async with in_transaction() as conn:
                results = await self.write_group(conn, [pending.item for pending in group])
        except Exception as error:  # noqa: BLE001 - handed to the caller whose write it was
            if len(group) > 1:  # whose? each alone says, and the others are stored
                for pending in group:
                    await self._write([pending])
                return
            _settle(group[0].future, error)
            return
        except BaseException:  # cancelled (shutdown): nothing of the group is known to be stored
            for pending in group:
                pending.future.cancel()
            raise
        for pending, result in zip(group, results, strict=True):
            _settle(pending.future, result)


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():  # its caller went away (cancelled): what was written stays written
        return
    if isinstance(result, Exception):
        future.set_exception(result)
    else:
        future.set_result(result)
