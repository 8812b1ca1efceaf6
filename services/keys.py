"""The server's own secret: signs browser sessions and (with Fernet) encrypts secrets at rest: provider credentials,
a run's environment."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet

import settings

KEY_FILE = 'secret.key'


def server_secret() -> str:
    """TRAINBOARD_SECRET_KEY, or a key created once in the data dir with mode 0600."""
    return _secret_for(settings.current)


def encrypt(text: str, purpose: str) -> str:
    """`text` encrypted (Fernet) under a key derived from the server secret for `purpose` ('credentials', ...)."""
    return fernet(purpose).encrypt(text.encode()).decode()


def decrypt(token: str, purpose: str) -> str:
    """What `encrypt(text, purpose)` encrypted; cryptography.fernet.InvalidToken under another secret or purpose."""
    return fernet(purpose).decrypt(token.encode()).decode()


def fernet(purpose: str) -> Fernet:
    # one key per purpose, so that a token of one kind never decrypts as another; derived by hashing, whatever form
    # TRAINBOARD_SECRET_KEY takes
    digest = hashlib.sha256(f'{purpose}:'.encode() + server_secret().encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


@functools.lru_cache(maxsize=4)
def _secret_for(config: settings.Settings) -> str:
    if config.secret_key:
        return config.secret_key
    path = config.data_dir / KEY_FILE
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process made it first
            _create_key_file(path)
    return path.read_text().strip()


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as file:
        file.write(Fernet.generate_key().decode())
