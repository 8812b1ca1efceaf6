"""The bell in every page's header, /notifications and the notification choices on /settings, as people use them
(NiceGUI's simulated user; tests/test_bell_browser.py has them in Chromium)."""

from nicegui import ElementFilter, ui
from nicegui.testing import User

import settings
from models import MemberRole, Notification, NotificationPreference, RunStatus
from models import User as UserModel
from services import auth, ingest, lifecycle, notifications, projects, runs
from services.background import outbox
from services.lifecycle import Cause
from services.notifications import Relation
from tests.conftest import sign_in
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, eventually
from tests.receivers import Mailbox, smtp_server


async def _end_run(user: UserModel, project_id: int, name: str, to: RunStatus = RunStatus.FAILED,
                   reason: str = 'CUDA out of memory') -> int:
    data, _token = await runs.create_run(user, project_id, name=name)
    run = await runs.get_run(user, data['id'])
    await lifecycle.move(run, RunStatus.RUNNING, cause=Cause.JOB)
    await lifecycle.move(run, to, cause=Cause.JOB, reason=reason)
    return run.id


def _badge(user: User) -> ui.badge:
    """The bell's count, hidden or not (`find` sees only what shows)."""
    with user:
        return next(iter(ElementFilter(kind=ui.badge, marker='bell-count')))


async def test_the_bell_counts_toasts_and_lists_what_reaches_its_user(admin: User, create_user) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    await auth.create_user('out@example.com', 'a long password')
    outsider = create_user()
    await sign_in(outsider, 'out@example.com', 'a long password')
    project = await projects.create_project(owner, name='vision')
    await admin.open(f'/projects/{project["id"]}')
    await eventually(lambda: not _badge(admin).visible)  # nothing yet: no badge

    run_id = await _end_run(owner, project['id'], '<b>bert</b>')
    await admin.should_see('"<b>bert</b>" in vision failed: CUDA out of memory')  # the toast, as text
    await eventually(lambda: _badge(admin).visible and _badge(admin).text == '1')
    await outsider.should_not_see('vision failed')  # not concerned: no toast, no count
    assert not _badge(outsider).visible

    admin.find(marker='bell').click()  # the menu: the message leads to its run, unread, with mark-all
    nid = (await Notification.get(run_id=run_id)).id
    await admin.should_see(marker=f'bell-item-{nid}')
    link = next(iter(admin.find(kind=ui.link, marker=f'open-{nid}').elements))
    assert link.props['href'] == f'/notifications/{nid}/open'  # read as it is followed, then the run
    await admin.should_see('just now')
    with admin:
        [when] = [label for label in ElementFilter(kind=ui.label, content='just now') if 'title' in label.props]
    assert when.props['title'].endswith(' UTC')  # the exact time, on hover
    admin.find(marker='bell-mark-all').click()
    await eventually(lambda: not _badge(admin).visible)
    assert await notifications.unread_count(owner) == 0
    admin.find(marker='bell').click()  # closed
    admin.find(marker='bell').click()  # open again: nothing unread, nothing to mark
    await admin.should_see(marker=f'bell-item-{nid}')
    await admin.should_not_see(marker='bell-mark-all')


async def test_following_a_notification_reads_it_and_goes_to_its_run(app_env: dict, user: User) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='vision')
    run_id = await _end_run(owner, project['id'], 'bert')
    [mine] = await Notification.filter(run_id=run_id)
    await sign_in(user, ADMIN_EMAIL, ADMIN_PASSWORD)
    await user.open('/notifications')
    link = next(iter(user.find(kind=ui.link, marker=f'open-{mine.id}').elements))
    assert link.props['href'] == f'/notifications/{mine.id}/open'
    await user.open(link.props['href'])  # what the click does
    await user.should_see('bert')
    assert user.back_history[-1] == f'/notifications/{mine.id}/open'
    assert (await Notification.get(id=mine.id)).read
    # someone else's id reads nothing of theirs and leads to the list
    stranger = await auth.create_user('x@example.com', 'a long password')
    assert await notifications.opened(stranger, mine.id) is None


