"""Every provider this server can launch on, by name: what it can do (its capabilities) and how to reach it.

Services read what they offer and check from here, never from a provider's name: which providers take a
credential, which launch fields a run needs, whose logs and GPU metrics are collected. A third cloud is one module
in this package (a class with `name`, `capabilities` and `connect`, see base.Provider) and one `register(...)` line
at the bottom of this file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

from providers.base import Capabilities, Provider
from providers.local import LocalProvider
from providers.novita import NovitaProvider

_registered: dict[str, type[Provider]] = {}  # in registration order: this machine first, then the clouds


def register(kind: type[Provider]) -> None:
    """Offer the provider `kind` under its name; a name registered again is replaced."""
    _registered[kind.name] = kind


def unregister(name: str) -> None:
    """Forget a provider (a test's, once the test is over)."""
    _registered.pop(name, None)


def kind(name: str) -> type[Provider] | None:
    """The provider class registered under `name`, if any."""
    return _registered.get(name)


def capabilities(name: str) -> Capabilities | None:
    """What the provider `name` can do; None for a name no provider is registered under."""
    found = _registered.get(name)
    return found.capabilities if found else None


def names(**wanted: bool) -> Names:
    """The registered providers whose capabilities have every value `wanted` (e.g. needs_credential=True), as a
    live sequence: it answers from the registry each time it is read."""
    return Names(wanted)


class Names(Sequence[str]):
    """Provider names chosen by capabilities, read when used, so that a module-level constant made of it (such as
    credentials.PROVIDERS) also counts a provider registered after it was made."""

    def __init__(self, wanted: dict[str, bool]) -> None:
        self._wanted = dict(wanted)

    def _now(self) -> list[str]:
        return [name for name, found in _registered.items()
                if all(getattr(found.capabilities, field) == value for field, value in self._wanted.items())]

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        return self._now()[index]

    def __len__(self) -> int:
        return len(self._now())

    def __iter__(self) -> Iterator[str]:
        return iter(self._now())

    def __contains__(self, name: object) -> bool:
        return name in self._now()

    def __repr__(self) -> str:
        return f'Names({self._now()!r})'


register(LocalProvider)
register(NovitaProvider)
