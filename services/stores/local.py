"""The default store: files under `<data dir>/artifacts`, readable by the server's user alone, uploaded through this
server (which hashes them on the way in) and downloaded as a streamed response."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from services.stores import Download, Mismatch, Missing, SentPart, StoreError, UploadPlan

CHUNK_BYTES = 4 * 1024**2  # written and hashed off the event loop this much at a time
_TOKEN = re.compile(r'[0-9a-f]{32}')  # a PUT's staged file


class LocalStore:
    kind = 'local'

    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging = root.with_name(root.name + '-uploads')  # beside it: the same disk, so a rename moves a file

    def where(self, key: str) -> str:
        return f'local:{key}'

    async def check(self) -> None:
        try:
            await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f'The artifact directory {self.root} cannot be created: {error.strerror}.') from None

    async def begin(self, key: str, size: int, local_url: str) -> UploadPlan:
        await self.abort(key, None)
        return UploadPlan(kind='local', url=local_url)

    async def receive(self, key: str, chunks: AsyncIterator[bytes], limit: int) -> tuple[int, str, str]:
        """Write the bytes of one PUT to a staging file of its own, hashing them; (size, SHA-256 hex, token) of what
        came, the token naming that file for `complete` (plan.upload_id). A second PUT at the same moment writes its
        own file, so the file that was hashed is the file that is moved into place. More than `limit` bytes raise
        StoreError and keep nothing."""
        token = secrets.token_hex(16)
        staged = self._staged(key, token)
        digest, size, buffer = hashlib.sha256(), 0, bytearray()
        with staged.open('xb') as file:
            try:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise StoreError(f'The upload is larger than the {limit:,} bytes it announced.')
                    buffer += chunk
                    if len(buffer) >= CHUNK_BYTES:
                        await asyncio.to_thread(_write, file, digest, bytes(buffer))
                        buffer.clear()
                await asyncio.to_thread(_write, file, digest, bytes(buffer))
            except BaseException:
                file.close()
                staged.unlink(missing_ok=True)
                raise
        return size, digest.hexdigest(), token

    async def complete(self, key: str, plan: UploadPlan, size: int, parts: list[SentPart], sha256: str) -> None:
        """Move the staged file of the PUT whose digest was checked (`plan.upload_id`, its token) into place; any
        other PUT's file for `key` is dropped."""
        staged = self._staged(key, plan.upload_id) if plan.upload_id and _TOKEN.fullmatch(plan.upload_id) else None
        try:
            if staged is None or not staged.is_file():
                raise Mismatch('No bytes arrived for this upload: send them first, then complete it.')
            if (got := staged.stat().st_size) != size:
                raise Mismatch(f'{got:,} bytes arrived, not the {size:,} announced.')
            await asyncio.to_thread(staged.replace, self._path(key))
        finally:
            await self.abort(key, None)

    async def abort(self, key: str, upload_id: str | None) -> None:
        """Drop every staged file of `key` (each PUT's)."""
        await asyncio.to_thread(_remove, self._staging_of(key))

    async def drop(self, key: str, token: str) -> None:
        """Drop one PUT's staged file (one that came too late to count)."""
        if _TOKEN.fullmatch(token):
            self._staged(key, token).unlink(missing_ok=True)

    async def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        staged = self._staged(key, secrets.token_hex(16))
        try:
            await asyncio.to_thread(shutil.copyfile, path, staged)
            staged.replace(target)
        finally:
            staged.unlink(missing_ok=True)

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
        await self.abort(key, None)
        with contextlib.suppress(OSError):  # the run's directory, once empty
            self._path(key).parent.rmdir()

    async def download(self, key: str, filename: str) -> Download:
        path = self._path(key)
        if not path.is_file():
            raise Missing(f'The file of this artifact is missing from {self.root}: it was removed there.')
        return Download(path=path)

    def _path(self, key: str, root: Path | None = None) -> Path:
        """`key`'s file (under `root`, the store's by default), its directory made."""
        root = (root or self.root).resolve()
        path = (root / key).resolve()
        if not path.is_relative_to(root):  # names are checked before; this is the last word
            raise StoreError('That key is outside the artifact directory.')
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _staging_of(self, key: str) -> Path:
        """The directory of `key`'s staged files, one per PUT, named by their tokens."""
        return self._path(key, self.staging)

    def _staged(self, key: str, token: str) -> Path:
        directory = self._staging_of(key)
        if directory.is_file():  # a staged file of the layout before one file per PUT
            directory.unlink(missing_ok=True)
        directory.mkdir(exist_ok=True)
        return directory / token


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _write(file, digest, data: bytes) -> None:  # noqa: ANN001 (a binary file, a hashlib object)
    digest.update(data)
    file.write(data)
