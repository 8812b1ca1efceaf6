"""A third cloud, in memory: what a new provider module looks like to the rest of Trainboard.

It differs from Novita where services might have branched on a name: another label, only a product to launch
(no image), no logs and no GPU metrics. Registering it (providers.registry.register) is all it takes to be offered.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from providers.base import Capabilities, JobSpec, JobState, LogChunk, Phase, Product, ProviderError, UsageSample

if TYPE_CHECKING:
    from settings import Settings

KEY = 'tiny-key-0000-4242'
PRODUCTS = [Product(id='t4', name='Tiny T4', price_per_hour=0.25, gpu_count=1),
            Product(id='a10', name='Tiny A10', price_per_hour=0.75, spot_price_per_hour=0.30, gpu_count=1)]


class TinyCloud:
    name = 'tinycloud'
    capabilities = Capabilities(label='Tiny Cloud', short_label='Tiny', needs_credential=True, rents_gpus=True,
                                spot=True, job_prefix='trainboard-run-', lists_jobs=True, logs=False,
                                pause_freezes=False, launch_fields=('product_id',))
    launched: dict[str, JobSpec] = {}  # every instance of every account, as the cloud itself would keep them
    _ids = itertools.count(1)

    def __init__(self, key: str) -> None:
        self.key = key

    @classmethod
    def connect(cls, config: Settings, secret: str) -> TinyCloud:
        return cls(secret)

    async def products(self) -> list[Product]:
        self._check_key()
        return PRODUCTS

    async def launch(self, spec: JobSpec) -> str:
        self._check_key()
        ref = f'tiny-{next(self._ids)}'
        self.launched[ref] = spec
        return ref

    async def states(self, refs: list[str]) -> dict[str, JobState]:
        return {ref: (await self.jobs()).get(ref) or JobState(ref=ref, phase=Phase.GONE, raw='gone') for ref in refs}

    async def jobs(self) -> dict[str, JobState]:
        return {ref: JobState(ref=ref, phase=Phase.RUNNING, raw='up', billing=True, name=spec.name)
                for ref, spec in self.launched.items()}

    async def pause(self, ref: str) -> None:
        self.launched.pop(ref, None)

    async def resume(self, ref: str) -> None:
        raise ProviderError('Tiny Cloud cannot resume an instance.')

    async def stop(self, ref: str) -> None:
        self.launched.pop(ref, None)

    async def terminate(self, ref: str) -> None:
        self.launched.pop(ref, None)

    async def logs(self, ref: str, cursor: str = '') -> LogChunk:
        return LogChunk(lines=[], cursor=cursor)

    async def gpu_usage(self, ref: str, since: float) -> list[UsageSample]:
        return []

    def _check_key(self) -> None:
        if self.key != KEY:
            raise ProviderError('Tiny Cloud refused the API key.')
