"""The project page's "Notifications out of the app" panel: owners add a webhook (its secret shown once) and a Slack
channel, see a refusal's reason, remove a target after confirming, and watch deliveries change live; other members
do not see the panel."""

from __future__ import annotations

import pytest
from nicegui.testing import User

import settings
from models import MemberRole
from models import User as UserModel
from services import auth, notification_targets, notifications, projects
from services.background import outbox
from tests.conftest import sign_in
from tests.helpers import ADMIN_EMAIL, eventually
from tests.receivers import WebhookReceiver


def _breakable(address: str) -> str:
    """An address as the panel shows it: it may wrap after each slash (a zero-width space), never mid-host."""
    return address.replace('/', '/\u200b')


@pytest.fixture
def private_hosts(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('TRAINBOARD_WEBHOOK_PRIVATE_HOSTS', 'true')
    settings.reload()


async def test_an_owner_adds_a_webhook_sees_its_secret_once_and_removes_it(admin: User, private_hosts: None) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Hooked')
    await admin.open(f'/projects/{project["id"]}')
    admin.find('Notifications out of the app').click()
    await admin.should_see('No Slack channel or webhook yet.')
    admin.find('Add webhook').click()
    await admin.should_see('Add a webhook')
    admin.find('URL (https://...)').type('ftp://example.com/x')
    admin.find(marker='add-target').click()
    await admin.should_see('The URL must start with https:// (or http://).')  # under the field: no "url:" prefix
    await admin.should_not_see('url: The URL')

    with WebhookReceiver() as receiver:
        admin.find('URL (https://...)').clear().type(f'{receiver.url}/hooks/trainboard-ops')
        admin.find('Label').type('ops pager')
        admin.find(marker='add-target').click()
        await admin.should_see('The signing secret is shown once')
        secret = next(iter(admin.find(marker='target-secret').elements)).value
        [stored] = await notification_targets.listed(owner, project['id'])
        assert len(secret) >= 40 and stored.label == 'ops pager'
        admin.find(marker='target-secret-done').click()
        await admin.should_not_see('The signing secret is shown once')
        await admin.should_see(_breakable(f'{receiver.url}/••••-ops'))
        await admin.should_not_see(secret)

        # a delivery shows in the table as it changes, with no reload
        await notifications.emit('budget.threshold', key='b50', message='Hooked used 50% of its budget.',
                                 project_id=project['id'])
        table = next(iter(admin.find(marker='deliveries').elements))
        await eventually(lambda: [r['status'] for r in table.rows] == ['pending'], tries=100)
        assert await outbox.deliver_due() == 1
        await eventually(lambda: [r['status'] for r in table.rows] == ['delivered'], tries=100)
        assert table.rows[0]['message'] == 'Hooked used 50% of its budget.' and len(receiver.received) == 1

    [hook] = await notification_targets.listed(owner, project['id'])
    switch = next(iter(admin.find(marker=f'target-switch-{hook.id}').elements))
    assert switch.text == 'On' and switch.props['aria-label'] == 'Deliver to ops pager'
    switch.set_value(False)
    await admin.should_see('"ops pager" is off: nothing goes to it until it is on again.')
    await eventually(lambda: next(iter(admin.find(marker=f'target-switch-{hook.id}').elements)).text == 'Off')
    assert not (await notification_targets.listed(owner, project['id']))[0].enabled

    admin.find(marker='remove-target').click()
    await admin.should_see('Remove the webhook target "ops pager"?')
    admin.find(marker='confirm').click()
    await admin.should_see('No Slack channel or webhook yet.')
    assert await notification_targets.listed(owner, project['id']) == []


async def test_a_slack_channel_is_added_without_a_secret(admin: User, private_hosts: None) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Chatty')
    await admin.open(f'/projects/{project["id"]}')
    admin.find('Notifications out of the app').click()
    admin.find('Add Slack').click()
    await admin.should_see('Add a Slack channel')
    admin.find('Slack incoming webhook URL').type('http://127.0.0.1:9/services/T00/B00/abcdefghijkl')
    admin.find(marker='add-target').click()
    await admin.should_see('Added "Slack"')
    await admin.should_see(_breakable('http://127.0.0.1:9/••••ijkl'))
    await admin.should_not_see('The signing secret is shown once')


async def test_editors_and_viewers_do_not_see_the_panel(admin: User, create_user) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Shared')
    await admin.open(f'/projects/{project["id"]}')
    await admin.should_see('Notifications out of the app')
    for email, role in (('ed@example.com', MemberRole.EDITOR), ('vi@example.com', MemberRole.VIEWER)):
        await auth.create_user(email, 'a long password')
        await projects.add_member(owner, project['id'], email, role)
        member = create_user()
        await sign_in(member, email, 'a long password')
        await member.open(f'/projects/{project["id"]}')
        await member.should_see('Members')
        await member.should_not_see('Notifications out of the app')


async def test_a_failing_delivery_says_when_it_is_tried_next(admin: User, private_hosts: None) -> None:
    import time
    from datetime import UTC, datetime

    from models import Delivery
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='Flaky')
    await notification_targets.add(owner, project['id'], kind='webhook', url='http://127.0.0.1:9/hooks/x',
                                   label='down')
    await notifications.emit('budget.threshold', key='f50', message='Flaky used 50%.', project_id=project['id'])
    [delivery] = await Delivery.all()
    at = time.time() + 600
    await Delivery.filter(id=delivery.id).update(attempts=2, last_error='connection refused', next_attempt_at=at)
    await notifications.emit('budget.threshold', key='f80', message='Flaky used 80%.', project_id=project['id'])
    await admin.open(f'/projects/{project["id"]}')
    admin.find('Notifications out of the app').click()
    table = next(iter(admin.find(marker='deliveries').elements))
    await eventually(lambda: len(table.rows) == 2)
    said = {row['message']: row['shown_status'] for row in table.rows}
    assert said == {'Flaky used 50%.': f'retrying (attempt 3, next at {datetime.fromtimestamp(at, UTC):%H:%M:%S} UTC)',
                    'Flaky used 80%.': 'pending'}  # not tried yet
    assert all(row['status'] == 'pending' for row in table.rows)  # the badge's colour
    # an address wraps after a slash only (a zero-width space), never inside its host
    [down] = await notification_targets.listed(owner, project['id'])
    to = table.rows[0]['to']
    assert to.replace('\u200b', '') == f'webhook: down ({down.url_hint})' and '127.0.0.1:9' in to
    assert all(part.endswith('/') for part in to.split('\u200b')[:-1])
    assert 'v-if="props.row.error"' in table.slots['item'].template  # a phone's card: no empty "Error"
