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
from pathlib import Path

import pytest

import settings
from models import Delivery, DeliveryStatus, Event, MemberRole, RunStatus
from services import auth, database, lifecycle, notification_targets, notifications, projects, runs
from services.background import outbox
from services.lifecycle import Cause
from services.notifications import Channels
from tests import helpers
from tests.receivers import Logins, Mailbox, WebhookReceiver, self_signed, smtp_server

S = RunStatus
SECRET_KEY = 'delivery tests server secret'


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
    assert message['Subject'] == '[Trainboard] "bert <script>x</script>" in vision <i>lab</i> failed: CUDA & OOM'
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
