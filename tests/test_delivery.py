"""The outbox, sent: email reaches a real SMTP server (aiosmtpd) with both parts and the run's link, in each TLS mode;
webhooks reach a real HTTP receiver, signed so that it can verify them; failures are retried with backoff and a
delivery goes out once; a restart between the event and its delivery still delivers; nothing goes to a private
address or to someone who opted out."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

import settings
from models import Delivery, DeliveryStatus, Event, MemberRole, RunStatus
from services import auth, database, lifecycle, notification_targets, notifications, projects, runs
from services.background import outbox
from services.channels import SendFailed, http
from services.lifecycle import Cause
from services.notifications import Channels
from tests import helpers
from tests.receivers import Logins, Mailbox, ScriptedReceiver, WebhookReceiver, self_signed, smtp_server

S = RunStatus
SECRET_KEY = 'delivery tests server secret'
SLACK_SECRET = 'T0000/B0000/s3cretSlackT0ken'  # a Slack URL's path is its secret


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Set TRAINBOARD_* variables (and re-read the settings); a fixed server secret and a data dir of the test's."""
    def setenv(**values: str) -> settings.Settings:
        for name, value in values.items():
            monkeypatch.setenv(f'TRAINBOARD_{name}', value)
        return settings.reload()
    setenv(DATA_DIR=str(tmp_path / 'data'), SECRET_KEY=SECRET_KEY, PUBLIC_URL='https://tb.example.com',
           WEBHOOK_PRIVATE_HOSTS='true')
    return setenv


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


async def _project(name: str = 'vision') -> tuple:
    owner = await auth.create_user('olga@example.com', 'a long password', name='Olga')
    project = await projects.create_project(owner, name=name)
    return owner, project['id']


async def _failed_run(user, project_id: int, name: str = 'bert', reason: str = 'CUDA out of memory'):
    data, _token = await runs.create_run(user, project_id, name=name)
    run = await runs.get_run(user, data['id'])
    assert await lifecycle.move(run, S.RUNNING, cause=Cause.JOB)
    assert await lifecycle.move(run, S.FAILED, cause=Cause.JOB, reason=reason)
    return run


async def _emit(project_id: int, key: str = 'budget:1:50') -> Event:
    event = await notifications.emit('budget.threshold', key=key, message='vision used 50% of its $10.00 budget.',
                                     project_id=project_id, details={'threshold': 50})
    assert event is not None
    return event


# --- email --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('tls', ['none', 'starttls', 'ssl'])
async def test_an_email_reaches_the_smtp_server_with_both_parts_and_the_run_link(
        orm: str, env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tls: str) -> None:
    mailbox = Mailbox()
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv('SSL_CERT_FILE', str(cert))  # our client trusts the test's certificate, and only it
    logins = Logins('mailer', 'smtp pass word')
    options = {'none': {}, 'starttls': {'tls_context': context, 'require_starttls': True, 'authenticator': logins},
               'ssl': {'ssl_context': context, 'authenticator': logins, 'auth_require_tls': False}}[tls]
    server = smtp_server(mailbox, **options)
    server.start()
    try:
        login = {} if tls == 'none' else {'SMTP_USER': 'mailer', 'SMTP_PASSWORD': 'smtp pass word'}
        env(SMTP_HOST='127.0.0.1', SMTP_PORT=str(server.port), SMTP_TLS=tls, SMTP_FROM='tb@example.com', **login)
        owner, project_id = await _project('vision <i>lab</i>')
        run = await _failed_run(owner, project_id, name='bert <script>x</script>', reason='CUDA & OOM')
        assert await outbox.deliver_due() == 1
    finally:
        server.stop()

    [message] = mailbox.messages
    assert mailbox.envelopes[0].rcpt_tos == ['olga@example.com']
    # the subject is cut to one line of a mail header (the event's whole message is in the body)
    assert message['Subject'] == '[Trainboard] "bert <script>x</script>" in vision <i>lab</i> failed...'
    assert message['From'] == 'tb@example.com' and message['To'] == 'olga@example.com'
    event = await Event.get(kind='run.failed')
    assert message['X-Trainboard-Event-Id'] == str(event.id)
    plain = message.get_body(('plain',)).get_content()
    page = message.get_body(('html',)).get_content()
    link = f'https://tb.example.com/runs/{run.id}'
    assert link in plain and 'Reason: CUDA & OOM' in plain
    assert f'href="{link}"' in page
    assert '&lt;script&gt;x&lt;/script&gt;' in page and '<script>' not in page  # user text escaped in the HTML
    assert '&lt;i&gt;lab&lt;/i&gt;' in page and 'CUDA &amp; OOM' in page
    if tls != 'none':
        assert logins.tried == ['mailer']  # it logged in, over TLS (aiosmtpd refuses AUTH in the clear)
    [delivery] = await Delivery.all()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1 and delivery.delivered_at


