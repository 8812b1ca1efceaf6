"""A run's artifacts: list, upload (announce, send, complete), download and delete.

Listing, downloading and deleting are for people (a Bearer API key or login token). Uploading is for the run's own
code as well: its run token, like a report; services/artifacts.py has the rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, Field

from api.deps import CurrentUser
from api.schema import Id, Input
from services import artifacts, bounds
from services.stores import SentPart, attachment

router = APIRouter(tags=['artifacts'])


class ArtifactOut(BaseModel):
    id: int
    run_id: int
    name: str
    type: str
    size_bytes: int
    sha256: str = Field(description='hex; empty until the upload is checked')
    status: Literal['uploading', 'ready', 'failed']
    error: str | None = Field(description='why it failed (a checksum mismatch, a refused upload)')
    storage_url: str = Field(description='where the bytes are: s3://<bucket>/<key> or local:<key>')
    created_at: datetime
    updated_at: datetime


class UploadStart(Input):
    name: str = Field(min_length=1, max_length=artifacts.NAME_MAX, description='a file name: no "/", "\\" or ".."')
    type: str = Field('file', description=f'one of {", ".join(artifacts.TYPES)}')
    size_bytes: int = Field(ge=0, le=bounds.BIGINT_MAX, description='refused at once above '
                                                                    'TRAINBOARD_MAX_ARTIFACT_BYTES')


class PartOut(BaseModel):
    number: int
    url: str


class UploadOut(BaseModel):
    kind: Literal['local', 'single', 'multipart'] = Field(
        description='local: PUT the bytes to `url` on this server, with the same Authorization; single: PUT them '
                    'to `url` (the bucket); multipart: PUT each part of `part_size` bytes to its URL')
    url: str = ''
    part_size: int = 0
    parts: list[PartOut] = []


class UploadStarted(BaseModel):
    artifact: ArtifactOut
    upload: UploadOut
    complete_url: str = Field(description='POST the SHA-256 (and each part\'s MD5 and ETag) here once sent')


class PartSent(Input):
    number: int = Field(ge=1, le=10_000)
    md5: str = Field(min_length=32, max_length=32, description='hex MD5 of the part\'s bytes')
    etag: str = Field('', max_length=200, description='the ETag the bucket answered (multipart)')


class UploadDone(Input):
    sha256: str = Field(min_length=64, max_length=64, description='hex SHA-256 of the whole file')
    parts: list[PartSent] = Field(default_factory=list, max_length=10_000,
                                  description='single: one (its MD5); multipart: every part; local: none')


@router.get('/runs/{run_id}/artifacts')
async def list_artifacts(run_id: Id, user: CurrentUser) -> list[ArtifactOut]:
    return [ArtifactOut(**vars(a)) for a in await artifacts.listed(user, run_id)]


@router.post('/runs/{run_id}/artifacts', status_code=201)
async def start_upload(run_id: Id, body: UploadStart, authorization: str = Header('')) -> UploadStarted:
    """Announce an upload. Saving a name the run has already replaces it (one artifact per name); too large a size
    is refused (413) before any byte moves."""
    uploader = await artifacts.uploader(run_id, authorization)
    artifact, plan = await artifacts.begin(uploader, name=body.name, type=body.type, size_bytes=body.size_bytes)
    upload = UploadOut(kind=plan.kind, url=plan.url, part_size=plan.part_size,
                       parts=[PartOut(number=p.number, url=p.url) for p in plan.parts])
    return UploadStarted(artifact=ArtifactOut(**vars(artifact)), upload=upload,
                         complete_url=f'/api/v1/runs/{run_id}/artifacts/{artifact.id}/complete')


@router.put('/runs/{run_id}/artifacts/{artifact_id}/content')
async def send_content(run_id: Id, artifact_id: Id, request: Request, authorization: str = Header('')) -> ArtifactOut:
    """The bytes of an upload to the local store (streamed; at most the size announced)."""
    uploader = await artifacts.uploader(run_id, authorization)
    return ArtifactOut(**vars(await artifacts.receive(uploader, artifact_id, request.stream())))


@router.post('/runs/{run_id}/artifacts/{artifact_id}/complete')
async def complete_upload(run_id: Id, artifact_id: Id, body: UploadDone,
                          authorization: str = Header('')) -> ArtifactOut:
    """Check what was stored against what was sent: `ready`, or `failed` with the reason (a checksum mismatch)."""
    uploader = await artifacts.uploader(run_id, authorization)
    done = await artifacts.complete(uploader, artifact_id, sha256=body.sha256,
                                    parts=[SentPart(p.number, p.md5, p.etag) for p in body.parts])
    return ArtifactOut(**vars(done))


@router.get('/runs/{run_id}/artifacts/{artifact_id}/download', response_model=None,
            responses={200: {'content': {'application/octet-stream': {}}}, 307: {'description': 'to the bucket'}})
async def download(run_id: Id, artifact_id: Id, user: CurrentUser) -> Response:
    """The bytes: streamed from the local store, or a redirect to a presigned URL of the bucket (10 minutes)."""
    artifact, where = await artifacts.download(user, run_id, artifact_id)
    if where.url:
        return RedirectResponse(where.url, status_code=307)
    return FileResponse(where.path, media_type='application/octet-stream',
                        headers={'Content-Disposition': attachment(artifact.name)})


@router.delete('/runs/{run_id}/artifacts/{artifact_id}', status_code=204)
async def delete(run_id: Id, artifact_id: Id, user: CurrentUser) -> None:
    await artifacts.delete(user, run_id, artifact_id)