def test_a_toast_leads_to_its_run_and_its_buttons_read_on_any_colour() -> None:
    from datetime import UTC, datetime

    from components.bell import toast_actions
    item = notifications.NotificationView(id=7, kind='run.failed', message='m', project_id=1, run_id=3, read=False,
                                          created_at=datetime.now(UTC))
    assert toast_actions(item) == [{'label': 'Open run', 'href': '/notifications/7/open', 'color': 'white',
                                    'noCaps': True}, {'label': 'Dismiss', 'color': 'white', 'noCaps': True}]
    nowhere = notifications.NotificationView(id=8, kind='credential.failing', message='m', project_id=None,
                                             run_id=None, read=False, created_at=datetime.now(UTC))
    assert [action['label'] for action in toast_actions(nowhere)] == ['Dismiss']
    money = notifications.NotificationView(id=9, kind='budget.threshold', message='m', project_id=1, run_id=None,
                                           read=False, created_at=datetime.now(UTC))  # amber, with dark text
    assert [(a['label'], a['color']) for a in toast_actions(money)] == [('Open project', 'dark'), ('Dismiss', 'dark')]


async def test_a_new_user_sees_one_empty_state(app_env: dict, user: User) -> None:
    await auth.create_user('new@example.com', 'a long password')
    await sign_in(user, 'new@example.com', 'a long password')
    await user.open('/notifications')
    await user.should_see(marker='notifications-empty')
    await user.should_see('No notifications yet.')
    for absent in ('All read.', 'Mark all read', 'Older', 'Newer', 'Unread only'):
        await user.should_not_see(absent)


async def test_only_news_is_toasted_and_one_is_marked_read_alone(app_env: dict, user: User) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='vision')
    first = await _end_run(owner, project['id'], 'before-the-tab')  # before any tab opened: counted, not toasted
    await sign_in(user, ADMIN_EMAIL, ADMIN_PASSWORD)
    admin = user
    await eventually(lambda: _badge(admin).text == '1')
    await admin.should_not_see('"before-the-tab" in vision failed')
    second = await _end_run(owner, project['id'], 'after', to=RunStatus.SUCCEEDED)
    await admin.should_see('"after" in vision succeeded.')
    await eventually(lambda: _badge(admin).text == '2')

    admin.find(marker='bell').click()
    [mine] = await Notification.filter(run_id=second)
    admin.find(marker=f'bell-read-{mine.id}').click()  # that one only
    await eventually(lambda: _badge(admin).text == '1')
    assert [n.run_id for n in await Notification.filter(user_id=owner.id, read=False)] == [first]


async def test_the_notifications_page_pages_filters_and_marks_read(app_env: dict, user: User) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='vision')
    for i in range(30):  # before the tab opens: no toasts to confuse what the page shows
        await notifications.emit('budget.threshold', key=f'test:{i}', message=f'note number {i:02d}',
                                 project_id=project['id'])
    await sign_in(user, ADMIN_EMAIL, ADMIN_PASSWORD)
    admin = user
    await admin.open('/notifications')
    await admin.should_see('30 unread')
    await admin.should_see('note number 29')
    await admin.should_not_see('note number 04')  # 25 a page, newest first
    admin.find('Older').click()
    await admin.should_see('note number 04')
    await admin.should_not_see('note number 29')
    admin.find('Newer').click()
    await admin.should_see('note number 29')

    newest = await Notification.filter(user_id=owner.id).order_by('-id').first()
    assert newest is not None
    admin.find(marker=f'mark-read-{newest.id}').click()
    await admin.should_see('29 unread')
    admin.find('Unread only').click()
    await admin.should_not_see('note number 29')
    await admin.should_see('note number 28')
    admin.find(kind=ui.button, content='Mark all read').click()
    await admin.should_see('Marked 29 read.')
    await admin.should_see('No unread notifications.')
    await eventually(lambda: not _badge(admin).visible)


async def test_settings_show_the_choices_and_save_them(admin: User, monkeypatch) -> None:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    await admin.open('/settings')
    await admin.should_see('Notifications')
    await admin.should_see('Email is not set up on this server')
    failed_email = next(iter(admin.find(marker='email-run.failed').elements))
    assert failed_email.value is True  # an admin's default: failures by email
    succeeded_in_app = next(iter(admin.find(marker='in-app-run.succeeded').elements))
    assert succeeded_in_app.value is True
    failed_email.set_value(False)
    succeeded_in_app.set_value(False)
    admin.find(kind=ui.button, content='Save notification choices').click()
    await admin.should_see('Notification choices saved.')
    chosen = {p.kind: p for p in await NotificationPreference.filter(user_id=owner.id)}
    assert chosen['run.failed'].email is False and chosen['run.failed'].in_app is None  # untouched: the default
    assert chosen['run.succeeded'].in_app is False and chosen['run.succeeded'].email is None
    assert set(chosen) == {'run.failed', 'run.succeeded'}  # only what changed is stored

    import settings
    monkeypatch.setenv('TRAINBOARD_SMTP_HOST', '127.0.0.1')
    settings.reload()
    await admin.open('/settings')
    await admin.should_see(f'Email is set up on this server: it goes to {ADMIN_EMAIL}.')
    assert next(iter(admin.find(marker='email-run.failed').elements)).value is False  # the choice, not the default


