"""Artifacts in an S3 bucket (AWS, MinIO, R2, ...): uploads and downloads go straight between the client and the
bucket through presigned URLs; this server only plans, checks and removes. Every boto3 call runs in a worker thread:
none blocks the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from services.stores import (
    UPLOAD_TTL_S,
    Download,
    Mismatch,
    Missing,
    Part,
    SentPart,
    StoreError,
    UploadPlan,
    attachment,
    etag_of,
    part_size,
    sha256_of,
)

DOWNLOAD_URL_TTL_S = 600
# boto3 >= 1.36 adds CRC checksums to every request by default; presigned URLs must not ask the uploader for them
CONFIG = Config(signature_version='s3v4', request_checksum_calculation='when_required',
                response_checksum_validation='when_required', retries={'max_attempts': 3, 'mode': 'standard'},
                connect_timeout=5, read_timeout=60)


class S3Store:
    kind = 's3'

    def __init__(self, *, bucket: str, endpoint_url: str = '', region: str = '',
                 access_key_id: str = '', secret_access_key: str = '', key_source: str = '') -> None:
        """Keys from a stored credential (`access_key_id`, `secret_access_key`; `key_source` names it in messages),
        else boto3's own chain (AWS_ACCESS_KEY_ID, a profile, an instance role)."""
        self.bucket, self.endpoint_url = bucket, endpoint_url
        self.key_source = key_source or 'boto3\'s usual chain (AWS_ACCESS_KEY_ID, ...)'
        keys = {'aws_access_key_id': access_key_id, 'aws_secret_access_key': secret_access_key} if access_key_id \
            else {}
        region = region or os.environ.get('AWS_REGION') or os.environ.get('AWS_DEFAULT_REGION') or 'us-east-1'
        # a client is thread-safe once made; a session is not, so each store makes its own client here, once
        self.client = boto3.session.Session().client('s3', endpoint_url=endpoint_url or None, region_name=region,
                                                     config=CONFIG, **keys)

    def where(self, key: str) -> str:
        return f's3://{self.bucket}/{key}'

    async def check(self) -> None:
        await self._call('head_bucket', Bucket=self.bucket)

    async def begin(self, key: str, size: int, local_url: str) -> UploadPlan:
        each = part_size(size)
        if size <= each:
            url = await self._presign('put_object', UPLOAD_TTL_S, Key=key)
            return UploadPlan(kind='single', url=url)
        created = await self._call('create_multipart_upload', Bucket=self.bucket, Key=key)
        upload_id = created['UploadId']
        count = -(-size // each)
        urls = await asyncio.gather(*(
            self._presign('upload_part', UPLOAD_TTL_S, Key=key, UploadId=upload_id, PartNumber=number)
            for number in range(1, count + 1)))
        return UploadPlan(kind='multipart', part_size=each, upload_id=upload_id,
                          parts=[Part(number, url) for number, url in enumerate(urls, start=1)])

    async def complete(self, key: str, plan: UploadPlan, size: int, parts: list[SentPart], sha256: str) -> None:
        sent = sorted(parts, key=lambda part: part.number)
        if plan.kind == 'multipart':
            if [part.number for part in sent] != [part.number for part in plan.parts]:
                raise Mismatch(f'The upload has {len(plan.parts)} parts; {len(sent)} were reported.')
            try:
                await self._call('complete_multipart_upload', Bucket=self.bucket, Key=key, UploadId=plan.upload_id,
                                 MultipartUpload={'Parts': [{'PartNumber': p.number, 'ETag': p.etag} for p in sent]})
            except StoreError as error:
                raise Mismatch(f'The bucket could not assemble the parts: {error.message}') from None
        elif len(sent) != 1:
            raise Mismatch('A single upload reports one part (its MD5).')
        head = await self._run(self._head, key)
        if head is None:  # the uploader's mistake (or its PUT failed), not the bucket's: this artifact fails
            raise Mismatch('No bytes arrived for this upload: send them first, then complete it.')
        etag, expected = head.get('ETag', '').strip('"'), etag_of([part.md5.lower() for part in sent])
        stored_size = head.get('ContentLength', 0)
        # an ETag that is not the parts' MD5s (a bucket encrypted with SSE-KMS, say) is settled by reading it back
        if stored_size != size or etag != expected and await self._run(self._sha256, key) != sha256:
            await self.delete(key)
            raise Mismatch(f'Checksum mismatch: the bucket holds {stored_size:,} bytes that are not the {size:,} '
                           f'bytes with SHA-256 {sha256} that were sent: the file changed while it was sent, or the '
                           'bytes were damaged.')

    def _head(self, key: str) -> dict | None:
        """The object's head, or None when there is no object at `key`."""
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if str(error.response.get('Error', {}).get('Code', '')) in {'404', 'NoSuchKey', 'NotFound'}:
                return None
            raise

    def _sha256(self, key: str) -> str:
        return sha256_of(self.client.get_object(Bucket=self.bucket, Key=key)['Body'].iter_chunks(4 * 1024**2))

    async def abort(self, key: str, upload_id: str | None) -> None:
        if upload_id:
            with contextlib.suppress(StoreError):  # gone already, or the bucket's lifecycle rule removes it
                await self._call('abort_multipart_upload', Bucket=self.bucket, Key=key, UploadId=upload_id)

    async def put_file(self, key: str, path: Path) -> None:
        await self._run(self.client.upload_file, str(path), self.bucket, key)

    async def delete(self, key: str) -> None:
        await self._call('delete_object', Bucket=self.bucket, Key=key)

    async def download(self, key: str, filename: str) -> Download:
        # a presigned URL is made without asking the bucket: ask it first, so that a browser is not sent to an
        # endpoint that is down or to the bucket's own "NoSuchKey" page, but told why where it is
        if await self._run(self._head, key) is None:
            raise Missing('The file is not in the bucket any more (it was removed there).')
        return Download(url=await self._presign('get_object', DOWNLOAD_URL_TTL_S, Key=key,
                                                ResponseContentDisposition=attachment(filename)))

    async def _presign(self, operation: str, ttl_s: int, **params: Any) -> str:
        return await self._run(self.client.generate_presigned_url, operation,
                               Params={'Bucket': self.bucket, **params}, ExpiresIn=ttl_s)

    async def _call(self, operation: str, **params: Any) -> Any:
        return await self._run(getattr(self.client, operation), **params)

    async def _run(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except (ClientError, BotoCoreError) as error:
            raise StoreError(self._said(error)) from None

    def _said(self, error: Exception) -> str:
        where = f'at {self.endpoint_url}' if self.endpoint_url else 'on AWS'
        if isinstance(error, NoCredentialsError):
            return 'No S3 keys: add an S3 credential, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.'
        if isinstance(error, EndpointConnectionError):
            return f'The S3 endpoint {self.endpoint_url or "of AWS"} cannot be reached.'
        if not isinstance(error, ClientError):
            return f'The S3 bucket "{self.bucket}" {where} failed: {type(error).__name__}.'
        code = str(error.response.get('Error', {}).get('Code', ''))
        status = error.response.get('ResponseMetadata', {}).get('HTTPStatusCode')
        if code in {'NoSuchBucket', '404', 'NotFound'} and error.operation_name in {'HeadBucket', 'PutObject',
                                                                                      'CreateMultipartUpload'}:
            return f'The S3 bucket "{self.bucket}" does not exist {where}: create it, or set another bucket.'
        if code in {'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', '403', 'Forbidden'}:
            return (f'The S3 bucket "{self.bucket}" {where} refused the keys from {self.key_source} ({code}): check '
                    'them, and that they may read and write the bucket.')
        if code in {'NoSuchKey', '404', 'NotFound'}:
            return 'The file is not in the bucket (it was removed there).'
        return f'The S3 bucket "{self.bucket}" {where} answered {status} {code}.'
