"""A stranger cannot make the server hold a large body: every route answers 413 before reading past its cap."""

import json
import socket
import uuid
from urllib.parse import urlparse

import httpx

from tests.helpers import Server

MB = 1024 * 1024


def raw_post(server: Server, path: str, head: dict[str, str], chunks: list[bytes]) -> tuple[int, dict, bytes]:
    """POST with a body that never ends: the headers, then `chunks` as they are, then silence. Answers the status,
    the JSON and the raw head of a reply that comes anyway; a server that waits for the rest times the test out."""
    address = urlparse(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        lines = [f'POST {path} HTTP/1.1', f'Host: {address.netloc}', 'Content-Type: application/json',
                 *(f'{name}: {value}' for name, value in head.items())]
        sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode())
        for chunk in chunks:
            sock.sendall(chunk)
        reply = b''
        while b'\r\n\r\n' not in reply or len(reply.partition(b'\r\n\r\n')[2]) < _length(reply):
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    head_part, _, body = reply.partition(b'\r\n\r\n')
    return int(head_part.split()[1]), json.loads(body), head_part.lower()


def _length(reply: bytes) -> int:
    for line in reply.partition(b'\r\n\r\n')[0].split(b'\r\n')[1:]:
        name, _, value = line.partition(b':')
        if name.strip().lower() == b'content-length':
            return int(value)
    return 0


def chunked(total: int, size: int = 64 * 1024) -> list[bytes]:
    """`total` bytes of a JSON string in HTTP chunks, without the final empty chunk: the body has no end."""
    body = b'"' + b'x' * (total - 1)
    return [b'%x\r\n%s\r\n' % (len(part), part) for part in (body[i:i + size] for i in range(0, total, size))]


def test_a_declared_length_over_the_cap_is_refused_before_anything_is_read(server: Server) -> None:
    status, answer, head = raw_post(server, '/api/v1/auth/token', {'Content-Length': str(300 * MB)}, [b'{"email": '])
    assert status == 413
    assert '1 MB' in answer['detail'] and b'connection: close' in head


def test_a_chunked_body_is_cut_off_at_the_cap(server: Server) -> None:
    status, answer, head = raw_post(server, '/api/v1/auth/token', {'Transfer-Encoding': 'chunked'},
                                    chunked(MB + 65536))
    assert status == 413
    assert '1 MB' in answer['detail'] and b'connection: close' in head  # the rest is not read either


def test_reports_have_a_cap_of_their_own(server: Server, api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': f'big-{uuid.uuid4().hex[:8]}'}).json()
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'chatty'}).json()
    path = f'/api/v1/runs/{run["id"]}/report'
    head = {'Transfer-Encoding': 'chunked', 'Authorization': f'Bearer {run["token"]}'}
    status, answer, _ = raw_post(server, path, head, chunked(4 * MB + 65536))
    assert status == 413 and '4 MB' in answer['detail']
    two_mb = {'logs': ['x' * 1000] * 2000}  # over the general cap, under the report's
    accepted = httpx.post(f'{server.url}{path}', json=two_mb, headers={'Authorization': f'Bearer {run["token"]}'})
    assert accepted.status_code == 200, accepted.text
    assert len(api.get(f'/runs/{run["id"]}/logs', params={'limit': 5000}).json()) == 2000


def test_bodies_under_the_cap_pass(server: Server, api: httpx.Client) -> None:
    description = 'd' * 5000
    created = api.post('/projects', json={'name': f'ok-{uuid.uuid4().hex[:8]}', 'description': description})
    assert created.status_code == 201 and created.json()['description'] == description


def test_a_report_with_a_wrong_token_is_refused_before_its_body_is_read(server: Server, api: httpx.Client) -> None:
    project = api.post('/projects', json={'name': f'held-{uuid.uuid4().hex[:8]}'}).json()
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'target'}).json()
    # 4 MB announced, a few bytes sent: a server that read the body before the token would hold the connection
    status, answer, _ = raw_post(server, f'/api/v1/runs/{run["id"]}/report',
                                 {'Content-Length': str(4 * MB - 1), 'Authorization': 'Bearer tbr_guessed'},
                                 [b'{"metrics": ['])
    assert status == 401 and 'token' in answer['detail']