async def test_a_budget_stop_s_email_says_it_once_on_one_line_with_the_cost_in_dollars(orm: str, env) -> None:
    mailbox = Mailbox()
    server = smtp_server(mailbox)
    server.start()
    try:
        env(SMTP_HOST='127.0.0.1', SMTP_PORT=str(server.port), SMTP_TLS='none', SMTP_FROM='tb@example.com')
        owner, project_id = await _project()
        data, _token = await runs.create_run(owner, project_id, name='resnet-budget')
        run = await runs.get_run(owner, data['id'])
        assert await lifecycle.move(run, S.RUNNING, cause=Cause.JOB)
        run.cost_usd = 0.02
        await run.save(update_fields=['cost_usd'])
        reason = 'Stopped by the project budget at $1.00 ($1.02 used).'
        assert await lifecycle.move(run, S.STOPPING, cause=Cause.BUDGET, reason=reason)
        assert await lifecycle.move(run, S.STOPPED, cause=Cause.PROVIDER)
        assert await outbox.deliver_due() == 1
    finally:
        server.stop()
    [message] = mailbox.messages
    raw = mailbox.envelopes[0].original_content.decode()
    [subject_line] = [line for line in raw.splitlines() if line.startswith('Subject:')]
    assert subject_line == 'Subject: [Trainboard] "resnet-budget" in vision was stopped by the project...'
    assert raw.splitlines()[raw.splitlines().index(subject_line) + 1][:1] not in (' ', '\t')  # not folded on
    assert 'stopped: Stopped' not in message['Subject']
    plain = message.get_body(('plain',)).get_content()
    assert f'"resnet-budget" in vision stopped: {reason}' in plain  # the event's own words, whole, in the body
    assert 'Cost: $0.02' in plain and 'USD' not in plain and 'so far' not in plain  # the run has ended
    assert 'Cost: $0.02' in message.get_body(('html',)).get_content().replace('</td><td>', ': ')


def test_the_cost_of_a_run_still_going_is_so_far() -> None:
    from datetime import UTC, datetime

    from services.channels import Outgoing, ProjectRef, RunRef, mail
    going = Outgoing(event_id=1, kind='budget.threshold', created_at=datetime.now(UTC), message='vision used 80%.',
                     details={'cost_usd': 1234.5}, project=ProjectRef(1, 'vision'), run=RunRef(2, 'bert', 'running'))
    plain = mail.compose('olga@example.com', going, sender='tb@example.com').get_body(('plain',)).get_content()
    assert 'Cost so far: $1,234.50' in plain


async def test_a_member_who_opted_out_gets_no_email(orm: str, env) -> None:
    mailbox = Mailbox()
    server = smtp_server(mailbox)
    server.start()
    try:
        env(SMTP_HOST='127.0.0.1', SMTP_PORT=str(server.port), SMTP_TLS='none')
        owner, project_id = await _project()
        editor = await auth.create_user('ed@example.com', 'a long password')
        await projects.add_member(owner, project_id, editor.email, MemberRole.EDITOR)
        await notifications.set_preferences(owner, {'run.failed': Channels(in_app=True, email=False)})
        await _failed_run(editor, project_id)  # its launcher hears of its end by email, by default
        assert await outbox.deliver_due() == 1
    finally:
        server.stop()
    assert [envelope.rcpt_tos for envelope in mailbox.envelopes] == [['ed@example.com']]


async def test_a_deactivated_recipient_fails_clearly_and_gets_nothing(orm: str, env) -> None:
    mailbox = Mailbox()
    server = smtp_server(mailbox)
    server.start()
    try:
        env(SMTP_HOST='127.0.0.1', SMTP_PORT=str(server.port), SMTP_TLS='none')
        owner, project_id = await _project()
        await _failed_run(owner, project_id)
        owner.is_active = False
        await owner.save()
        assert await outbox.deliver_due() == 0
    finally:
        server.stop()
    assert mailbox.messages == []
    [delivery] = await Delivery.all()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error == 'the recipient olga@example.com is deactivated'


