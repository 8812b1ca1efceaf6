"""moto's standalone S3 server, a separate process on 127.0.0.1: a real HTTP S3 endpoint for the artifact tests."""

from __future__ import annotations

import subprocess
import sys
import uuid

import boto3
import httpx
from botocore.config import Config

from tests.helpers import free_port, listens, wait_until

KEYS = {'aws_access_key_id': 'testing-key-id', 'aws_secret_access_key': 'testing-secret'}
ENV = {'AWS_ACCESS_KEY_ID': KEYS['aws_access_key_id'], 'AWS_SECRET_ACCESS_KEY': KEYS['aws_secret_access_key'],
       'AWS_DEFAULT_REGION': 'us-east-1'}


class MotoS3:
    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self._use_port(free_port())

    def _use_port(self, port: int) -> None:
        self.port = port
        self.url = f'http://127.0.0.1:{port}'
        self.client = boto3.session.Session().client(
            's3', endpoint_url=self.url, region_name='us-east-1', **KEYS,
            config=Config(request_checksum_calculation='when_required', response_checksum_validation='when_required'))

    def start(self) -> MotoS3:
        """Starts moto and waits until it answers: it, not another test process's moto that took the port first (this
        one then exits, and is started again on another port)."""
        for _ in range(3):
            self.process = subprocess.Popen(
                [sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p', str(self.port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_until(lambda: self.process.poll() is not None or self._answers() and listens(self.process.pid,
                                                                                                  self.port),
                           timeout=30, every_s=0.1)
            except AssertionError:
                self.stop()
                raise
            if self.process.poll() is None:
                return self
            self._use_port(free_port())
        raise RuntimeError(f'moto exited with {self.process.returncode}, three times')

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)

    def bucket(self) -> str:
        """A new, empty bucket of its own."""
        name = f'tb-{uuid.uuid4().hex[:16]}'
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        return [item['Key'] for item in self.client.list_objects_v2(Bucket=bucket).get('Contents', [])]

    def read(self, bucket: str, key: str) -> bytes:
        return self.client.get_object(Bucket=bucket, Key=key)['Body'].read()

    def settings(self, bucket: str, **more: str) -> dict[str, str]:
        """The environment of a server that keeps its artifacts in `bucket`."""
        return {**ENV, 'TRAINBOARD_ARTIFACT_STORE': 's3', 'TRAINBOARD_S3_ENDPOINT_URL': self.url,
                'TRAINBOARD_S3_BUCKET': bucket, **more}

    def _answers(self) -> bool:
        try:
            return httpx.get(self.url, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False
