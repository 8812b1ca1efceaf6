"""The providers this server can launch on: this machine always, Novita through a stored credential.

A cloud provider is always reached through one credential (one account): the run's own for everything about a run,
the one a user names (or may only use) for what they browse.
"""

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
from models import User
from providers.base import Product, Provider, ProviderError
from providers.local import LocalProvider
from providers.novita import NovitaProvider
from services import credentials
from services.errors import Invalid, ServiceError

log = logging.getLogger(__name__)

LAUNCHABLE = ('local', 'novita')


async def get(name: str, credential_id: int | None = None) -> Provider:
    """The provider `name`, reached through the credential `credential_id` (a cloud needs one; this machine none)."""
    if name == 'local':
        return _local(settings.current)
    if name == 'novita':
        if credential_id is None:
            raise Invalid('No Novita credential is recorded for this: name one.')
        key = await credentials.key_for(credential_id)
        if key is None:
            raise Invalid(f'The Novita credential {credential_id} has been removed.')
        return _novita(key, settings.current.novita_base_url)
    raise Invalid(f'Trainboard cannot launch on "{name}"; it can launch on: {", ".join(LAUNCHABLE)}.')


async def products(user: User, name: str, *, credential_id: int | None = None) -> list[Product]:
    """What a provider offers `user`, with prices, through a credential they may use (the one named, or their only
    one); its failure as a message for the user."""
    if name == 'novita':
        credential_id = (await credentials.usable_named(user, name, credential_id)).id
    try:
        return await (await get(name, credential_id)).products()
    except ProviderError as error:
        raise Invalid(error.message) from None


async def offer(name: str, product_id: str, gpu_count: int, *, spot: bool = False,
                credential_id: int | None = None) -> tuple[Product, float]:
    """The product a run would launch on, and what it would bill per hour for `gpu_count` GPUs."""
    provider = await get(name, credential_id)
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
            except Exception:  # a surprise from one job's provider must not stop the others' collection
                log.exception('%s of run %s failed', work.__name__, run.id)
                return 0
    return sum(await asyncio.gather(*(one(run) for run in runs)))


async def available(user: User) -> list[dict[str, Any]]:
    """The providers `user` can launch on, each cloud with the credentials they may use (masked)."""
    found: list[dict[str, Any]] = [{'name': 'local', 'credentials': []}]
    for name in credentials.PROVIDERS:
        if usable := await credentials.usable(user, name):
            found.append({'name': name, 'credentials': [
                {'id': c.id, 'label': c.label, 'scope': credentials.PROJECT if c.project_id else credentials.WORKSPACE,
                 'project_id': c.project_id} for c in usable]})
    return found


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


@functools.lru_cache(maxsize=64)  # one per credential: each keeps its catalogue and log addresses
def _novita(api_key: str, base_url: str) -> NovitaProvider:
    return NovitaProvider(api_key, base_url)