async def test_an_unreachable_smtp_server_is_retried_and_its_password_never_shown(orm: str, env) -> None:
    env(SMTP_HOST='127.0.0.1', SMTP_PORT=str(helpers.free_port()), SMTP_TLS='none', SMTP_USER='mailer',
        SMTP_PASSWORD='hunter2-secret')
    owner, project_id = await _project()
    await _failed_run(owner, project_id)
    now = time.time()
    assert await outbox.deliver_due(now) == 0
    [delivery] = await Delivery.all()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.next_attempt_at == pytest.approx(now + outbox.BASE_DELAY_S)
    assert 'could not reach the SMTP server 127.0.0.1' in delivery.last_error
    assert 'hunter2' not in delivery.last_error


# --- webhooks and Slack -------------------------------------------------------------------------------------------

async def test_a_webhook_delivery_is_signed_and_verifies(orm: str, env, receiver: WebhookReceiver) -> None:
    owner, project_id = await _project()
    added = await notification_targets.add(owner, project_id, kind='webhook', url=f'{receiver.url}/hook?k=1',
                                           label='ops')
    run = await _failed_run(owner, project_id, name='bert')
    assert await outbox.deliver_due() == 1

    [got] = receiver.received
    event = await Event.get(kind='run.failed')
    assert got.path == '/hook?k=1' and got.headers['x-trainboard-event-id'] == str(event.id)
    timestamp = got.headers['x-trainboard-timestamp']
    assert abs(int(timestamp) - time.time()) < 60
    expected = hmac.new(added.secret.encode(), f'{timestamp}.'.encode() + got.body, hashlib.sha256).hexdigest()
    assert got.headers['x-trainboard-signature'] == f'sha256={expected}'
    body = json.loads(got.body)
    assert body['id'] == event.id and body['kind'] == 'run.failed'
    assert body['message'] == '"bert" in vision failed: CUDA out of memory'
    assert body['project'] == {'id': project_id, 'name': 'vision'}
    assert body['run'] == {'id': run.id, 'name': 'bert', 'status': 'failed'}
    assert body['link'] == f'https://tb.example.com/runs/{run.id}'
    assert body['details']['reason'] == 'CUDA out of memory' and body['created_at'].startswith('20')
    wrong = hmac.new(b'another secret', f'{timestamp}.'.encode() + got.body, hashlib.sha256).hexdigest()
    assert got.headers['x-trainboard-signature'] != f'sha256={wrong}'


async def test_slack_gets_a_short_escaped_line_with_the_link(orm: str, env, receiver: WebhookReceiver) -> None:
    owner, project_id = await _project()
    added = await notification_targets.add(owner, project_id, kind='slack', url=f'{receiver.url}/services/T/B/X')
    assert added.secret is None
    await _emit(project_id)
    await notifications.emit('run.stalled', key='stall:1', message='"<!channel>" & co stalled.', project_id=project_id)
    assert await outbox.deliver_due() == 2
    texts = sorted(json.loads(got.body)['text'] for got in receiver.received)
    link = f'<https://tb.example.com/projects/{project_id}|Open in Trainboard>'
    assert texts == [f'"&lt;!channel&gt;" &amp; co stalled. {link}', f'vision used 50% of its $10.00 budget. {link}']


async def test_a_500_is_retried_with_backoff_and_delivered_exactly_once(orm: str, env) -> None:
    with WebhookReceiver(statuses=[500, 503]) as receiver:
        owner, project_id = await _project()
        await notification_targets.add(owner, project_id, kind='webhook', url=receiver.url)
        event = await _emit(project_id)
        now = time.time()
        assert await outbox.deliver_due(now) == 0
        [delivery] = await Delivery.all()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
        assert delivery.last_error == '127.0.0.1 answered HTTP 500: broken' and delivery.last_attempt_at
        assert await outbox.deliver_due(now + 4) == 0 and len(receiver.received) == 1  # not due yet: 5 s
        assert await outbox.deliver_due(now + 5) == 0 and len(receiver.received) == 2
        await delivery.refresh_from_db()
        assert delivery.next_attempt_at == pytest.approx(now + 5 + 10)  # doubled
        assert await outbox.deliver_due(now + 15) == 1
        for later in (20, 100, 10_000):
            assert await outbox.deliver_due(now + later) == 0
    assert len(receiver.received) == 3
    assert {got.headers['x-trainboard-event-id'] for got in receiver.received} == {str(event.id)}
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 3 and delivery.last_error is None


