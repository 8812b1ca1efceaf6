"""`mlflow.log_artifact` through MLflow's proxied artifact routes (`mlflow-artifacts:/runs/<id>`, the run's
`artifact_uri`): a file becomes the run's artifact, in the project's artifact store, as any other upload is."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import settings
from models import Artifact, ArtifactStatus
from services import artifacts, data_files
from services.errors import Invalid, NotFound, TooLarge
from services.mlflow_tracking import Caller, run_of
from services.stores import Download

PREFIX = 'runs/'


async def upload(caller: Caller, path: str, chunks: AsyncIterator[bytes]) -> None:
    """Store the bytes sent for `runs/<id>/<name>`: written to a file here, hashed, then stored whole."""
    run_id, name = _split(path)
    run = await run_of(caller, run_id, write=True)
    uploader = artifacts.Uploader(run, caller.user, by_run_token=caller.user is None)
    limit = settings.current.max_artifact_bytes
    with tempfile.TemporaryDirectory(prefix='mlflow-artifact-', dir=data_files.scratch_dir()) as scratch:
        file = Path(scratch) / 'upload'
        size = 0
        with file.open('wb') as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f'The artifact is larger than TRAINBOARD_MAX_ARTIFACT_BYTES ({limit:,} bytes).')
                out.write(chunk)
        await artifacts.store_file(uploader, name=name, type='file', path=file)


async def listed(caller: Caller, path: str) -> list[dict[str, object]]:
    run_id, name = _split(path.rstrip('/') + '/', allow_empty=True)
    run = await run_of(caller, run_id)
    found = await Artifact.filter(run_id=run.id, status=ArtifactStatus.READY).order_by('name')
    return [{'path': artifact.name, 'is_dir': False, 'file_size': artifact.size_bytes} for artifact in found
            if not name or artifact.name == name]


async def download(caller: Caller, path: str) -> Download:
    """Where the bytes of `runs/<id>/<name>` are, for a person who may see the run."""
    run_id, name = _split(path)
    run = await run_of(caller, run_id)
    artifact = await Artifact.get_or_none(run_id=run.id, name=name)
    if artifact is None or caller.user is None:
        raise NotFound(f"No artifact '{name}' in run {run.id}.")
    return (await artifacts.download(caller.user, run.id, artifact.id))[1]


def _split(path: str, *, allow_empty: bool = False) -> tuple[str, str]:
    """(run id, artifact name) of `runs/<id>/<name>`; Trainboard keeps a run's artifacts by name, without folders."""
    if not path.startswith(PREFIX):
        raise NotFound(f"No artifact at '{path}': Trainboard's artifact paths are runs/<run id>/<name>.")
    run_id, _, name = path.removeprefix(PREFIX).partition('/')
    if '/' in name:
        raise Invalid(f"Trainboard keeps a run's artifacts by name, without folders: log '{name}' with no "
                      f"artifact_path (as '{name.rsplit('/', 1)[1]}').")
    if not name and not allow_empty:
        raise Invalid('Name the artifact: runs/<run id>/<name>.')
    return run_id, name
