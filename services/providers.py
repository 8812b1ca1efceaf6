"""The providers this server can launch on (providers.registry): this machine without a credential, a cloud
through a stored one.

A cloud provider is always reached through one credential (one account): the run's own for everything about a run,
the one a user names (or may only use) for what they browse. What differs between providers is read from their
capabilities, never from their names.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import settings
from models import User
from providers import local_sandbox, registry
from providers.base import Capabilities, Product, Provider, ProviderError
from services import auth, credentials
from services.errors import Invalid, ServiceError

log = logging.getLogger(__name__)

LAUNCHABLE = registry.names()  # every registered provider, read when used


def example_command() -> str:
    """What a new user can launch at once: the example MLP, which reports through the SDK."""
    return f'python {local_sandbox.example_script(settings.current.local_jobs_dir)} --epochs 20'


@dataclass(frozen=True, slots=True)
class CredentialChoice:
    """A credential a user may launch with, without its secret."""
    id: int
    label: str
    scope: str  # credentials.WORKSPACE or credentials.PROJECT
    project_id: int | None


@dataclass(frozen=True, slots=True)
class Offered:
    """A provider a user may launch on, with the credentials they may use for it (none for one that needs none)."""
    name: str
    capabilities: Capabilities
    credentials: list[CredentialChoice]


def capabilities(name: str) -> Capabilities:
    """What the provider `name` can do."""
    found = registry.capabilities(name)
    if found is None:
        raise Invalid(f'Trainboard cannot launch on "{name}"; it can launch on: {", ".join(LAUNCHABLE)}.')
    return found


async def get(name: str, credential_id: int | None = None) -> Provider:
    """The provider `name`, reached through the credential `credential_id` (a cloud needs one; this machine none)."""
    kind = registry.kind(name)
    if kind is None:
        raise Invalid(f'Trainboard cannot launch on "{name}"; it can launch on: {", ".join(LAUNCHABLE)}.')
    said = kind.capabilities.said
    if not kind.capabilities.needs_credential:
        return _without_credential(kind, settings.current)
    if credential_id is None:
        raise Invalid(f'No {said} credential is recorded for this: name one.')
    key = await credentials.key_for(credential_id)
    if key is None:
        raise Invalid(f'The {said} credential {credential_id} has been removed.')
    return _through_credential(kind, settings.current, key)


async def products(user: User, name: str, *, credential_id: int | None = None) -> list[Product]:
    """What a provider offers `user`, with prices, through a credential they may use (the one named, or their only
    one); its failure as a message for the user."""
    if capabilities(name).needs_credential:
        credential_id = (await credentials.usable_named(user, name, credential_id)).id
    try:
        return await (await get(name, credential_id)).products()
    except ProviderError as error:
        raise Invalid(error.message) from None


async def offer(name: str, product_id: str, gpu_count: int, *, spot: bool = False,
                credential_id: int | None = None) -> tuple[Product, float]:
    """The product a run would launch on, and what it would bill per hour for `gpu_count` GPUs. A provider whose
    launches name no product (this machine) offers its first."""
    provider = await get(name, credential_id)
    found = await provider.products()
    product = next((p for p in found if p.id == product_id), None)
    if product is None and 'product_id' not in provider.capabilities.launch_fields and found:
        product = found[0]
    if product is None:
        raise ProviderError(f'{name} has no product "{product_id}".')
    if spot and product.spot_price_per_hour is None:
        raise ProviderError(f'{product.name} is not offered on spot capacity: launch it on demand.')
    price = product.spot_price_per_hour if spot else product.price_per_hour
    return product, price * max(gpu_count, 1)


async def may_launch_on_server(user: User) -> bool:
    """Whether the user may launch on this machine at all (TRAINBOARD_LOCAL_RUNS); a project's roles still apply.
    A job there runs a shell command on the server's machine, so by default only admins start one."""
    user = await auth.refreshed(user)
    policy = settings.current.local_runs
    return policy == 'members' or policy == 'admins' and user.is_admin


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


async def available(user: User) -> list[Offered]:
    """The providers `user` can launch on: this machine for whom TRAINBOARD_LOCAL_RUNS lets launch there, each other
    provider that needs no credential, and each cloud with the credentials they may use."""
    found: list[Offered] = []
    on_server = await may_launch_on_server(user)
    for name in LAUNCHABLE:
        caps = registry.capabilities(name)
        if caps is None or caps.runs_on_server and not on_server:
            continue
        if not caps.needs_credential:
            found.append(Offered(name, caps, []))
        elif usable := await credentials.usable(user, name):
            found.append(Offered(name, caps, [
                CredentialChoice(c.id, c.label, credentials.PROJECT if c.project_id else credentials.WORKSPACE,
                                 c.project_id) for c in usable]))
    return found


@functools.lru_cache(maxsize=8)  # one per provider and settings: this machine's keeps the children it reaps
def _without_credential(kind: type[Provider], config: settings.Settings) -> Provider:
    if kind.capabilities.runs_on_server:
        _keep_from_other_users(config.data_dir)
    return kind.connect(config, '')


@functools.lru_cache(maxsize=64)  # one per credential: each keeps its catalogue and log addresses
def _through_credential(kind: type[Provider], config: settings.Settings, key: str) -> Provider:
    return kind.connect(config, key)


def _keep_from_other_users(data_dir: Path) -> None:
    """Jobs on this machine run as another of its users: the data dir (the server's key, the SQLite database,
    browser sessions) must not be theirs to read, whatever mode it was made with."""
    with contextlib.suppress(FileNotFoundError):
        data_dir.chmod(stat.S_IMODE(data_dir.stat().st_mode) & ~0o007)
