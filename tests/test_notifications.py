"""Events and who hears of them: a run's end is stored once, copied to the bell of the people it concerns, as each
chose (or by their role), and sample data tells nobody."""

import pytest

from models import Delivery, Event, MemberRole, Notification, Role, RunStatus
from services import auth, lifecycle, notifications, projects, runs, sample_data
from services.lifecycle import Cause
from services.notifications import Channels

S = RunStatus


async def _team() -> tuple:
    owner = await auth.create_user('olga@example.com', 'a long password')
    editor = await auth.create_user('ed@example.com', 'a long password')
    viewer = await auth.create_user('vi@example.com', 'a long password')
    outsider = await auth.create_user('out@example.com', 'a long password')
    project = await projects.create_project(owner, name='vision')
    await projects.add_member(owner, project['id'], editor.email, MemberRole.EDITOR)
    await projects.add_member(owner, project['id'], viewer.email, MemberRole.VIEWER)
    return owner, editor, viewer, outsider, project


async def _run_by(user, project):
    data, _token = await runs.create_run(user, project['id'], name='bert')
    return await runs.get_run(user, data['id'])


async def test_a_failed_run_reaches_its_project_s_people_once(orm: str) -> None:
    owner, editor, viewer, outsider, project = await _team()
    run = await _run_by(editor, project)
    assert await lifecycle.move(run, S.RUNNING, cause=Cause.JOB)
    assert await lifecycle.move(run, S.FAILED, cause=Cause.JOB, reason='CUDA out of memory')

    event = await Event.get(kind='run.failed')
    assert event.run_id == run.id and event.project_id == project['id']
    assert event.message == '"bert" in vision failed: CUDA out of memory'
    told = {n.user_id for n in await Notification.filter(event_id=event.id)}
    assert told == {owner.id, editor.id, viewer.id}  # not the outsider
    assert await notifications.run_ended(run) is None  # stored once
    assert await Event.filter(kind='run.failed').count() == 1
    [mine] = await notifications.listed(viewer, unread=True)
    assert mine.run_id == run.id and await notifications.unread_count(outsider) == 0


async def test_email_goes_by_role_and_choice(orm: str, monkeypatch) -> None:
    import settings
    monkeypatch.setattr(settings, 'current', settings.Settings(smtp_host='127.0.0.1'))
    owner, editor, viewer, _outsider, project = await _team()
    await notifications.set_preferences(viewer, {'run.failed': Channels(in_app=False, email=False)})
    run = await _run_by(owner, project)
    await lifecycle.move(run, S.RUNNING, cause=Cause.JOB)
    await lifecycle.move(run, S.FAILED, cause=Cause.JOB, reason='boom')

    emailed = set(await Delivery.filter(channel='email').values_list('user_id', flat=True))
    assert emailed == {owner.id}  # owners hear of failures by email; members only in the app
    told = set(await Notification.all().values_list('user_id', flat=True))
    assert told == {owner.id, editor.id}  # the viewer opted out of everything for this kind


async def test_a_stop_by_a_limit_says_which(orm: str) -> None:
    owner, *_rest, project = await _team()
    run = await _run_by(owner, project)
    await lifecycle.move(run, S.RUNNING, cause=Cause.JOB)
    await lifecycle.move(run, S.STOPPING, cause=Cause.BUDGET, reason='Stopped by the project budget at $1.00.')
    await lifecycle.move(run, S.STOPPED, cause=Cause.PROVIDER)
    event = await Event.get(kind='run.stopped')
    assert event.details['cause'] == 'budget'
    assert event.message == '"bert" in vision stopped: Stopped by the project budget at $1.00.'


async def test_sample_data_and_cancels_tell_nobody(orm: str) -> None:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    await sample_data.load(admin)
    project = await projects.create_project(admin, name='mine')
    run = await _run_by(admin, project)
    await lifecycle.move(run, S.CANCELLED, cause=Cause.USER, by=admin)
    assert await Event.all().count() == 0


async def test_preferences_refuse_unknown_kinds_and_keep_the_rest(orm: str) -> None:
    from services.errors import Invalid
    owner, *_rest = await _team()
    with pytest.raises(Invalid, match='Unknown event kind: run.exploded'):
        await notifications.set_preferences(owner, {'run.exploded': Channels(True, True),
                                                    'run.failed': Channels(False, False)})
    prefs = {p.kind: p for p in await notifications.preferences(owner)}
    assert prefs['run.failed'].email and prefs['budget.threshold'].email  # an owner's defaults, unchanged


async def test_saving_the_choices_as_shown_changes_nothing_for_a_viewer(orm: str, monkeypatch) -> None:
    import settings
    monkeypatch.setattr(settings, 'current', settings.Settings(smtp_host='127.0.0.1'))
    owner, _editor, viewer, _outsider, project = await _team()
    shown = {p.kind: p for p in await notifications.preferences(viewer)}
    await _end(owner, project, 'bert')
    before = await Delivery.filter(user_id=viewer.id).count()
    # the settings page shows run.failed with "Email" ticked, though none comes; the viewer saves the page unchanged
    await notifications.set_preferences(viewer, {kind: Channels(in_app=p.in_app, email=p.email)
                                                 for kind, p in shown.items()})
    await _end(owner, project, 'gpt')
    after = await Delivery.filter(user_id=viewer.id).count() - before
    assert (before, after) == (0, 0), (f'shown: email={shown["run.failed"].email} for run.failed; emails before '
                                       f'saving: {before}, after saving the same choices: {after}')


async def _end(user, project, name: str) -> None:
    data, _token = await runs.create_run(user, project['id'], name=name)
    run = await runs.get_run(user, data['id'])
    assert await lifecycle.move(run, S.RUNNING, cause=Cause.JOB)
    assert await lifecycle.move(run, S.FAILED, cause=Cause.JOB, reason='CUDA out of memory')
