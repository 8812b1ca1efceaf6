"""The default store: files under `<data dir>/artifacts`, readable by the server's user alone, uploaded through this
server (which hashes them on the way in) and downloaded as a streamed response."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from services.stores import Download, Mismatch, Missing, SentPart, StoreError, UploadPlan

CHUNK_BYTES = 4 * 1024**2  # written and hashed off the event loop this much at a time


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

    async def receive(self, key: str, chunks: AsyncIterator[bytes], limit: int) -> tuple[int, str]:
        """Write the bytes of an upload to `key`'s staging file, hashing them; (size, SHA-256 hex) of what came.
        More than `limit` bytes raise StoreError and keep nothing."""
        staged = self._staged(key)
        digest, size, buffer = hashlib.sha256(), 0, bytearray()
        with staged.open('wb') as file:
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
        return size, digest.hexdigest()

    async def complete(self, key: str, plan: UploadPlan, size: int, parts: list[SentPart], sha256: str) -> None:
        staged = self._staged(key)
        if not staged.is_file():
            raise Mismatch('No bytes arrived for this upload: send them first, then complete it.')
        if (got := staged.stat().st_size) != size:
            staged.unlink(missing_ok=True)
            raise Mismatch(f'{got:,} bytes arrived, not the {size:,} announced.')
        await asyncio.to_thread(staged.replace, self._path(key))

    async def abort(self, key: str, upload_id: str | None) -> None:
        self._staged(key).unlink(missing_ok=True)

    async def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        staged = self._staged(key)
        await asyncio.to_thread(shutil.copyfile, path, staged)
        staged.replace(target)

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

    def _staged(self, key: str) -> Path:
        return self._path(key, self.staging)


def _write(file, digest, data: bytes) -> None:  # noqa: ANN001 (a binary file, a hashlib object)
    digest.update(data)
    file.write(data)