async def test_a_run_that_reports_its_own_end_rings_the_bell(admin: User) -> None:
    """The report path moves the run inside its own transaction and publishes itself: it must announce the event too."""
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='vision')
    data, _token = await runs.create_run(owner, project['id'], name='self-reporting')
    await admin.open(f'/runs/{data["id"]}')
    await ingest.report(await runs.get_run(owner, data['id']), {'status': {'state': 'succeeded'}})
    await admin.should_see('"self-reporting" in vision succeeded.')
    await eventually(lambda: _badge(admin).text == '1')


def _box(user: User, marker: str) -> ui.checkbox:
    with user:
        return next(iter(ElementFilter(kind=ui.checkbox, marker=marker)))


async def test_a_viewer_sees_what_applies_and_saving_unchanged_sends_no_email_of_others_runs(
        app_env: dict, user: User, monkeypatch) -> None:
    """A viewer hears of runs in the app only: the page says so, and saving it as shown changes nothing."""
    mailbox = Mailbox()
    server = smtp_server(mailbox)
    server.start()
    try:
        for name, value in {'SMTP_HOST': '127.0.0.1', 'SMTP_PORT': str(server.port), 'SMTP_TLS': 'none'}.items():
            monkeypatch.setenv(f'TRAINBOARD_{name}', value)
        settings.reload()
        owner, project, viewer = await _member_on_settings(user, 'vic@example.com', MemberRole.VIEWER)
        for kind in notifications.KINDS:  # shown as delivery will apply them: a member's defaults
            applied = notifications.applied(kind, Relation.MEMBER, None)
            assert (_box(user, f'in-app-{kind}').value, _box(user, f'email-{kind}').value) == \
                (applied.in_app, applied.email), kind
        user.find(kind=ui.button, content='Save notification choices').click()
        await user.should_see('Nothing changed.')
        assert not await NotificationPreference.filter(user_id=viewer.id).exists()

        await _end_run(owner, project['id'], 'bert')  # the owner's run fails: the owner hears by email, not the viewer
        await outbox.deliver_due()
        await eventually(lambda: mailbox.envelopes)
    finally:
        server.stop()
    assert [envelope.rcpt_tos for envelope in mailbox.envelopes] == [[ADMIN_EMAIL]]


async def test_an_editor_sees_a_default_that_depends_on_the_run_and_keeps_it_when_changing_the_other_box(
        app_env: dict, user: User) -> None:
    _owner, _project, editor = await _member_on_settings(user, 'ed@example.com', MemberRole.EDITOR)
    assert _box(user, 'email-run.succeeded').value is None  # half-checked: it depends on whose run it is
    assert _box(user, 'email-budget.threshold').value is False
    await user.should_see('Email by default for runs you launch only.')
    assert _box(user, 'email-run.failed').props['aria-label'] == 'Email when a run failed'
    assert _box(user, 'in-app-run.failed').props['aria-label'] == 'Show in the app when a run failed'

    _box(user, 'in-app-run.succeeded').set_value(False)
    user.find(kind=ui.button, content='Save notification choices').click()
    await user.should_see('Notification choices saved.')
    [chosen] = await NotificationPreference.filter(user_id=editor.id)
    assert (chosen.kind, chosen.in_app, chosen.email) == ('run.succeeded', False, None)
    assert notifications.applied('run.succeeded', Relation.LAUNCHER, chosen).email  # their own runs: still by email
    assert not notifications.applied('run.succeeded', Relation.MEMBER, chosen).email

    user.find(kind=ui.button, content='Back to the defaults').click()
    await user.should_see('Back to the defaults.')
    assert not await NotificationPreference.filter(user_id=editor.id).exists()


async def _member_on_settings(user: User, email: str, role: MemberRole) -> tuple[UserModel, dict, UserModel]:
    """The admin's project 'vision' with a member of `role`, signed in on their /settings: (owner, project, member)."""
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name='vision')
    member = await auth.create_user(email, 'a long password')
    await projects.add_member(owner, project['id'], member.email, role)
    await sign_in(user, member.email, 'a long password')
    await user.open('/settings')
    await user.should_see('Save notification choices')
    return owner, project, member
