"""The providers this server can launch on: this machine always, Novita once a credential is stored."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import settings
from providers.base import Product, Provider, ProviderError
from providers.local import LocalProvider
from providers.novita import NovitaProvider
from services import credentials
from services.errors import Invalid, ServiceError

log = logging.getLogger(__name__)

LAUNCHABLE = ('local', 'novita')


async def get(name: str) -> Provider:
    if name == 'local':
        return _local(settings.current)
    if name == 'novita':
        key = await credentials.secret_for('novita')
        if key is None:
            raise Invalid('Add a Novita API key on the settings page first.')
        return _novita(key, settings.current.novita_base_url)
    raise Invalid(f'Trainboard cannot launch on "{name}"; it can launch on: {", ".join(LAUNCHABLE)}.')


async def products(name: str) -> list[Product]:
    """What a provider offers, with prices; its failure as a message for the user."""
    try:
        return await (await get(name)).products()
    except ProviderError as error:
        raise Invalid(error.message) from None


async def offer(name: str, product_id: str, gpu_count: int, *, spot: bool = False) -> tuple[Product, float]:
    """The product a run would launch on, and what it would bill per hour for `gpu_count` GPUs."""
    provider = await get(name)
    product = next((p for p in await provider.products() if p.id == product_id or name == 'local'), None)
    if product is None:
        raise ProviderError(f'{name} has no product "{product_id}".')
    if spot and product.spot_price_per_hour is None:
        raise ProviderError(f'{product.name} is not offered on spot capacity: launch it on demand.')
    price = product.spot_price_per_hour if spot else product.price_per_hour
    return product, price * max(gpu_count, 1)


async def each_job(runs: list[Any], work: Callable[[Any], Awaitable[int]], *, at_once: int = 8) -> int:
    """`work(run)` for every run, `at_once` at a time (each makes provider calls); the sum of what they return. A
    provider that fails counts 0 for that run: the next round tries again, and the poller tells of outages."""
    gate = asyncio.Semaphore(at_once)

    async def one(run: Any) -> int:
        async with gate:
            try:
                return await work(run)
            except (ProviderError, ServiceError) as error:
                log.debug('%s of run %s failed: %s', work.__name__, run.id, error.message)
                return 0
    return sum(await asyncio.gather(*(one(run) for run in runs)))


async def available() -> list[str]:
    return ['local'] + (['novita'] if await credentials.secret_for('novita') else [])


@functools.lru_cache(maxsize=4)
def _local(config: settings.Settings) -> LocalProvider:
    _keep_from_other_users(config.data_dir)
    return LocalProvider(config.local_jobs_dir, price_per_hour=config.local_price_per_hour,
                         stop_grace_s=config.stop_grace_s, run_as=config.local_run_as, python=config.local_python)


def _keep_from_other_users(data_dir: Path) -> None:
    """Local jobs run as another user of this machine: the data dir (the server's key, the SQLite database, browser
    sessions) must not be theirs to read, whatever mode it was made with."""
    with contextlib.suppress(FileNotFoundError):
        data_dir.chmod(stat.S_IMODE(data_dir.stat().st_mode) & ~0o007)


@functools.lru_cache(maxsize=4)
def _novita(api_key: str, base_url: str) -> NovitaProvider:
    return NovitaProvider(api_key, base_url)
