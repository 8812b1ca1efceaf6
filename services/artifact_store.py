"""Which store a project's artifacts go to, and how that store is doing.

The server's store is TRAINBOARD_ARTIFACT_STORE: `local` (a directory under the data dir) or `s3`
(TRAINBOARD_S3_BUCKET at TRAINBOARD_S3_ENDPOINT_URL, under TRAINBOARD_S3_PREFIX). An admin may give a project a bucket
and prefix of its own (its settings `artifact_bucket`, `artifact_prefix`). S3 keys come from a stored `s3` credential,
the project's own before the workspace's, else from boto3's usual chain.

Health lives on one object per store: the last error a store gave (a missing bucket, refused keys) is shown on the
settings page and the run page until a call to it works again, and logged once when it flips.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from tortoise.expressions import Q

import settings
from models import Credential, Project
from services import credentials
from services.errors import Invalid
from services.stores import Store, StoreError
from services.stores.local import LocalStore
from services.stores.s3 import S3Store

log = logging.getLogger(__name__)
S3_CREDENTIAL = 's3'  # the provider name of a stored S3 key pair: "<access key id>:<secret access key>"


@dataclass
class Health:
    """How a store answered last: `error` is None while it works."""

    where: str  # the store, as people know it: "the local directory …", "S3 bucket "x" at …"
    error: str | None = None
    since: float = 0.0
    checked: bool = False  # tried by `check` in this process


_stores: dict[str, Store] = {}
_health: dict[str, Health] = {}


async def for_project(project: Project) -> Store:
    """The store `project`'s artifacts go to now; one store object per configuration, kept (boto3 clients are costly
    to make and safe to share between threads)."""
    config = settings.current
    if config.artifact_store == 'local':
        return _local()
    bucket = str((project.settings or {}).get('artifact_bucket') or config.s3_bucket)
    if not bucket:
        raise StoreError('No S3 bucket is set: set TRAINBOARD_S3_BUCKET (or the project\'s bucket).')
    return await _s3(project, bucket)


async def for_stored(project: Project, storage_url: str) -> Store:
    """The store an artifact of `project` was saved to (its storage URL): the project's store now, or the one it used
    before an admin moved its artifacts (another bucket, with the project's keys; or this server's directory), so
    that older files stay downloadable and removable."""
    if storage_url.startswith('local:'):
        return _local()
    bucket = storage_url.removeprefix('s3://').partition('/')[0]
    return await _s3(project, bucket)


def _local() -> Store:
    root = settings.current.data_dir / 'artifacts'
    identity = f'local {root}'
    if identity not in _stores:
        _stores[identity] = LocalStore(root)
    return _remember(identity, _stores[identity], f'the directory {root}')


async def _s3(project: Project, bucket: str) -> Store:
    config = settings.current
    credential = await _credential(project)
    try:
        key_id, secret = _key_pair(credential)
    except Invalid as error:  # stored under another server secret: the store cannot be used, say so as the store
        raise StoreError(error.message) from None
    identity = 's3 ' + hashlib.sha256(f'{config.s3_endpoint_url}\0{bucket}\0{config.s3_region}\0{key_id}\0{secret}'
                                      .encode()).hexdigest()
    if identity not in _stores:
        _stores[identity] = S3Store(bucket=bucket, endpoint_url=config.s3_endpoint_url, region=config.s3_region,
                                    access_key_id=key_id, secret_access_key=secret,
                                    key_source=f'the credential "{credential.label}"' if credential else '')
    at = f' at {config.s3_endpoint_url}' if config.s3_endpoint_url else ''
    return _remember(identity, _stores[identity], f'the S3 bucket "{bucket}"{at}')


def prefix_of(project: Project) -> str:
    """The key prefix of `project`'s artifacts (no slash at either end; may be empty)."""
    chosen = (project.settings or {}).get('artifact_prefix')
    return str(chosen if chosen is not None else settings.current.s3_prefix).strip('/')


def health_of(store: Store) -> Health:
    return _health[_identity_of(store)]


async def worked(store: Store) -> None:
    health = health_of(store)
    if health.error is not None:
        log.info('%s works again', health.where)
        health.error, health.since = None, time.time()


async def failed(store: Store, message: str) -> None:
    health = health_of(store)
    if health.error != message:
        log.warning('%s: %s', health.where, message)  # once when it flips, not at every upload
        health.error, health.since = message, time.time()


async def check(project: Project) -> Health:
    """Try the store `project` uses now (can it be written to?) and say how it is: for the settings page's button
    and the run page."""
    try:
        store = await for_project(project)
    except StoreError as error:
        return Health(where='the artifact store', error=error.message, since=time.time())
    try:
        await store.check()
    except StoreError as error:
        await failed(store, error.message)
    else:
        await worked(store)
    health_of(store).checked = True
    return health_of(store)


async def check_keys(credential: Credential) -> tuple[bool, str]:
    """Try a stored S3 key pair against the bucket its scope uses (its project's, else TRAINBOARD_S3_BUCKET), with
    a client of its own (not the store uploads share): whether it works, and a sentence saying so."""
    config = settings.current
    project = await Project.get_or_none(id=credential.project_id) if credential.project_id else None
    bucket = str(((project.settings or {}) if project else {}).get('artifact_bucket') or config.s3_bucket)
    if not bucket:
        return False, 'No S3 bucket is set to try the keys on: set TRAINBOARD_S3_BUCKET (or the project\'s bucket).'
    try:
        key_id, secret = _key_pair(credential)
    except Invalid as error:  # stored under another server secret
        return False, error.message
    store = S3Store(bucket=bucket, endpoint_url=config.s3_endpoint_url, region=config.s3_region,
                    access_key_id=key_id, secret_access_key=secret, key_source=f'the credential "{credential.label}"')
    try:
        await store.check()
    except StoreError as error:
        return False, error.message
    at = f' at {config.s3_endpoint_url}' if config.s3_endpoint_url else ''
    unused = '' if config.artifact_store == 's3' else \
        ' (This server keeps artifacts in its local directory: set TRAINBOARD_ARTIFACT_STORE=s3 to use them.)'
    return True, f'The keys work: they reach the S3 bucket "{bucket}"{at}.{unused}'


def forget() -> None:
    """Drop every store and its health (tests, and a process that re-reads its settings)."""
    _stores.clear()
    _health.clear()


def _remember(identity: str, store: Store, where: str) -> Store:
    _health.setdefault(identity, Health(where=where))
    return store


def _identity_of(store: Store) -> str:
    return next(identity for identity, known in _stores.items() if known is store)


async def _credential(project: Project) -> Credential | None:
    found = await Credential.filter(Q(project_id=project.id) | Q(project_id__isnull=True), provider=S3_CREDENTIAL) \
        .order_by('id')
    return next((c for c in found if c.project_id == project.id), None) or next(iter(found), None)


def _key_pair(credential: Credential | None) -> tuple[str, str]:
    if credential is None:
        return '', ''
    key_id, _, secret = credentials.decrypted(credential).partition(':')
    return key_id.strip(), secret.strip()
