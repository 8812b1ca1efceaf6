"""A hostile member's review of notifications, outgoing deliveries and the audit trail (issue 10): each test here
failed when it was written, and shows one finding. Tests only: the fixes are the lead's."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import settings
from models import Delivery, MemberRole, RunStatus
from services import auth, lifecycle, notification_targets, notifications, projects, runs
from services.background import outbox
from services.channels import SendFailed, addresses, http
from services.lifecycle import Cause
from tests.helpers import free_port

SLACK_SECRET = 'T0000/B0000/s3cretSlackT0ken'


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def setenv(**values: str) -> settings.Settings:
        for name, value in values.items():
            monkeypatch.setenv(f'TRAINBOARD_{name}', value)
        return settings.reload()
    setenv(DATA_DIR=str(tmp_path / 'data'), SECRET_KEY='review tests server secret',
           PUBLIC_URL='https://tb.example.com', WEBHOOK_PRIVATE_HOSTS='true')
    return setenv


class Hostile:
    """An HTTP receiver a project owner controls: `behaviour(handler)` answers each POST; records bytes it wrote."""

    def __init__(self, behaviour) -> None:
        self.written = 0
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get('Content-Length', 0)))
                with contextlib.suppress(OSError):  # the client went away: what a capped reader does
                    behaviour(self, hostile)

            def log_message(self, *_args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self.server = Server(('127.0.0.1', free_port()), Handler)
        self.url = f'http://127.0.0.1:{self.server.server_port}'
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hostile:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _echo_path_404(handler: BaseHTTPRequestHandler, _hostile: Hostile) -> None:
    # what many proxies and frameworks answer: the path that was not found
    body = f'Cannot POST {handler.path}'.encode()
    handler.send_response(404)
    handler.send_header('Content-Length', str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _huge_500(handler: BaseHTTPRequestHandler, hostile: Hostile) -> None:
    size, chunk = 64 * 1024 * 1024, b'A' * (256 * 1024)
    handler.send_response(500)
    handler.send_header('Content-Length', str(size))
    handler.end_headers()
    for _ in range(size // len(chunk)):
        handler.wfile.write(chunk)
        hostile.written += len(chunk)


def _drip_200(handler: BaseHTTPRequestHandler, _hostile: Hostile) -> None:
    # a byte a second, each within the read timeout: bounded at 60 s so that the test ends either way
    handler.send_response(200)
    handler.send_header('Content-Length', '60')
    handler.end_headers()
    handler.wfile.flush()
    for _ in range(60):
        time.sleep(1)
        handler.wfile.write(b'x')
        handler.wfile.flush()


async def _project(name: str = 'vision') -> tuple:
    owner = await auth.create_user('olga@example.com', 'a long password', name='Olga')
    project = await projects.create_project(owner, name=name)
    return owner, project['id']


# --- Medium: the Slack URL (its own secret) is written to the server log on every send ------------------------------

async def test_a_slack_url_never_reaches_the_server_log(orm: str, env, caplog: pytest.LogCaptureFixture) -> None:
    """main.py's logging.basicConfig(level=INFO) lets httpx log 'HTTP Request: POST <the full URL>' on every send:
    a Slack URL's path, or a webhook's ?token=, is its secret (encrypted at rest, shown as a hint only)."""
    caplog.set_level(logging.INFO)
    with Hostile(lambda h, _s: (h.send_response(200), h.send_header('Content-Length', '0'), h.end_headers())) \
            as receiver:
        owner, project_id = await _project()
        await notification_targets.add(owner, project_id, kind='slack', url=f'{receiver.url}/services/{SLACK_SECRET}')
        await notification_targets.add(owner, project_id, kind='webhook', url=f'{receiver.url}/hook?token=qu3ryT0ken')
        await notifications.emit('run.stalled', key='stall:1', message='bert stalled.', project_id=project_id)
        assert await outbox.deliver_due() == 2
    assert 's3cretSlackT0ken' not in caplog.text
    assert 'qu3ryT0ken' not in caplog.text


# --- Medium: a receiver's answer is read whole and without a deadline -----------------------------------------------

async def test_a_huge_answer_is_not_read_whole(orm: str, env) -> None:
    """A project owner's receiver answering 500 with a body of any size: http.post reads all of it (answer.text) to
    quote 120 characters, and again on each of 12 retries; a few GB take the leader's memory. (64 MB here: the
    server grew by ~1.4 GB for 300 MB in a manual run.)"""
    with Hostile(_huge_500) as receiver:
        with pytest.raises(SendFailed) as failed:
            await http.post(f'{receiver.url}/hook', b'{}', {'Content-Type': 'application/json'})
        await asyncio.sleep(0.5)
    assert failed.value.retry and 'answered HTTP 500' in failed.value.reason
    assert receiver.written < 16 * 1024 * 1024, f'read {receiver.written:,} bytes of an answer to quote 120'


async def test_a_dripping_receiver_cannot_hold_a_send_past_its_deadline(orm: str, env) -> None:
    """httpx's 10 s read timeout is per read: a receiver that sends a byte every few seconds holds a send as long as
    it likes. deliver_due waits for its whole batch, and the scheduler runs one deliver_due at a time (the others are
    'skipped: maximum number of running instances reached'), so one owner's receiver holds every other project's
    email and webhooks (manually: another project's email waited 78 s for an 80 s drip). outbox.LEASE_S says
    "services/channels time out within 30 s"."""
    with Hostile(_drip_200) as receiver:
        started = time.monotonic()
        try:
            await asyncio.wait_for(http.post(f'{receiver.url}/hook', b'{}', {}), timeout=40)
        except SendFailed:
            pass  # gave up in time: what is expected
        except TimeoutError:
            pytest.fail(f'a send was still going after {time.monotonic() - started:.0f} s')


# --- Low: a receiver that echoes the path puts a Slack URL's secret in last_error, which co-owners read ----------

async def test_a_receiver_echoing_the_path_does_not_show_the_slack_secret(orm: str, env) -> None:
    with Hostile(_echo_path_404) as receiver:
        owner, project_id = await _project()
        await notification_targets.add(owner, project_id, kind='slack', url=f'{receiver.url}/services/{SLACK_SECRET}')
        await notifications.emit('run.stalled', key='stall:1', message='bert stalled.', project_id=project_id)
        assert await outbox.deliver_due() == 0
    [delivery] = await Delivery.all()
    assert delivery.status == 'failed' and '404' in delivery.last_error
    assert 's3cretSlackT0ken' not in delivery.last_error
    [shown] = await notification_targets.deliveries(owner, project_id)
    assert 's3cretSlackT0ken' not in (shown.last_error or '')


# --- Low: 6to4 addresses that embed a private IPv4 address pass the public-address check ----------------------------

@pytest.mark.parametrize('address', ['2002:7f00:1::', '2002:a9fe:a9fe::1', '2002:a00:1::', '2002:c0a8:101::'])
def test_6to4_addresses_of_private_ipv4_ones_are_refused(address: str) -> None:
    # http://[2002:7f00:1::]/ (127.0.0.1 in 6to4) was added as a target with TRAINBOARD_WEBHOOK_PRIVATE_HOSTS unset
    assert addresses.refused_because(ipaddress.ip_address(address)) is not None


# --- Low: the settings page shows a member defaults that do not apply; saving them as shown changes what arrives -----

async def test_saving_the_choices_as_shown_changes_nothing_for_a_viewer(orm: str, env) -> None:
    env(SMTP_HOST='127.0.0.1', SMTP_PORT=str(free_port()), SMTP_TLS='none')
    owner, project_id = await _project()
    viewer = await auth.create_user('vi@example.com', 'a long password')
    await projects.add_member(owner, project_id, viewer.email, MemberRole.VIEWER)

    async def someone_s_run_fails(name: str) -> None:
        data, _token = await runs.create_run(owner, project_id, name=name)
        run = await runs.get_run(owner, data['id'])
        assert await lifecycle.move(run, RunStatus.RUNNING, cause=Cause.JOB)
        assert await lifecycle.move(run, RunStatus.FAILED, cause=Cause.JOB, reason='CUDA out of memory')

    shown = {p.kind: p for p in await notifications.preferences(viewer)}
    await someone_s_run_fails('bert')
    before = await Delivery.filter(user_id=viewer.id).count()
    # the settings page shows run.failed with "Email" ticked, though none comes; the viewer saves the page unchanged
    await notifications.set_preferences(viewer, {kind: notifications.Channels(in_app=p.in_app, email=p.email)
                                                 for kind, p in shown.items()})
    await someone_s_run_fails('gpt')
    after = await Delivery.filter(user_id=viewer.id).count() - before
    assert (before, after) == (0, 0), (f'shown: email={shown["run.failed"].email} for run.failed; emails before '
                                       f'saving: {before}, after saving the same choices: {after}')

