"""Artifact throughput: a 1 GiB file up and down through Trainboard's path against plain boto3, same S3 endpoint.

    .venv/bin/python bench/artifacts.py [--size-mib 1024] [--rounds 2] [--endpoint URL --bucket NAME]

Trainboard's path is what training code and people use: up, the SDK's `run.save` (the server plans a presigned
multipart upload, the SDK sends the parts straight to the bucket, the server checks the ETag); down, the API's
download route (a redirect to a presigned URL), streamed to a file. The peer is boto3's own `upload_file` and
`download_file` with their default transfer settings. By default both go to moto's standalone S3 server started here
on 127.0.0.1 (set --endpoint for another S3-compatible endpoint; the keys come from AWS_* then). The local store's
figures are printed too, for scale. Goal (issue 11): at least 90 % of plain boto3's throughput both ways.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import httpx
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'sdk'))

import trainboard  # noqa: E402

from bench.figures import Figure, report  # noqa: E402
from tests import helpers  # noqa: E402
from tests.s3 import ENV, MotoS3  # noqa: E402

MiB = 1024**2
GOAL_SHARE = 0.9  # of plain boto3's throughput, each way


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size-mib', type=int, default=1024)
    parser.add_argument('--rounds', type=int, default=2, help='each way, alternating Trainboard and boto3')
    parser.add_argument('--endpoint', default='', help='an S3 endpoint of your own (default: moto, started here)')
    parser.add_argument('--bucket', default='')
    args = parser.parse_args()

    moto = None if args.endpoint else MotoS3().start()
    endpoint = args.endpoint or moto.url
    env = {} if args.endpoint else ENV
    os.environ.update(env)
    client = boto3.session.Session().client(
        's3', endpoint_url=endpoint, config=Config(request_checksum_calculation='when_required',
                                                   response_checksum_validation='when_required'))
    bucket = args.bucket or (moto.bucket() if moto else '')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            source = _random_file(work / 'checkpoint.bin', args.size_mib * MiB)
            figures = _measure(work, source, endpoint, bucket, client, env, args.rounds)
            figures.update(_measure_local(work, source))
    finally:
        if moto:
            moto.stop()
    _report(figures, args.size_mib, 'S3 at ' + args.endpoint if args.endpoint else 'moto S3 server')


def _measure(work: Path, source: Path, endpoint: str, bucket: str, client, env: dict[str, str],  # noqa: ANN001
             rounds: int) -> dict[str, list[float]]:
    server = helpers.Server(helpers.app_env(f'sqlite://{work / "tb.sqlite3"}', work / 'data', **env,
                                            TRAINBOARD_ARTIFACT_STORE='s3', TRAINBOARD_S3_ENDPOINT_URL=endpoint,
                                            TRAINBOARD_S3_BUCKET=bucket)).start()
    figures: dict[str, list[float]] = {name: [] for name in ('tb_up', 'boto3_up', 'tb_down', 'boto3_down')}
    try:
        api, run = _run(server)
        for round_ in range(rounds):
            _round(figures, round_, work, source, api, run, client, bucket)
        run.finish()
    finally:
        server.stop()
    return figures


def _round(figures: dict[str, list[float]], round_: int, work: Path, source: Path, api: httpx.Client,
           run: trainboard.Run, client, bucket: str) -> None:  # noqa: ANN001 (a boto3 client)
    saved: dict = {}
    name, ours_down, theirs_down = f'ckpt-{round_}.bin', work / 'down-tb.bin', work / 'down-boto3.bin'
    ups = [('tb_up', lambda: saved.update(run.save(str(source), name=name))),
           ('boto3_up', lambda: client.upload_file(str(source), bucket, f'plain/{name}'))]
    _alternate(figures, ups, round_)
    downs = [('tb_down', lambda: _download(api, run.id, saved['id'], ours_down)),
             ('boto3_down', lambda: client.download_file(bucket, f'plain/{name}', str(theirs_down)))]
    _alternate(figures, downs, round_)
    expected = _sha256(source)
    assert saved['sha256'] == _sha256(ours_down) == _sha256(theirs_down) == expected, 'other bytes came back'


def _measure_local(work: Path, source: Path) -> dict[str, list[float]]:
    server = helpers.Server(helpers.app_env(f'sqlite://{work / "local.sqlite3"}', work / 'local-data')).start()
    try:
        api, run = _run(server)
        seconds = _timed(lambda: run.save(str(source)))
        saved = api.get(f'/runs/{run.id}/artifacts').json()[0]
        down = _timed(lambda: _download(api, run.id, saved['id'], work / 'down-local.bin'))
        run.finish()
    finally:
        server.stop()
    return {'local_up': [seconds], 'local_down': [down]}


def _alternate(figures: dict[str, list[float]], steps: list[tuple[str, Callable[[], object]]], round_: int) -> None:
    """Each step once, the order swapped every round, so neither side always runs on a warmer machine."""
    for name, step in steps if round_ % 2 == 0 else reversed(steps):
        figures[name].append(_timed(step))


def _run(server: helpers.Server) -> tuple[httpx.Client, trainboard.Run]:
    api = server.client()
    api.timeout = httpx.Timeout(600)
    project = api.post('/projects', json={'name': 'bench'}).json()
    created = api.post(f'/projects/{project["id"]}/runs', json={'name': 'artifacts'}).json()
    return api, trainboard.Run(server.url, created['id'], created['token'])


def _download(api: httpx.Client, run_id: int, artifact_id: int, target: Path) -> None:
    with api.stream('GET', f'/runs/{run_id}/artifacts/{artifact_id}/download', follow_redirects=True) as answer:
        answer.raise_for_status()
        with target.open('wb') as file:
            for chunk in answer.iter_bytes(4 * MiB):
                file.write(chunk)


def _timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def _random_file(path: Path, size: int) -> Path:
    with path.open('wb') as file:
        for offset in range(0, size, 16 * MiB):
            file.write(os.urandom(min(16 * MiB, size - offset)))
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open('rb') as file:
        while chunk := file.read(16 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def _report(figures: dict[str, list[float]], size_mib: int, where: str) -> None:
    def rate(name: str) -> float:
        return size_mib / statistics.median(figures[name])
    print(f'artifact throughput, {size_mib} MiB file, median of {len(figures["tb_up"])} rounds each way '
          f'({os.cpu_count()} cores):')
    for way in ('up', 'down'):
        ours, peer = rate(f'tb_{way}'), rate(f'boto3_{way}')
        print(f'  {way:4}  Trainboard {ours:7.1f} MiB/s   boto3 {peer:7.1f} MiB/s   ratio {ours / peer:5.2f} '
              f'(goal >= 0.90)')
    print(f'  local store (the server\'s own disk): up {rate("local_up"):.1f} MiB/s, '
          f'down {rate("local_down"):.1f} MiB/s')
    rounds = len(figures['tb_up'])
    report(*[Figure(f'{size_mib} MiB file {way}, median of {rounds} (goal: 90 % of boto3)', where,
                    rate(f'tb_{way}'), 'MiB/s', goal=GOAL_SHARE * rate(f'boto3_{way}'), peer=rate(f'boto3_{way}'),
                    peer_name=f'boto3 {way}load_file') for way in ('up', 'down')],
           *[Figure(f'{size_mib} MiB file {way}, once', 'local store (the server\'s disk)', rate(f'local_{way}'),
                    'MiB/s') for way in ('up', 'down')])


if __name__ == '__main__':
    main()