async def test_a_refusal_fails_at_once_and_endless_5xx_give_up(orm: str, env) -> None:
    with WebhookReceiver(statuses=[404] + [503] * outbox.MAX_ATTEMPTS) as receiver:
        owner, project_id = await _project()
        await notification_targets.add(owner, project_id, kind='webhook', url=f'{receiver.url}/gone', label='gone')
        await _emit(project_id, key='one')
        now = time.time()
        assert await outbox.deliver_due(now) == 0
        [gone] = await Delivery.all()
        assert (gone.status, gone.attempts, gone.last_error) == ('failed', 1, '127.0.0.1 answered HTTP 404: broken')

        await _emit(project_id, key='two')
        for _ in range(outbox.MAX_ATTEMPTS + 2):
            now += outbox.MAX_DELAY_S
            await outbox.deliver_due(now)
        broken = await Delivery.get(event__key='two')
        assert (broken.status, broken.attempts) == ('failed', outbox.MAX_ATTEMPTS)
    assert len(receiver.received) == 1 + outbox.MAX_ATTEMPTS


async def test_two_leaders_at_once_send_each_delivery_once(orm: str, env, receiver: WebhookReceiver) -> None:
    owner, project_id = await _project()
    await notification_targets.add(owner, project_id, kind='webhook', url=receiver.url)
    for n in range(5):
        await _emit(project_id, key=f'e{n}')
    delivered = await asyncio.gather(outbox.deliver_due(), outbox.deliver_due(), outbox.deliver_due())
    assert sum(delivered) == 5
    assert sorted(got.headers['x-trainboard-event-id'] for got in receiver.received) == \
        sorted(str(e.id) for e in await Event.all())


async def test_a_claim_whose_sender_died_is_taken_up_after_its_lease(orm: str, env, receiver: WebhookReceiver) -> None:
    owner, project_id = await _project()
    await notification_targets.add(owner, project_id, kind='webhook', url=receiver.url)
    await _emit(project_id)
    now = time.time()
    # what a leader that died mid-send leaves: the row claimed, its lease running
    await Delivery.all().update(attempts=1, next_attempt_at=now + outbox.LEASE_S)
    assert await outbox.deliver_due(now) == 0 and receiver.received == []
    assert await outbox.deliver_due(now + outbox.LEASE_S) == 1 and len(receiver.received) == 1


async def test_a_target_turned_off_or_removed_gets_nothing_more(orm: str, env, receiver: WebhookReceiver) -> None:
    owner, project_id = await _project()
    added = await notification_targets.add(owner, project_id, kind='webhook', url=receiver.url)
    await _emit(project_id, key='queued')
    await notification_targets.set_enabled(owner, project_id, added.target.id, False)
    await _emit(project_id, key='while off')  # not queued at all
    assert await outbox.deliver_due() == 0
    [delivery] = await Delivery.all()
    assert delivery.status == 'failed' and delivery.last_error == 'the target was turned off before this was sent'
    await notification_targets.delete(owner, project_id, added.target.id)
    assert await Delivery.all().count() == 0 and receiver.received == []


async def test_events_only_of_the_kinds_a_target_asked_for(orm: str, env, receiver: WebhookReceiver) -> None:
    owner, project_id = await _project()
    await notification_targets.add(owner, project_id, kind='webhook', url=receiver.url, kinds=['run.failed'])
    await _emit(project_id)
    await _failed_run(owner, project_id)
    assert await outbox.deliver_due() == 1
    assert [json.loads(got.body)['kind'] for got in receiver.received] == ['run.failed']


async def test_a_target_turned_off_counts_only_the_attempts_made(orm: str, env, caplog) -> None:
    with WebhookReceiver(statuses=[503, 503, 503]) as receiver:
        owner, project_id = await _project()
        added = await notification_targets.add(owner, project_id, kind='webhook', url=receiver.url)
        await _emit(project_id)
        now = time.time()
        for _ in range(3):
            assert await outbox.deliver_due(now) == 0
            now += outbox.MAX_DELAY_S
        await notification_targets.set_enabled(owner, project_id, added.target.id, False)
        assert await outbox.deliver_due(now) == 0
    [delivery] = await Delivery.all()
    assert (delivery.status, delivery.last_error) == ('failed', 'the target was turned off before this was sent')
    assert delivery.attempts == len(receiver.received) == 3
    assert 'failed after 3 attempts' in caplog.text


