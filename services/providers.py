"""The providers this server can launch on, built once from settings."""

from __future__ import annotations

import functools

import settings
from providers.base import Provider
from providers.local import LocalProvider
from services.errors import Invalid

LAUNCHABLE = ('local',)


def get(name: str) -> Provider:
    if name not in LAUNCHABLE:
        raise Invalid(f'Trainboard cannot launch on "{name}"; it can launch on: {", ".join(LAUNCHABLE)}.')
    return _local(settings.current)


@functools.lru_cache(maxsize=4)
def _local(config: settings.Settings) -> LocalProvider:
    return LocalProvider(config.data_dir / 'jobs', price_per_hour=config.local_price_per_hour,
                         stop_grace_s=config.stop_grace_s)
