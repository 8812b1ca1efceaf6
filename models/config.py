"""The Tortoise config for this package: which modules hold the models and the migrations. Imports nothing of ours."""

from typing import Any


def config_for(url: str) -> dict[str, Any]:
    return {
        'connections': {'default': url},
        'apps': {'models': {'models': ['models'], 'migrations': 'models.migrations', 'default_connection': 'default'}},
        'use_tz': True,
        'timezone': 'UTC',
    }


# what the `tortoise` CLI uses for `makemigrations` (see [tool.tortoise] in pyproject.toml)
MIGRATIONS_CONFIG = config_for('sqlite://:memory:')
