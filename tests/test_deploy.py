"""docs/deploy.md's configuration, run: three processes on one PostgreSQL schema behind nginx with TLS, as
docs/deploy/nginx.conf has it (its ports and certificate paths replaced, as a newcomer edits them). A browser
signs in over HTTPS and a change made through each of the other processes reaches its tab through the websocket."""

from __future__ import annotations

import getpass
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import helpers
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, Server
from tests.test_browser import (
    SEEN_WITHIN_MS,
    browser,  # noqa: F401  (the module's Chromium fixture)
    card_link,
    signed_in,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not helpers.POSTGRES_URL, reason='several processes need PostgreSQL: set '
                                 'TRAINBOARD_TEST_POSTGRES_URL (.ci/run does); SQLite is single-process by design')]
NGINX_CONF = helpers.ROOT / 'docs' / 'deploy' / 'nginx.conf'
NGINX = shutil.which('nginx') or '/usr/sbin/nginx'
# what docs/deploy.md tells a newcomer to change, with what this test puts there
UPSTREAM_PORTS = ('8001', '8002', '8003')
CERTIFICATE = '/etc/ssl/trainboard/fullchain.pem'
CERTIFICATE_KEY = '/etc/ssl/trainboard/privkey.pem'
# socket.io retries with a growing delay (1 s, 2 s, ... up to 5 s) before the reload that lands on another process
RECONNECTED_WITHIN_MS = 30_000


@dataclass
class Fleet:
    servers: list[Server]
    url: str  # nginx's HTTPS address
    http_url: str  # nginx's plain HTTP address, which redirects
    access_log: Path


def render(conf: str, replacements: dict[str, str]) -> str:
    """The configuration with each of `replacements` made; every one must be found, so that the file and this test
    (and the steps docs/deploy.md gives) cannot drift apart."""
    for old, new in replacements.items():
        assert old in conf, f'{old!r} is no longer in {NGINX_CONF.name}: update docs/deploy.md and this test'
        conf = conf.replace(old, new)
    return conf


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    assert Path(NGINX).exists(), 'nginx is missing: `make test` installs it as root (apt-get install nginx-light)'
    ports = [helpers.free_port() for _ in UPSTREAM_PORTS]
    https_port, http_port = helpers.free_port(), helpers.free_port()
    nginx_dir = tmp_path / 'nginx'
    nginx_dir.mkdir()
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
                    '-keyout', nginx_dir / 'privkey.pem', '-out', nginx_dir / 'fullchain.pem'],
                   check=True, capture_output=True)
    site = render(NGINX_CONF.read_text(), {
        **{f'127.0.0.1:{old}': f'127.0.0.1:{new}' for old, new in zip(UPSTREAM_PORTS, ports, strict=True)},
        'listen 443 ssl;': f'listen {https_port} ssl;', 'listen [::]:443 ssl;': f'listen [::1]:{https_port} ssl;',
        'listen 80;': f'listen {http_port};', 'listen [::]:80;': f'listen [::1]:{http_port};',
        CERTIFICATE: str(nginx_dir / 'fullchain.pem'), CERTIFICATE_KEY: str(nginx_dir / 'privkey.pem'),
    })
    (nginx_dir / 'trainboard.conf').write_text(site)
    access_log = nginx_dir / 'access.log'
    # what /etc/nginx/nginx.conf gives the site on a real machine; here everything under the test's own directory,
    # and each request logged with the process that served it
    (nginx_dir / 'nginx.conf').write_text(f'''
        daemon off;
        user {getpass.getuser()};
        worker_processes 1;
        pid {nginx_dir}/nginx.pid;
        error_log {nginx_dir}/error.log;
        events {{ worker_connections 256; }}
        http {{
            log_format upstream '$upstream_addr $status "$request"';
            access_log {access_log} upstream;
            client_body_temp_path {nginx_dir}/body;
            proxy_temp_path {nginx_dir}/proxy;
            fastcgi_temp_path {nginx_dir}/fastcgi;
            uwsgi_temp_path {nginx_dir}/uwsgi;
            scgi_temp_path {nginx_dir}/scgi;
            include {nginx_dir}/trainboard.conf;
        }}
    ''')
    url = helpers.database_url('postgres', tmp_path)
    env = helpers.app_env(url, tmp_path / 'data', TRAINBOARD_SECRET_KEY='shared by the three processes',
                          TRAINBOARD_PUBLIC_URL=f'https://127.0.0.1:{https_port}',
                          TRAINBOARD_SCHEDULER_ENABLED='true')
    servers: list[Server] = []
    nginx = None
    try:
        servers = [Server(env, port).start() for port in ports]
        nginx = subprocess.Popen([NGINX, '-p', str(nginx_dir), '-e', str(nginx_dir / 'error.log'),
                                  '-c', str(nginx_dir / 'nginx.conf')], stderr=subprocess.PIPE)
        https_url = f'https://127.0.0.1:{https_port}'
        helpers.wait_until(lambda: _answers(f'{https_url}/api/v1/health') or nginx.poll() is not None)
        assert nginx.poll() is None, nginx.stderr.read().decode()
        yield Fleet(servers, https_url, f'http://127.0.0.1:{http_port}', access_log)
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
        for server in servers:
            server.stop()
        helpers.drop_schema(url)


