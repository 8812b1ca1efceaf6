"""Where artifacts' bytes live: a directory under the data dir (`local`, the default) or an S3 bucket (`s3`, any
S3-compatible endpoint). A store knows keys, not runs: services/artifacts.py decides what a key is and who may touch it.

Uploads go straight to the store where it can take them (a presigned PUT, or presigned parts of a multipart upload,
for S3), else to this server (local). Either way the uploader reports what it sent (its SHA-256, each part's MD5 and
ETag) and the store checks the stored object against it before the artifact is ready.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import quote

PART_MIN_BYTES = 16 * 1024**2  # above this an upload is sent in parts, several at once
UPLOAD_TTL_S = 6 * 3600  # how long an announced upload may take (its presigned URLs last as long): GBs, slow uplinks
MAX_PARTS = 1000  # parts grow past PART_MIN_BYTES to keep a huge upload within this many (S3 allows 10,000)


class StoreError(Exception):
    """A store that cannot do its work, in one sentence for the person who can fix it (no stack trace, no secret)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Missing(StoreError):
    """One object is not in the store (removed there by hand): the store itself works."""


class Mismatch(StoreError):
    """What was stored is not what the uploader says it sent."""


@dataclass(frozen=True)
class Part:
    number: int  # from 1
    url: str


@dataclass(frozen=True)
class UploadPlan:
    """How to send the bytes: one PUT to `url` (`local`: this server; `single`: the store), or `parts` of
    `part_size` bytes (the last one shorter), each PUT to its own URL, for `multipart`."""

    kind: Literal['local', 'single', 'multipart']
    url: str = ''
    part_size: int = 0
    parts: list[Part] = field(default_factory=list)
    upload_id: str | None = None  # the store's handle of a multipart upload


@dataclass(frozen=True)
class SentPart:
    """What the uploader sent as part `number`: the MD5 of its bytes (hex) and the ETag the store answered."""

    number: int
    md5: str
    etag: str = ''


@dataclass(frozen=True)
class Download:
    """Where a browser or client gets the bytes: a URL of the store's (presigned), or a file this server streams."""

    url: str | None = None
    path: Path | None = None


class Store(Protocol):
    kind: str  # 'local' or 's3'

    def where(self, key: str) -> str:
        """The storage URL of `key`, as an artifact records it (`local:<key>`, `s3://<bucket>/<key>`)."""

    async def check(self) -> None:
        """Raise StoreError with one clear sentence unless the store can be written to."""

    async def begin(self, key: str, size: int, local_url: str) -> UploadPlan:
        """Plan an upload of `size` bytes to `key`; `local_url` is where this server takes bytes itself."""

    async def complete(self, key: str, plan: UploadPlan, size: int, parts: list[SentPart], sha256: str) -> None:
        """Finish an upload (for S3: assemble the parts) and check the stored object's size and digests against
        what was sent (`parts`' MD5s, the whole file's `sha256`); raise Mismatch if they differ (and leave nothing at
        `key` from this upload)."""

    async def abort(self, key: str, upload_id: str | None) -> None:
        """Drop an unfinished upload's parts."""

    async def put_file(self, key: str, path: Path) -> None:
        """Store a file of this server's (a browser's upload, a run's log) at `key`."""

    async def delete(self, key: str) -> None:
        """Remove `key`; a key that is not there is no error."""

    async def download(self, key: str, filename: str) -> Download:
        """Where to fetch `key`, offered as a download named `filename`."""


def attachment(filename: str) -> str:
    """A Content-Disposition that downloads `filename`, whatever it holds (RFC 6266): the name itself UTF-8 and
    percent-encoded, for browsers, and an ASCII stand-in without quotes, backslashes or control characters for the
    rest; a header holds only Latin-1, and a quote in the plain name would end it early."""
    fallback = ''.join(c if ' ' <= c <= '~' and c not in '"\\' else '_' for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def part_size(size: int) -> int:
    """The size of each part of an upload of `size` bytes (whole MiB), so that there are at most MAX_PARTS."""
    mib = 1024**2
    per_part = -(-size // MAX_PARTS)
    return max(PART_MIN_BYTES, -(-per_part // mib) * mib)


def sha256_of(chunks: Iterable[bytes]) -> str:
    """The SHA-256 (hex) of bytes that come piece by piece: a file's (`file_chunks`), an object's body."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def file_chunks(path: Path, size: int = 4 * 1024**2) -> Iterator[bytes]:
    with path.open('rb') as file:
        while chunk := file.read(size):
            yield chunk


def etag_of(md5s: list[str]) -> str:
    """The ETag S3 gives an object uploaded as one PUT (`md5s` has one item) or in these parts (md5 of the parts'
    md5s, then -<count>): what a stored object must show to be the bytes the uploader hashed."""
    if len(md5s) == 1:
        return md5s[0]
    return f'{hashlib.md5(b"".join(bytes.fromhex(m) for m in md5s)).hexdigest()}-{len(md5s)}'  # noqa: S324 (S3's)
