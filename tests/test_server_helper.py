"""The test server helper talks to the server it started, also when another process holds the port it was given.

Four test processes run at once, each starting servers on ports `free_port` found free; one process's port may be
handed to another before its server binds it. The helper then saw the other server answer its health check and the
test talked to that one, until it stopped: "connection refused" in the middle of a test (seen in CI).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests import helpers


class Impostor(BaseHTTPRequestHandler):
    """Another test process's server: healthy, and not the one this test started."""

    def do_GET(self) -> None:  # noqa: N802 (the handler's name is http.server's)
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def impostor() -> Iterator[int]:
    server = ThreadingHTTPServer(('127.0.0.1', 0), Impostor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_a_port_taken_before_the_server_binds_it_is_traded_for_another(
        impostor: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ports = iter([impostor])
    real_free_port = helpers.free_port
    monkeypatch.setattr(helpers, 'free_port', lambda: next(ports, None) or real_free_port())
    server = helpers.Server(helpers.app_env(helpers.database_url('sqlite', tmp_path), tmp_path / 'data')).start()
    try:
        assert server.port != impostor
        assert helpers.listens(server.process.pid, server.port)
        assert server.client().get('/projects').status_code == 200  # the impostor has no such route
    finally:
        server.stop()


def test_a_port_given_and_taken_is_an_error_that_says_so(impostor: int, tmp_path: Path) -> None:
    server = helpers.Server(helpers.app_env(helpers.database_url('sqlite', tmp_path), tmp_path / 'data'), impostor)
    with pytest.raises(RuntimeError, match='address already in use'):
        server.start()