def test_three_processes_behind_nginx_serve_one_team(browser, fleet: Fleet) -> None:  # noqa: F811
    from playwright.sync_api import expect
    health = httpx.get(f'{fleet.url}/api/v1/health', verify=False)
    assert health.json() == {'status': 'ok'}
    assert health.headers['strict-transport-security'] == 'max-age=31536000'  # HTTPS from then on
    redirect = httpx.get(f'{fleet.http_url}/projects', verify=False)
    assert redirect.status_code == 301 and redirect.headers['location'].startswith('https://127.0.0.1/projects')
    leaders = [s for s in fleet.servers if 'this process now leads' in s.log()]
    assert len(leaders) == 1, [s.log() for s in fleet.servers]

    tab = signed_in(browser, fleet.url, ADMIN_EMAIL, ADMIN_PASSWORD, ignore_https_errors=True)
    tab.goto(f'{fleet.url}/projects')
    tab.get_by_role('button', name='New project').wait_for()
    (session_cookie,) = [c for c in tab.context.cookies() if c['name'] == 'session']
    assert session_cookie['secure'] and session_cookie['httpOnly']  # TRAINBOARD_PUBLIC_URL is https://

    served_by = _websocket_upstreams(fleet.access_log)
    assert len(served_by) == 1, served_by  # sticky: the tab's page and its websocket on one process
    (port,) = served_by
    others = [s for s in fleet.servers if s.port != port]
    assert len(others) == 2
    for other in others:  # a change through each other process reaches the tab through nginx's websocket
        with other.client() as api:
            assert api.post('/projects', json={'name': f'made on {other.port}'}).status_code == 201
        expect(card_link(tab, f'made on {other.port}')).to_be_visible(timeout=SEEN_WITHIN_MS)
    assert _websocket_upstreams(fleet.access_log) == {port}  # no request of the tab went elsewhere meanwhile

    serving = next(s for s in fleet.servers if s.port == port)
    serving.process.kill()  # the tab reconnects through nginx to another process, which reloads it, signed in still
    serving.process.wait()  # (the data dir is shared)
    with others[1].client() as api:
        assert api.post('/projects', json={'name': 'made after the crash'}).status_code == 201
    expect(card_link(tab, 'made after the crash')).to_be_visible(timeout=RECONNECTED_WITHIN_MS)
    assert tab.url == f'{fleet.url}/projects'  # not sent to sign in
    tab.context.close()
    for server in others:
        log = server.log()
        assert 'Traceback' not in log and ' ERROR ' not in log, log


def _websocket_upstreams(access_log: Path) -> set[int]:
    """The ports of the processes that answered the browser's socket.io requests; at least one must have been an
    upgrade to a websocket (101), not long polling."""
    deadline = time.monotonic() + 10
    while True:  # nginx logs a websocket when it closes: the sign-in page's closed when the tab left it
        lines = [line for line in access_log.read_text().splitlines() if '/_nicegui_ws/' in line]
        if any(' 101 ' in line for line in lines) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert any(' 101 ' in line for line in lines), access_log.read_text()
    return {int(re.match(r'127\.0\.0\.1:(\d+) ', line).group(1)) for line in lines}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, verify=False, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
