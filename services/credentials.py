"""Provider credentials, encrypted at rest with Fernet under the server secret; never shown beyond the last four."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet

import settings
from models import Credential, User
from providers.base import ProviderError
from providers.novita import NovitaProvider
from services import audit, keys
from services.errors import Invalid, NotFound

PROVIDERS = ('novita',)


async def add(user: User, *, provider: str, label: str, secret: str) -> dict[str, Any]:
    if provider not in PROVIDERS:
        raise Invalid(f'Credentials are for: {", ".join(PROVIDERS)}.')
    label, secret = label.strip(), secret.strip()
    if not 1 <= len(label) <= 100:
        raise Invalid('Give the credential a label of 1 to 100 characters.')
    if len(secret) < 8:
        raise Invalid('That secret is too short to be an API key.')
    credential = await Credential.create(provider=provider, label=label, owner=user, last4=secret[-4:],
                                         secret_encrypted=_fernet().encrypt(secret.encode()).decode())
    await audit.record(user, 'credential.added', 'credential', credential.id, provider=provider, label=label)
    return shown(credential)


async def listed(user: User) -> list[dict[str, Any]]:
    query = Credential.all() if user.is_admin else Credential.filter(owner=user)
    return [shown(c) for c in await query.order_by('-created_at')]


async def delete(user: User, credential_id: int) -> None:
    query = Credential.filter(id=credential_id) if user.is_admin else Credential.filter(id=credential_id, owner=user)
    if not await query.delete():
        raise NotFound('No such credential.')
    await audit.record(user, 'credential.deleted', 'credential', credential_id)


async def secret_for(provider: str) -> str | None:
    """The newest credential for a provider, decrypted: for the server's own calls only."""
    credential = await Credential.filter(provider=provider).order_by('-created_at').first()
    return _fernet().decrypt(credential.secret_encrypted.encode()).decode() if credential else None


async def secret_of(user: User, credential_id: int) -> tuple[str, str]:
    query = Credential.filter(id=credential_id) if user.is_admin else Credential.filter(id=credential_id, owner=user)
    credential = await query.first()
    if credential is None:
        raise NotFound('No such credential.')
    return credential.provider, _fernet().decrypt(credential.secret_encrypted.encode()).decode()


async def check(user: User, credential_id: int) -> tuple[bool, str]:
    """Try a stored key against its provider: whether it works, and a sentence saying so."""
    _, secret = await secret_of(user, credential_id)
    try:
        found = await NovitaProvider(secret, settings.current.novita_base_url).products()
    except ProviderError as error:
        return False, error.message
    return True, f'The key works: {len(found)} products visible.'


def shown(credential: Credential) -> dict[str, Any]:
    return {'id': credential.id, 'provider': credential.provider, 'label': credential.label,
            'secret': f'••••{credential.last4}', 'created_at': credential.created_at}


def _fernet() -> Fernet:
    return keys.fernet('credentials')