# --- a receiver's answer: read a little of it, within a deadline, and quote none of the URL's secret ------------------

def _huge_500(handler: BaseHTTPRequestHandler, receiver: ScriptedReceiver) -> None:
    size, chunk = 64 * 1024 * 1024, b'A' * (256 * 1024)
    handler.send_response(500)
    handler.send_header('Content-Length', str(size))
    handler.end_headers()
    for _ in range(size // len(chunk)):
        handler.wfile.write(chunk)
        receiver.written += len(chunk)


def _drip_200(handler: BaseHTTPRequestHandler, _receiver: ScriptedReceiver) -> None:
    # its answer a byte a second, each well within the read timeout (bounded, so that the receiver ends either way)
    for byte in b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'[:30]:
        time.sleep(1)
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()


def _echo_path_404(handler: BaseHTTPRequestHandler, _receiver: ScriptedReceiver) -> None:
    # what many proxies and frameworks answer: the path (and query) that was not found
    body = f'Cannot POST {handler.path} (tried {handler.path.upper()[-12:]}...)'.encode()
    handler.send_response(404)
    handler.send_header('Content-Length', str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


async def test_a_huge_error_answer_is_read_only_as_far_as_it_is_quoted(orm: str, env) -> None:
    # a 500 with 64 MB (an owner's receiver could send GBs, on each of 12 attempts): a few KB of it are read
    with ScriptedReceiver(_huge_500) as receiver:
        with pytest.raises(SendFailed) as failed:
            await http.post(f'{receiver.url}/hook', b'{}', {'Content-Type': 'application/json'})
        await asyncio.sleep(0.5)
    assert failed.value.retry and failed.value.reason.startswith('127.0.0.1 answered HTTP 500: AAAA')
    assert len(failed.value.reason) < 200
    assert receiver.written < 16 * 1024 * 1024, f'read {receiver.written:,} bytes of an answer to quote 120'


async def test_a_dripping_receiver_is_given_up_on_at_the_send_deadline(orm: str, env, monkeypatch) -> None:
    # httpx's read timeout is per read: without a deadline a byte a second holds a send (and the one delivery task,
    # so every project's deliveries) for as long as the receiver likes
    monkeypatch.setattr(http, 'DEADLINE_S', 2.0, raising=False)
    with ScriptedReceiver(_drip_200) as receiver:
        started = time.monotonic()
        with pytest.raises(SendFailed) as failed:
            await asyncio.wait_for(http.post(f'{receiver.url}/hook', b'{}', {}), timeout=8)
    assert time.monotonic() - started < 4
    assert failed.value.retry and failed.value.reason == 'no answer from 127.0.0.1 within 2 s'


async def test_a_receiver_echoing_the_url_does_not_show_its_secret_in_the_error(orm: str, env) -> None:
    with ScriptedReceiver(_echo_path_404) as receiver:
        owner, project_id = await _project()
        await notification_targets.add(owner, project_id, kind='slack', url=f'{receiver.url}/services/{SLACK_SECRET}')
        await notification_targets.add(owner, project_id, kind='webhook', url=f'{receiver.url}/in?token=qu3ryT0ken42')
        await _emit(project_id)
        assert await outbox.deliver_due() == 0
    shown = await notification_targets.deliveries(owner, project_id)
    assert [d.status for d in shown] == ['failed', 'failed']
    for delivery in shown:
        assert delivery.last_error.startswith('127.0.0.1 answered HTTP 404: Cannot POST /'), delivery.last_error
        for secret in ('s3cretSlackT0ken', 'S3CRETSLACKT0KEN'[-12:], 'B0000', 'qu3ryT0ken42', 'QU3RYT0KEN42'):
            assert secret not in delivery.last_error, delivery.last_error


# --- where webhooks may go ----------------------------------------------------------------------------------------

async def test_private_addresses_are_refused_when_sending_and_the_url_stays_hidden(
        orm: str, env, receiver: WebhookReceiver) -> None:
    owner, project_id = await _project()
    await notification_targets.add(owner, project_id, kind='slack', url=f'{receiver.url}/services/T0/B0/s3cretT0ken')
    env(WEBHOOK_PRIVATE_HOSTS='false')  # the address was allowed when it was added, not any more
    await _emit(project_id)
    assert await outbox.deliver_due() == 0
    assert receiver.received == []
    [delivery] = await Delivery.all()
    assert delivery.status == 'failed'
    assert delivery.last_error == '127.0.0.1 is a loopback address (127.0.0.1): webhooks only go to public addresses.'


# --- a restart between the event and its delivery -----------------------------------------------------------------

def test_a_restart_between_the_event_and_its_delivery_still_delivers(database_url: str, env, tmp_path: Path,
                                                                      receiver: WebhookReceiver) -> None:
    async def emit_and_close() -> int:
        await database.migrate_database(database_url)
        await database.open_orm(database_url)
        try:
            owner, project_id = await _project()
            await notification_targets.add(owner, project_id, kind='webhook', url=receiver.url)
            return (await _emit(project_id)).id
        finally:
            await database.close_orm()  # the process that saw the event is gone before anything was sent

    event_id = asyncio.run(emit_and_close())
    assert receiver.received == []
    server = helpers.Server(helpers.app_env(
        database_url, tmp_path / 'data', TRAINBOARD_SCHEDULER_ENABLED='true', TRAINBOARD_DELIVERY_INTERVAL_S='0.2',
        TRAINBOARD_SECRET_KEY=SECRET_KEY, TRAINBOARD_WEBHOOK_PRIVATE_HOSTS='true',
        TRAINBOARD_POLL_INTERVAL_S='60')).start()
    try:
        helpers.wait_until(lambda: len(receiver.received) == 1, timeout=15)
        time.sleep(1)  # several more ticks of the task: nothing is sent again
    finally:
        server.stop()
    assert [got.headers['x-trainboard-event-id'] for got in receiver.received] == [str(event_id)]


def test_a_server_that_delivers_never_logs_a_target_s_url(database_url: str, env, tmp_path: Path,
                                                          receiver: WebhookReceiver) -> None:
    """A Slack URL's path, or a webhook's ?token=, is its secret: not in the log of the server that sent to it, at its
    usual INFO level (httpx logs 'HTTP Request: POST <the URL>' at INFO)."""
    async def emit() -> None:
        await database.migrate_database(database_url)
        await database.open_orm(database_url)
        try:
            owner, project_id = await _project()
            for kind, url in (('slack', f'{receiver.url}/services/{SLACK_SECRET}'),
                              ('webhook', f'{receiver.url}/in?token=qu3ryT0ken42')):
                await notification_targets.add(owner, project_id, kind=kind, url=url)
            await _emit(project_id)
        finally:
            await database.close_orm()

    asyncio.run(emit())
    server = helpers.Server(helpers.app_env(
        database_url, tmp_path / 'data', TRAINBOARD_SCHEDULER_ENABLED='true', TRAINBOARD_DELIVERY_INTERVAL_S='0.2',
        TRAINBOARD_SECRET_KEY=SECRET_KEY, TRAINBOARD_WEBHOOK_PRIVATE_HOSTS='true', TRAINBOARD_LOG_LEVEL='INFO',
        TRAINBOARD_POLL_INTERVAL_S='60')).start()
    try:
        helpers.wait_until(lambda: len(receiver.received) == 2, timeout=15)
    finally:
        server.stop()
    assert sorted(got.path for got in receiver.received) == ['/in?token=qu3ryT0ken42', f'/services/{SLACK_SECRET}']
    log = server.log()
    assert ' INFO tortoise' in log  # the log is the server's, at INFO
    assert 's3cretSlackT0ken' not in log and 'qu3ryT0ken42' not in log


async def test_the_readme_s_check_verifies_a_delivery_and_refuses_a_forgery(orm: str, env,
                                                                           receiver: WebhookReceiver) -> None:
    readme = (helpers.ROOT / 'README.md').read_text()
    section = readme[readme.index('## Notifications out of the app'):]
    code = section[section.index('```python') + len('```python'):section.index('```\n', section.index('```python'))]
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 (our own README)
    verified = namespace['verified']

    owner, project_id = await _project()
    added = await notification_targets.add(owner, project_id, kind='webhook', url=receiver.url)
    await _emit(project_id)
    assert await outbox.deliver_due() == 1
    [got] = receiver.received
    headers = {'X-Trainboard-Timestamp': got.headers['x-trainboard-timestamp'],
               'X-Trainboard-Signature': got.headers['x-trainboard-signature']}
    assert verified(added.secret, headers, got.body)
    assert not verified(added.secret, headers, got.body.replace(b'50%', b'99%'))
    assert not verified('a guessed secret', headers, got.body)
