"""A run's artifacts: who may list, upload, download and remove them, what a name may be, and how an upload goes from
announced to checked. The bytes live in the artifact store (services/stores): this module decides the keys
(`<prefix>/<project id>/<run id>/<name>`) and keeps the records.

An upload is announced (`begin`: name, type, size, refused at once when too large), sent (to the store's presigned
URLs, or to this server for the local store), and completed (`complete`: the uploader's SHA-256 and each part's MD5
and ETag, checked against what the store holds). Announcing a name again reuses its record: a retried save never
makes a second artifact.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tortoise.exceptions import IntegrityError

import settings
from models import Artifact, ArtifactStatus, MemberRole, Project, Run, RunStatus, User
from services import artifact_store, audit, auth, hub, runs
from services.errors import Conflict, Invalid, NotFound, TooLarge, Unavailable
from services.stores import (
                             UPLOAD_TTL_S,
                             Download,
                             Mismatch,
                             Missing,
                             Part,
                             SentPart,
                             Store,
                             StoreError,
                             UploadPlan,
                             file_chunks,
                             part_size,
                             sha256_of,
)
from services.stores.local import LocalStore

log = logging.getLogger(__name__)
TYPES = ('checkpoint', 'model', 'dataset', 'eval', 'log', 'file')
NAME_MAX = 255  # bytes of UTF-8: a file name's limit on disk
KEY_MAX = 1024  # bytes of UTF-8: S3's limit on a key
# controls, format characters (bidi, zero-width), line and paragraph separators, and lone surrogates (no UTF-8)
UNSEEN = {'Cc', 'Cf', 'Zl', 'Zp', 'Cs'}
ANNOUNCE_TRIES = 10  # announces of one name at the same moment: each records its upload, or tries again
FINISHED_RUN_GRACE = timedelta(minutes=10)  # for the run's uploads announced before it ended
_SHA256 = re.compile(r'[0-9a-f]{64}')
_MD5 = re.compile(r'[0-9a-f]{32}')


@dataclass(frozen=True)
class ArtifactView:
    id: int
    run_id: int
    name: str
    type: str
    size_bytes: int
    sha256: str  # '' until the upload is checked
    status: str
    error: str | None
    storage_url: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Uploader:
    """Who sends an upload: a person who may edit the run, the run's code (`by_run_token`), or this server itself
    (neither: a run's kept log, sample data)."""

    run: Run
    person: User | None
    by_run_token: bool = False


async def uploader(run_id: int, authorization: str) -> Uploader:
    """The run's code (its run token, as a report sends it) or an editor of the run (an API key or login token)."""
    run, _signature = await runs.authorize_report(run_id, authorization=authorization, timestamp='', signature='',
                                                  body=b'')
    person = await auth.user_for_token(authorization.partition(' ')[2].strip())
    return Uploader(run, person, by_run_token=person is None)


def _refuse_a_finished_run(uploader: Uploader, artifact: Artifact | None = None) -> None:
    """A finished run's token saves no more files (as it sends no more reports): a job, or whoever holds its leaked
    token, could otherwise replace the kept log or a checked checkpoint for ever. An upload it announced before the
    end may still be sent and completed for FINISHED_RUN_GRACE after it. People and this server are not refused."""
    run = uploader.run
    if not uploader.by_run_token or not RunStatus(run.status).is_finished:
        return
    ended = run.ended_at
    if artifact is not None and ended is not None and artifact.updated_at <= ended \
            and datetime.now(UTC) <= ended + FINISHED_RUN_GRACE:
        return
    raise Conflict(f'Run {run.id} has finished ({run.status}); its token saves no more files. Someone who may edit '
                   'the run can still upload to it.')


async def listed(user: User, run_id: int) -> list[ArtifactView]:
    """The run's artifacts, newest first, for anyone who may see the run."""
    run = await runs.get_run(user, run_id)
    return [view(a) for a in await Artifact.filter(run_id=run.id).order_by('-created_at', '-id')]


async def begin(uploader: Uploader, *, name: str, type: str = 'file',
                size_bytes: int) -> tuple[ArtifactView, UploadPlan]:
    """Announce an upload of `size_bytes` to the run. Refused before any byte moves when the name is unsafe or the
    size too large."""
    run, actor = uploader.run, uploader.person
    _refuse_a_finished_run(uploader)
    name, type = checked_name(name), checked_type(type)
    if not 0 <= size_bytes <= settings.current.max_artifact_bytes:
        raise TooLarge(f'"{name}" is {size_bytes:,} bytes; this server takes artifacts of up to '
                       f'{settings.current.max_artifact_bytes:,} bytes (TRAINBOARD_MAX_ARTIFACT_BYTES).')
    project = await Project.get(id=run.project_id)
    store = await store_for(project)
    key = _key(project, run, name)
    if (size := len(key.encode())) > KEY_MAX:
        raise Invalid(f'"{name}" makes a key of {size} bytes under this project\'s prefix; a key holds at most '
                      f'{KEY_MAX}: give it a shorter name.')
    try:
        await store.check()  # a presigned URL is made without asking the bucket: ask it, for one clear message
    except StoreError as error:  # before any record: a refused upload leaves nothing behind
        raise await _unavailable(store, error) from None
    artifact = await _record(run, name, store.where(key))
    for _try in range(ANNOUNCE_TRIES):
        earlier = artifact.upload_id
        if earlier or artifact.status == ArtifactStatus.UPLOADING:
            await store.abort(_key_of(artifact), earlier)  # an earlier try, interrupted
        try:
            plan = await store.begin(key, size_bytes, f'/api/v1/runs/{run.id}/artifacts/{artifact.id}/content')
        except StoreError as error:
            raise await _unavailable(store, error) from None
        # recorded only if no other announce of the name (or a PUT, or a complete) changed the record meanwhile:
        # else this call's multipart upload would be tracked by no one, so it is aborted and the announce tried again
        fields = {'type': type, 'size_bytes': size_bytes, 'sha256': '', 'storage_url': store.where(key),
                  'status': ArtifactStatus.UPLOADING, 'error': None, 'upload_id': plan.upload_id,
                  'updated_at': datetime.now(UTC)}
        unchanged = {'upload_id__isnull': True} if earlier is None else {'upload_id': earlier}
        if await Artifact.filter(id=artifact.id, **unchanged).update(**fields):
            break
        await store.abort(key, plan.upload_id)
        artifact = await Artifact.get_or_none(id=artifact.id) or await _record(run, name, store.where(key))
    else:
        raise Conflict(f'"{name}" is being announced by other requests at this moment: try again.')
    await artifact_store.worked(store)
    for name_, value in fields.items():
        setattr(artifact, name_, value)
    await _announce(run, artifact, 'updated')
    if actor is not None:
        await audit.record(actor, 'artifact.uploaded', 'artifact', artifact.id, project_id=run.project_id,
                           run_id=run.id, name=name, size_bytes=size_bytes)
    return view(artifact), plan


async def receive(uploader: Uploader, artifact_id: int, chunks: AsyncIterator[bytes]) -> ArtifactView:
    """Take the bytes of an upload to the local store; what arrived is checked when the upload is completed."""
    run = uploader.run
    artifact = await _uploading(run, artifact_id)
    _refuse_a_finished_run(uploader, artifact)
    store = await store_for(await Project.get(id=run.project_id))
    if not isinstance(store, LocalStore) or not artifact.storage_url.startswith('local:'):
        raise Conflict('This artifact goes straight to the S3 bucket: PUT its bytes to the URLs its upload gave.')
    try:
        size, sha256, token = await store.receive(_key_of(artifact), chunks, limit=artifact.size_bytes)
    except StoreError as error:
        await _fail(run, artifact, error.message)
        raise Invalid(error.message) from None
    # the local store's handle of the upload: what this PUT's own staged file holds, and its token; the last PUT to
    # finish counts, and one that finishes after the upload was completed (or announced anew) is dropped
    received = f'received {size} {sha256} {token}'
    artifact.upload_id = received  # updated_at stays when the upload was announced (a finished run's grace)
    if not await Artifact.filter(id=artifact.id, status=ArtifactStatus.UPLOADING, storage_url=artifact.storage_url) \
            .update(upload_id=received):
        await store.drop(_key_of(artifact), token)
        raise Conflict(f'"{artifact.name}" was completed or removed while these bytes came: announce it again.')
    return view(artifact)


async def complete(uploader: Uploader, artifact_id: int, *, sha256: str, parts: list[SentPart]) -> ArtifactView:
    """Check what the store holds against what the uploader sent: ready with its size and SHA-256, or failed with
    the reason (a checksum mismatch), and every open tab hears of it either way."""
    run = uploader.run
    artifact = await _uploading(run, artifact_id)
    _refuse_a_finished_run(uploader, artifact)
    sha256 = sha256.strip().lower()
    if not _SHA256.fullmatch(sha256):
        raise Invalid('sha256 must be the SHA-256 of the file, as 64 hexadecimal digits.')
    if any(not _MD5.fullmatch(part.md5.lower()) for part in parts):
        raise Invalid('Each part\'s md5 must be 32 hexadecimal digits.')
    store = await store_for(await Project.get(id=run.project_id))
    key = _key_of(artifact)
    try:
        if isinstance(store, LocalStore):
            _received_size, received, _token = _received(artifact)
            if received != sha256:
                await store.abort(key, None)
                raise Mismatch(f'Checksum mismatch: the server received bytes with SHA-256 {received or "(none)"}, '
                               f'not {sha256}.')
        await store.complete(key, _plan(artifact), artifact.size_bytes, parts, sha256)
    except Mismatch as mismatch:
        await _fail(run, artifact, mismatch.message)
        return view(artifact)
    except StoreError as error:
        raise await _unavailable(store, error) from None
    artifact.status, artifact.sha256, artifact.upload_id, artifact.error = ArtifactStatus.READY, sha256, None, None
    await artifact.save()
    await _announce(run, artifact, 'updated')
    return view(artifact)


async def editor(user: User, run_id: int) -> Uploader:
    """`user` as the uploader of files to the run, if they may edit it (the browser's upload)."""
    return Uploader(await runs.get_run(user, run_id, MemberRole.EDITOR), user)


async def store_file(uploader: Uploader, *, name: str, type: str, path: Path) -> ArtifactView:
    """Store a file this server holds (a browser's upload, a run's log) as the run's artifact `name`, hashing it
    here."""
    run = uploader.run
    view_, _plan_ = await begin(uploader, name=name, type=type, size_bytes=path.stat().st_size)
    artifact = await Artifact.get(id=view_.id)
    store = await store_for(await Project.get(id=run.project_id))
    await store.abort(_key_of(artifact), artifact.upload_id)  # this server sends it whole, in its own way
    try:
        sha256 = await asyncio.to_thread(lambda: sha256_of(file_chunks(path)))
        await store.put_file(_key_of(artifact), path)
    except StoreError as error:
        await _fail(run, artifact, error.message)
        raise await _unavailable(store, error) from None
    artifact.status, artifact.sha256, artifact.upload_id, artifact.error = ArtifactStatus.READY, sha256, None, None
    await artifact.save()
    await _announce(run, artifact, 'updated')
    return view(artifact)


async def download(user: User, run_id: int, artifact_id: int) -> tuple[ArtifactView, Download]:
    """Where `user`, who may see the run, gets the artifact's bytes."""
    run = await runs.get_run(user, run_id)
    artifact = await _of(run, artifact_id)
    if artifact.status != ArtifactStatus.READY:
        raise Conflict(f'"{artifact.name}" is {artifact.status}: there is nothing to download yet.'
                       if artifact.status == ArtifactStatus.UPLOADING else
                       f'"{artifact.name}" failed to upload ({artifact.error}): there is nothing to download.')
    store = await _store_of(run, artifact)
    try:
        return view(artifact), await store.download(_key_of(artifact), artifact.name)
    except Missing as missing:  # this one file, not the store
        raise Conflict(missing.message) from None
    except StoreError as error:
        raise await _unavailable(store, error) from None


async def delete(user: User, run_id: int, artifact_id: int) -> None:
    """Remove an artifact and its bytes (editors and owners of the run's project)."""
    run = await runs.get_run(user, run_id, MemberRole.EDITOR)
    artifact = await _of(run, artifact_id)
    store = await _store_of(run, artifact)
    try:
        await store.abort(_key_of(artifact), artifact.upload_id)
        await store.delete(_key_of(artifact))
    except StoreError as error:
        raise await _unavailable(store, error) from None
    await artifact.delete()
    await audit.record(user, 'artifact.deleted', 'artifact', artifact.id, project_id=run.project_id, run_id=run.id,
                       name=artifact.name)
    await _announce(run, artifact, 'deleted')


@dataclass(frozen=True)
class Stored:
    """A project's artifacts' keys in one store they are in: what deleting the project leaves to remove, and its
    uploads in progress (key, upload id) to abort."""

    store: Store
    keys: list[str]
    uploads: list[tuple[str, str]] = field(default_factory=list)


async def stored_of(project: Project) -> list[Stored]:
    """Where `project`'s artifacts are, store by store (an admin may have moved them to another bucket on the way)."""
    found: dict[int, Stored] = {}
    for url, upload_id in await Artifact.filter(run__project_id=project.id).values_list('storage_url', 'upload_id'):
        try:
            store = await artifact_store.for_stored(project, url)
        except StoreError:
            continue  # a store that cannot even be made: nothing of it can be removed
        stored = found.setdefault(id(store), Stored(store, []))
        stored.keys.append(_key_of_url(url))
        if upload_id and not upload_id.startswith('received '):  # S3's multipart upload, not the local store's
            stored.uploads.append((_key_of_url(url), upload_id))
    return list(found.values())


async def remove(stored: list[Stored]) -> None:
    """Remove the bytes of a deleted project's artifacts, and abort its uploads in progress (their parts are billed
    and never listed, their URLs would take bytes for hours), as far as the stores let us: the records are gone
    already, so a failure is logged (once per store) and the rest is left to the bucket's own lifecycle rules."""
    for each in stored:
        for key, upload_id in each.uploads:
            await each.store.abort(key, upload_id)  # a failure to abort is no error of the delete
        for key in each.keys:
            try:
                await each.store.delete(key)
            except StoreError as error:
                log.warning('%d artifacts of a deleted project stay in the store: %s', len(each.keys), error.message)
                break


async def store_problem(user: User, run_id: int, *, check: bool = True) -> str | None:
    """What keeps the run's artifacts from being stored, in one sentence for the run page; None while the store works.

    With `check`, the store is tried (can it be written to?) unless it worked for this process before: once per
    store, and again each time while it fails, so that a fixed bucket is seen at once. Without, what it said last.
    """
    run = await runs.get_run(user, run_id)
    project = await Project.get(id=run.project_id)
    try:
        store = await artifact_store.for_project(project)
    except StoreError as error:  # not even configured
        return error.message
    health = artifact_store.health_of(store)
    if check and (not health.checked or health.error is not None):
        health = await artifact_store.check(project)
    return health.error


async def abandon_stale(now: datetime | None = None) -> int:
    """Fail the uploads announced longer ago than an upload may take (UPLOAD_TTL_S: their URLs have expired, so they
    can no longer complete: a job killed mid-save, say), dropping what the store holds of them (a multipart upload's
    parts are billed and never listed); how many. The leader runs this now and then."""
    now = now or datetime.now(UTC)
    stale = await Artifact.filter(status=ArtifactStatus.UPLOADING,
                                  updated_at__lt=now - timedelta(seconds=UPLOAD_TTL_S)) \
        .select_related('run').order_by('id').limit(100)
    failed = 0
    for artifact in stale:
        try:
            await (await _store_of(artifact.run, artifact)).abort(_key_of(artifact), artifact.upload_id)
        except (StoreError, Unavailable):
            continue  # the store cannot be reached now: tried again next time
        await _fail(artifact.run, artifact, f'The upload was not completed within {UPLOAD_TTL_S // 3600} hours of '
                                            'being announced (the job saving it stopped?): save it again.')
        failed += 1
    return failed


async def store_for(project: Project) -> Store:
    try:
        return await artifact_store.for_project(project)
    except StoreError as error:  # not even configured
        raise Unavailable(error.message) from None


def checked_name(name: str) -> str:
    """A file name, never a path: no separators, not `.` or `..`, at most 255 bytes as UTF-8 (what a file name on disk
    holds), and nothing unseen: no control, format (bidi overrides, zero-width) or line/paragraph separators."""
    name = name.strip()
    if not name:
        raise Invalid('Give the artifact a name.')
    if any(unicodedata.category(c) in UNSEEN for c in name):
        raise Invalid('An artifact\'s name cannot hold control characters, invisible characters (zero-width, '
                      'direction overrides) or line separators.')
    if '/' in name or '\\' in name or name in {'.', '..'}:  # with no separator, "a..b" is a name like any other
        raise Invalid(f'"{name}" is not a file name: an artifact\'s name cannot hold "/" or "\\", nor be "." or "..".')
    if (size := len(name.encode())) > NAME_MAX:
        raise Invalid(f'An artifact\'s name is at most {NAME_MAX} bytes as UTF-8 (fewer characters when they are not '
                      f'ASCII); that one has {size}.')
    return name


def checked_type(type: str) -> str:
    if type not in TYPES:
        raise Invalid(f'An artifact\'s type is one of {", ".join(TYPES)}, not "{type}".')
    return type


def view(artifact: Artifact) -> ArtifactView:
    ready = artifact.status == ArtifactStatus.READY
    return ArtifactView(id=artifact.id, run_id=artifact.run_id, name=artifact.name, type=artifact.type,
                        size_bytes=artifact.size_bytes, sha256=artifact.sha256 if ready else '',
                        status=str(artifact.status), error=artifact.error, storage_url=artifact.storage_url,
                        created_at=artifact.created_at, updated_at=artifact.updated_at)


def _key(project: Project, run: Run, name: str) -> str:
    prefix = artifact_store.prefix_of(project)
    return f'{prefix}/{project.id}/{run.id}/{name}' if prefix else f'{project.id}/{run.id}/{name}'


async def _store_of(run: Run, artifact: Artifact) -> Store:
    """The store an artifact's bytes went to, which may not be its project's store now."""
    try:
        return await artifact_store.for_stored(await Project.get(id=run.project_id), artifact.storage_url)
    except StoreError as error:
        raise Unavailable(error.message) from None


def _key_of(artifact: Artifact) -> str:
    """The key an artifact's bytes are under, from its storage URL (fixed when its upload began)."""
    return _key_of_url(artifact.storage_url)


def _key_of_url(where: str) -> str:
    return where.removeprefix('local:') if where.startswith('local:') else where.removeprefix('s3://').partition('/')[2]


async def _record(run: Run, name: str, storage_url: str) -> Artifact:
    existing = await Artifact.get_or_none(run_id=run.id, name=name)
    if existing is not None:
        return existing
    try:
        return await Artifact.create(run_id=run.id, name=name, storage_url=storage_url,
                                     status=ArtifactStatus.UPLOADING)
    except IntegrityError:  # announced at the same moment by another request: the same record
        return await Artifact.get(run_id=run.id, name=name)


async def _of(run: Run, artifact_id: int) -> Artifact:
    artifact = await Artifact.get_or_none(id=artifact_id, run_id=run.id)
    if artifact is None:
        raise NotFound(f'Run {run.id} has no artifact {artifact_id}.')
    return artifact


async def _uploading(run: Run, artifact_id: int) -> Artifact:
    artifact = await _of(run, artifact_id)
    if artifact.status != ArtifactStatus.UPLOADING:
        raise Conflict(f'"{artifact.name}" is {artifact.status}, not uploading: announce the upload again to send it.')
    return artifact


def _plan(artifact: Artifact) -> UploadPlan:
    """The plan `begin` gave, as far as completing it needs: its kind, upload id and part numbers."""
    if artifact.storage_url.startswith('local:'):
        return UploadPlan(kind='local', upload_id=_received(artifact)[2])  # the staged file whose digest is recorded
    if not artifact.upload_id:
        return UploadPlan(kind='single')
    count = -(-artifact.size_bytes // part_size(artifact.size_bytes))
    return UploadPlan(kind='multipart', upload_id=artifact.upload_id, part_size=part_size(artifact.size_bytes),
                      parts=[Part(number, '') for number in range(1, count + 1)])


def _received(artifact: Artifact) -> tuple[int, str, str]:
    """What the local store received for the artifact's upload: (size, SHA-256, the token of its staged file)."""
    words = (artifact.upload_id or '').split()
    return (int(words[1]), words[2], words[3]) if len(words) == 4 and words[0] == 'received' else (0, '', '')


async def _fail(run: Run, artifact: Artifact, reason: str) -> None:
    artifact.status, artifact.error, artifact.upload_id, artifact.sha256 = ArtifactStatus.FAILED, reason, None, ''
    await artifact.save()
    await _announce(run, artifact, 'updated')


async def _unavailable(store: Store, error: StoreError) -> Unavailable:
    await artifact_store.failed(store, error.message)
    return Unavailable(error.message)


async def _announce(run: Run, artifact: Artifact, action: str) -> None:
    await hub.publish(hub.Change(kind='artifact', action=action, id=artifact.id, project_id=run.project_id,
                                 data={'run_id': run.id}))


